"""The home screen: plans, recent runs (resume the unfinished), target sites, the mode.

Sites are checked in a worker thread (a TCP connect to each site's database), never blocking
the screen.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static

from drconsole.engine.modes import Mode
from drconsole.timeutil import format_duration, format_timestamp

if TYPE_CHECKING:
    from drconsole.engine.rundir import RunSummary
    from drconsole.plans.validate import LoadResult

MODES = [Mode.DRILL, Mode.DRY_RUN, Mode.REAL]


class HomeScreen(Screen[None]):
    BINDINGS = [
        Binding("enter", "open", "Run / resume", show=True),
        Binding("m", "mode", "Mode"),
        Binding("tab", "app.focus_next", "Next list", show=False),
        Binding("g", "refresh", "Refresh"),
        Binding("question_mark", "app.help", "Help"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.plans: dict[str, LoadResult] = {}
        self.runs: dict[str, RunSummary] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="home-title")
        with Vertical(id="home-body"):
            yield Label("Plans (Enter: run in the mode shown above)", classes="section")
            yield DataTable(id="plans", cursor_type="row")
            yield Label("Recent runs (Enter: view; resume the unfinished)", classes="section")
            yield DataTable(id="runs", cursor_type="row")
            yield Label("Target sites", classes="section")
            yield Static(id="sites")
        yield Footer()

    def on_mount(self) -> None:
        plans = self.query_one("#plans", DataTable)
        for key, label, width in (
            ("plan", "plan", 24),
            ("kind", "kind (offline?)", 17),
            ("obj", "RTO/RPO", 13),
            ("last", "last run", 15),
        ):
            plans.add_column(label, key=key, width=width)
        runs = self.query_one("#runs", DataTable)
        for key, label, width in (
            ("started", "started (UTC)", 17),
            ("plan", "plan", 24),
            ("mode", "mode", 8),
            ("result", "result", 22),
        ):
            runs.add_column(label, key=key, width=width)
        self.refresh_all()

    @property
    def mode(self) -> Mode:
        return self.app.mode  # type: ignore[attr-defined, no-any-return]

    def refresh_all(self) -> None:
        self._title()
        self.query_one("#sites", Static).update("reading the targets file…")
        self._load_lists()
        self._check_sites()

    def _title(self) -> None:
        app: Any = self.app
        mode = {
            Mode.DRILL: "DRILL (practice targets only)",
            Mode.DRY_RUN: "DRY-RUN (calls nothing)",
            Mode.REAL: "REAL: ACTS ON PRODUCTION",
        }[self.mode]
        title = self.query_one("#home-title", Static)
        title.update(
            f"drconsole │ MODE: {mode} │ m: change │ operator {app.operator_name}"
            f"\ntargets: {app.targets_path or 'none (pass --targets FILE)'}"
        )
        title.set_classes(f"mode-{self.mode.value}")

    @work(thread=True, exclusive=True, group="lists", exit_on_error=False)
    def _load_lists(self) -> None:
        """Plans are validated and past runs replayed in a thread: the screen draws first."""
        from drconsole.engine import rundir
        from drconsole.plans.validate import load_plan

        app: Any = self.app
        runs = rundir.list_runs(app.runs_dir)[:50]
        plans = [
            (path, load_plan(path))
            for directory in app.plan_dirs
            for path in sorted(Path(directory).glob("*.yaml"))
        ]
        app.call_from_thread(self._fill, plans, runs)

    def _fill(self, plans: list[tuple[Path, LoadResult]], runs: list[RunSummary]) -> None:
        from drconsole.plans.validate import offline_capable  # after the first paint

        run_table = self.query_one("#runs", DataTable)
        run_table.clear()
        self.runs.clear()
        last: dict[str, str] = {}
        for summary in runs:
            state = summary.state
            key = str(summary.path)
            self.runs[key] = summary
            outcome = state.result.value if state.result else "UNFINISHED: resume"
            last.setdefault(state.plan.get("id", ""), outcome)
            run_table.add_row(
                format_timestamp(state.started_at)[:16].replace("T", " "),
                state.plan.get("id", "?"),
                state.mode,
                outcome,
                key=key,
            )
        plan_table = self.query_one("#plans", DataTable)
        plan_table.clear()
        self.plans.clear()
        for path, result in plans:
            key = str(path)
            self.plans[key] = result
            if result.plan is None:
                plan_table.add_row(
                    path.name, "INVALID", "", f"{len(result.problems)} problems", key=key
                )
                continue
            o = result.plan.objectives
            plan_table.add_row(
                result.plan.id,
                result.plan.kind.value + (", offline" if offline_capable(result.plan) else ""),
                f"{format_duration(o.rto)}/{format_duration(o.rpo)}",
                last.get(result.plan.id, "never"),
                key=key,
            )

    @work(thread=True, exclusive=True, group="sites", exit_on_error=False)
    def _check_sites(self) -> None:
        """Reads the targets file and tries each site's database, in a thread."""
        from drconsole.targets import TargetsError, load_targets

        app: Any = self.app
        show = self.query_one("#sites", Static).update
        if app.targets_path is None:
            app.call_from_thread(show, "no targets file: plans that act on a site cannot run")
            return
        try:
            targets = load_targets(app.targets_path)
        except TargetsError as exc:
            app.call_from_thread(show, f"TARGETS FILE PROBLEM: {exc}")
            return
        lines = []
        for name, site in targets.sites.items():
            pg = site.as_dict().get("postgres") or {}
            kind = "drill" if site.drill else "REAL"
            if not pg:
                lines.append(f"{name:<10} ({kind}) no database listed")
                continue
            where = f"{pg.get('host', '127.0.0.1')}:{pg.get('port', 5432)}"
            try:
                with socket.create_connection(
                    (pg.get("host", "127.0.0.1"), int(pg.get("port", 5432))), timeout=2
                ):
                    answer = "answers"
            except OSError:
                answer = "DOES NOT ANSWER"
            lines.append(f"{name:<10} ({kind}) postgres {where}: {answer}")
        app.call_from_thread(show, "\n".join(lines))

    # ------------------------------------------------------------------ actions
    def action_mode(self) -> None:
        app: Any = self.app
        app.mode = MODES[(MODES.index(self.mode) + 1) % len(MODES)]
        self._title()
        if app.mode is Mode.REAL:
            self.notify(
                "REAL mode: destructive steps act on production after typed confirmation.",
                severity="warning",
                timeout=8,
            )

    def action_refresh(self) -> None:
        self.refresh_all()

    def action_open(self) -> None:
        focused = self.focused
        if isinstance(focused, DataTable) and focused.id == "runs":
            self._open_run(focused)
        else:
            self._open_plan(self.query_one("#plans", DataTable))

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def _open_plan(self, table: DataTable[Any]) -> None:
        if table.row_count == 0:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        result = self.plans.get(str(key))
        if result is None or result.plan is None:
            problems = "; ".join(str(p) for p in (result.problems if result else [])[:3])
            self.notify(f"This plan is not valid: {problems}", severity="error", timeout=10)
            return
        app: Any = self.app
        app.start_plan(Path(str(key)), result)

    def _open_run(self, table: DataTable[Any]) -> None:
        if table.row_count == 0:
            return
        key = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        summary = self.runs[key]
        app: Any = self.app
        if summary.state.finished:
            from drconsole.tui.report_screen import ReportScreen

            app.push_screen(ReportScreen(summary.path))
        else:
            app.resume_run(summary.path)
