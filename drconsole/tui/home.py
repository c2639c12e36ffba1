"""The home screen: plans, recent runs (resume the unfinished), target sites, the mode.

Sites are checked in a worker thread (a TCP connect to each site's database), never blocking
the screen: when the screen opens or comes back, and every ``SITES_EVERY_S`` seconds.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static

from drconsole.engine.modes import Mode
from drconsole.timeutil import format_duration, format_timestamp
from drconsole.tui.labels import MODE_LABELS
from drconsole.tui.marked_table import MarkedTable

if TYPE_CHECKING:
    from drconsole.plans.validate import LoadResult
    from drconsole.runs.rundir import RunSummary

MODES = [Mode.DRILL, Mode.DRY_RUN, Mode.REAL]
SITES_EVERY_S = 10.0


class HomeScreen(Screen[None]):
    BINDINGS = [
        Binding("enter", "open", "Run / resume", show=True),
        Binding("m", "mode", "Mode"),
        Binding("tab", "app.focus_next", "Next list", show=False),
        Binding("g", "refresh", "Refresh"),
        Binding("h", "history", "History"),
        Binding("x", "facilitate", "Facilitate"),
        Binding("question_mark", "app.help", "Help"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.plans: dict[str, LoadResult] = {}
        self.runs: dict[str, RunSummary] = {}

    SECTIONS: ClassVar[dict[str, str]] = {
        "plans": "Plans (Enter: run in the mode shown above)",
        "runs": "Recent runs (Enter: view; resume the unfinished)",
    }

    def compose(self) -> ComposeResult:
        yield Static(id="home-title")
        with Vertical(id="home-body"):
            yield Label(self.SECTIONS["plans"], id="label-plans", classes="section")
            yield MarkedTable(id="plans", cursor_type="row")
            yield Label(self.SECTIONS["runs"], id="label-runs", classes="section")
            yield MarkedTable(id="runs", cursor_type="row")
            yield Static(id="sites")
        yield Footer()

    def on_descendant_focus(self) -> None:
        self._mark_focus()

    def on_descendant_blur(self) -> None:
        self._mark_focus()

    def _mark_focus(self) -> None:
        """The focused list's title starts with ">": focus is visible without colour."""
        for name, text in self.SECTIONS.items():
            focused = self.focused is not None and self.focused.id == name
            self.query_one(f"#label-{name}", Label).update(("> " if focused else "  ") + text)

    def on_mount(self) -> None:
        plans = self.query_one("#plans", DataTable)
        for key, label, width in (
            ("plan", "plan", 26),
            ("kind", "kind (offline?)", 17),
            ("obj", "RTO/RPO", 13),
            ("last", "last run", 10),
        ):
            plans.add_column(label, key=key, width=width)
        runs = self.query_one("#runs", DataTable)
        for key, label, width in (
            ("started", "started (UTC)", 16),
            ("plan", "plan", 26),
            ("mode", "mode", 8),
            ("result", "result", 14),
        ):
            runs.add_column(label, key=key, width=width)
        self.refresh_all()
        self._mark_focus()
        self._runs_seen = self._runs_signature()
        self.set_interval(3.0, self._watch_runs)
        # a site that goes down (or comes back) while the console is open shows by itself
        self.set_interval(SITES_EVERY_S, self._sites_again)

    def on_screen_resume(self) -> None:
        """Back from a run or a report: the sites may have changed meanwhile."""
        self._sites_again()

    def _sites_again(self) -> None:
        """Check the sites again, only while this screen is shown (not under a run's screen)."""
        if self.is_current:
            self._check_sites()

    def _runs_signature(self) -> tuple[tuple[str, int], ...]:
        """Which runs exist and how long their journals are: changes when a run moves."""
        app: Any = self.app
        try:
            journals = sorted(Path(app.runs_dir).glob("*/journal.jsonl"))
            return tuple((str(j), j.stat().st_size) for j in journals)
        except OSError:
            return ()

    def _watch_runs(self) -> None:
        """Runs started or finished elsewhere (another terminal, a timer) appear by themselves."""
        seen = self._runs_signature()
        if seen != self._runs_seen:
            self._runs_seen = seen
            self._load_lists()

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
        mode = MODE_LABELS[self.mode]
        title = self.query_one("#home-title", Static)
        title.update(
            f"drconsole │ MODE: {mode} │ m: change │ operator {app.operator_name}"
            f"\ntargets: {app.targets_path or 'none (pass --targets FILE)'}"
        )
        title.set_classes(f"mode-{self.mode.value}")

    @work(thread=True, exclusive=True, group="lists", exit_on_error=False)
    def _load_lists(self) -> None:
        """Plans are validated and past runs replayed in a thread: the screen draws first."""
        from drconsole.plans.validate import load_plan
        from drconsole.runs import rundir
        from drconsole.runs.follow import driver

        app: Any = self.app
        runs = rundir.list_runs(app.runs_dir)[:50]
        driven = {r.path for r in runs if not r.state.finished and driver(r.path).driving}
        plans = [
            (path, load_plan(path))
            for directory in app.plan_dirs
            for path in sorted(Path(directory).glob("*.yaml"))
        ]
        app.call_from_thread(self._fill, plans, runs, driven)

    def _fill(
        self, plans: list[tuple[Path, LoadResult]], runs: list[RunSummary], driven: set[Path]
    ) -> None:
        from drconsole.plans.validate import offline_capable  # after the first paint

        run_table = self.query_one("#runs", DataTable)
        plan_table = self.query_one("#plans", DataTable)
        keep = {t.id: _cursor_key(t) for t in (run_table, plan_table)}
        run_table.clear()
        self.runs.clear()
        last: dict[str, str] = {}
        for summary in runs:
            state = summary.state
            key = str(summary.path)
            self.runs[key] = summary
            outcome = state.result.value if state.result else "unfinished"
            outcome = "running" if summary.path in driven else outcome
            if summary.problem is not None and not summary.repairable:
                # what an edited or unreadable journal says is not to be trusted: said so
                outcome = "JOURNAL BAD" if state.run_id else "UNREADABLE"
            last.setdefault(state.plan.get("id", ""), outcome)
            run_table.add_row(
                format_timestamp(state.started_at)[:16].replace("T", " "),
                state.plan.get("id", "?"),
                state.mode,
                outcome,
                key=key,
            )
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
        for table in (run_table, plan_table):
            _restore_cursor(table, keep[table.id])

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
        parts = []
        for name, site in targets.sites.items():
            pg = site.as_dict().get("postgres") or {}
            kind = "drill" if site.drill else "REAL"
            if not pg:
                parts.append(f"{name} ({kind})")
                continue
            try:
                with socket.create_connection(
                    (pg.get("host", "127.0.0.1"), int(pg.get("port", 5432))), timeout=2
                ):
                    answer = "db answers"
            except OSError:
                answer = "db DOWN"
            parts.append(f"{name} ({kind}, {answer})")
        app.call_from_thread(show, "Sites: " + " · ".join(parts))

    # ------------------------------------------------------------------ actions
    def action_mode(self) -> None:
        """DRILL -> DRY-RUN -> REAL -> DRILL. REAL is never one stray keypress away: it asks."""
        app: Any = self.app
        following = MODES[(MODES.index(self.mode) + 1) % len(MODES)]
        if following is not Mode.REAL:
            app.mode = following
            self._title()
            return
        from drconsole.tui.modals import ChoiceModal

        text = (
            "In REAL mode destructive steps act on production systems, each after its target's "
            "name is typed."
        )
        drill_only = self._drill_only_targets()
        if drill_only:
            text += (
                f"\n\nWARNING: every site in the targets file is a drill site ({drill_only}). "
                "A real recovery needs the production targets file (--targets FILE)."
            )

        def chosen(answer: Any) -> None:
            if answer is not None and answer[0] == "real":
                app.mode = Mode.REAL
                self._title()
            else:
                app.mode = Mode.DRILL
                self._title()
                self.notify("Stayed out of REAL mode: back to DRILL.", timeout=5)

        app.push_screen(
            ChoiceModal(
                None,
                "Switch to REAL mode?",
                text,
                # the safe answer first; nothing has the focus, so a stray Enter chooses nothing
                [("drill", "d", "No, back to DRILL"), ("real", "r", "Yes, REAL mode")],
            ),
            chosen,
        )

    def _drill_only_targets(self) -> str:
        """The sites' names when every site is marked as a drill site, else ''."""
        from drconsole.targets import TargetsError, load_targets

        app: Any = self.app
        if app.targets_path is None:
            return ""
        try:
            sites = load_targets(app.targets_path).sites
        except TargetsError:
            return ""
        if sites and all(site.drill for site in sites.values()):
            return ", ".join(sites)
        return ""

    def action_refresh(self) -> None:
        self.refresh_all()

    def action_history(self) -> None:
        from drconsole.tui.history_screen import HistoryScreen

        self.app.push_screen(HistoryScreen())

    def action_facilitate(self) -> None:
        """The facilitator's seat for the running run under the cursor in Recent runs."""
        key = _cursor_key(self.query_one("#runs", DataTable))
        if key is None or self.runs[key].state.finished:
            self.notify("Pick a running run in Recent runs to facilitate.", timeout=8)
            return
        from drconsole.tui.facilitate_screen import open_facilitate

        open_facilitate(self.app, self.runs[key].path)

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
        from drconsole.runs.follow import driver

        if summary.state.finished:
            from drconsole.tui.report_screen import ReportScreen

            app.push_screen(ReportScreen(summary.path))
        elif driver(summary.path).driving:  # driven elsewhere: watch it, read-only
            from drconsole.tui.watch_screen import open_watch

            open_watch(app, summary.path)
        else:
            app.resume_run(summary.path)


def _cursor_key(table: DataTable[Any]) -> str | None:
    if table.row_count == 0:
        return None
    return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)


def _restore_cursor(table: DataTable[Any], key: str | None) -> None:
    """Put the cursor back on the row it was on before a refresh (when that row still exists)."""
    if key is None:
        return
    try:
        table.move_cursor(row=table.get_row_index(key))
    except Exception:  # the row is gone: the cursor stays at the top
        return
