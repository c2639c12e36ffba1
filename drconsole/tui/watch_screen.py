"""Watching a run driven elsewhere: the run screen, read-only, fed by the journal.

:class:`WatchScreen` draws what the driver's run screen draws (steps, clocks, the log) from the
run's journal as it grows (``runs/follow.py``), plus who drives the run and from where, the
question it waits for and whom it asks, and plainly when the driver has stopped or the run has
finished. It never asks, answers, writes or takes the run's lock, so any number of watchers
may follow one run, and one that starts late replays the whole run so far. :class:`WatchApp`
is ``drconsole watch`` and what ``drconsole serve`` shows in a browser: a list of runs
(:class:`RunsScreen`) and watch screens, nothing that drives a run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import get_current_worker

from drconsole.journal.journal import Event
from drconsole.plans.model import Plan
from drconsole.runs.follow import Driver, Follower, driver
from drconsole.runs.rundir import PLAN_COPY, list_runs
from drconsole.runs.state import RunState, apply
from drconsole.timeutil import format_timestamp
from drconsole.tui.marked_table import MarkedTable
from drconsole.tui.run_screen import RunView

CHECK_S = 1.0  # the longest a watcher waits before it looks at the journal and driver again
NICE = 10  # a watcher process yields the processor to drivers (and everything else)


class WatchError(Exception):
    """The run cannot be watched; the message says why."""


def load_run_plan(run_dir: Path) -> Plan:
    """The plan a run ran (its copy in the run directory).

    Raises:
        WatchError: it is missing or does not load.
    """
    from drconsole.plans.validate import load_plan

    result = load_plan(Path(run_dir) / PLAN_COPY)
    if result.plan is None:
        problems = "; ".join(str(p) for p in result.problems[:3])
        raise WatchError(f"{run_dir} has no readable copy of its plan ({problems})")
    return result.plan


class WatchScreen(RunView, inherit_bindings=False):
    """One run, followed read-only from its journal."""

    BINDINGS = [
        Binding("f", "follow", "Follow the running step"),
        Binding("escape", "leave", "Back"),
    ]
    DEFAULT_CSS = """
    #watch-status { height: auto; max-height: 4; padding: 0 1; background: $panel;
                    text-style: bold; }
    """

    def __init__(self, run_dir: Path, *, poll: bool = False) -> None:
        super().__init__(load_run_plan(run_dir), Path(run_dir))
        self.follower = Follower(self.run_dir, poll=poll)
        self._state = RunState()
        self._backlog = self.follower.read()  # the whole run so far, drawn on mount
        for event in self._backlog:
            apply(self._state, event)
        self.driver = driver(self.run_dir)
        self.interrupted: str | None = None  # why the driver last stopped, when it said

    @property
    def run_state(self) -> RunState:
        return self._state

    def who(self) -> str:
        return "WATCHING (read-only)"

    def compose(self) -> ComposeResult:
        yield Static(id="watch-status")
        yield from super().compose()

    def start(self) -> None:
        backlog, self._backlog = self._backlog, []
        self._feed(backlog, self.driver, applied=True)
        self._follow()

    def on_unmount(self) -> None:
        self.workers.cancel_group(self, "follow")

    @work(thread=True, exclusive=True, group="follow", exit_on_error=False)
    def _follow(self) -> None:
        """Wait for the journal to grow (or the driver to go), then show what changed."""
        worker = get_current_worker()
        try:
            while not worker.is_cancelled:
                self.follower.wait(CHECK_S)
                events, now = self.follower.read(), driver(self.run_dir)
                if (events or now != self.driver) and not worker.is_cancelled:
                    self.app.call_from_thread(self._feed, events, now)
        finally:
            self.follower.close()

    def _feed(self, events: list[Event], now: Driver, applied: bool = False) -> None:
        for event in events:
            if not applied:
                apply(self._state, event)
            if event.type == "run_interrupted":
                self.interrupted = str(event.data.get("reason"))
            elif event.type == "run_resumed":
                self.interrupted = None
            self.event(event, self._state)
        self.driver = now
        self.finished, self.result = self._state.finished, self._state.result
        self._status()
        if self.finished:
            self._title()
            self._show_detail()

    def _status(self) -> None:
        """Who drives and from where, whether they still do, and the question waiting."""
        state, now = self._state, self.driver
        holder = now.holder.describe() if now.holder else "an unknown process"
        if state.finished:
            assert state.result is not None
            lines = [f"The run has FINISHED: {state.result.value.upper()} ({state.result_reason})"]
        elif now.driving:
            lines = [f"Driven by {holder}."]
        else:
            why = (
                f"the run was interrupted: {self.interrupted}"
                if self.interrupted
                else "it ended without a word (killed, or its machine stopped)"
            )
            lines = [  # what to do first: at 80x24 this panel shows its first lines only
                f"The driver has STOPPED. Resume it: drconsole resume {self.run_dir}",
                f"It was driven by {holder}; {why}.",
            ]
        asking = state.asking
        if asking is not None and now.driving and not state.finished:
            lines.append(
                f"WAITING for {asking['who']}: {asking['step']}: {asking['question']} "
                f"(asked at {asking['at'][11:19]} UTC; answered at the driver's console, "
                "not here)"
            )
        self.query_one("#watch-status", Static).update("\n".join(lines))


class RunsScreen(Screen[None]):
    """Every run in a runs directory; Enter watches one (running ones first)."""

    BINDINGS = [
        Binding("enter", "open", "Watch"),
        Binding("g", "refresh", "Refresh"),
        Binding("q", "app.quit", "Quit"),
    ]
    COLUMNS: ClassVar[list[tuple[str, str, int]]] = [
        ("started", "started (UTC)", 16),
        ("plan", "plan", 26),
        ("mode", "mode", 8),
        ("now", "now", 24),
    ]

    def __init__(self, runs_dir: Path, *, poll: bool = False) -> None:
        super().__init__()
        self.runs_dir = runs_dir
        self.poll = poll

    def compose(self) -> ComposeResult:
        yield Static(
            f"drconsole │ WATCHING runs in {self.runs_dir} (read-only: nothing here drives a run)",
            id="home-title",
        )
        yield MarkedTable(id="runs", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#runs", DataTable)
        for key, label, width in self.COLUMNS:
            table.add_column(label, key=key, width=width)
        self.action_refresh()
        self.set_interval(3.0, self.action_refresh)

    @work(thread=True, exclusive=True, group="runs", exit_on_error=False)
    def action_refresh(self) -> None:
        rows = []
        for summary in list_runs(self.runs_dir)[:50]:
            state = summary.state
            now = driver(summary.path)
            if state.result is not None:
                status = state.result.value
            elif now.driving:
                status = "RUNNING: " + (now.holder.operator if now.holder else "?")
            else:
                status = "stopped (resumable)"
            started = format_timestamp(state.started_at)[:16].replace("T", " ")
            row = (started, state.plan.get("id", "?"), state.mode, status)
            rows.append((now.driving and state.result is None, str(summary.path), row))
        rows.sort(key=lambda r: not r[0])  # running first, then newest first
        self.app.call_from_thread(self._fill, [(key, row) for _, key, row in rows])

    def _fill(self, rows: list[tuple[str, tuple[str, ...]]]) -> None:
        table = self.query_one("#runs", DataTable)
        keep = table.cursor_row
        table.clear()
        for key, row in rows:
            table.add_row(*row, key=key)
        if rows:
            table.move_cursor(row=min(keep, len(rows) - 1))

    def action_open(self) -> None:
        table = self.query_one("#runs", DataTable)
        if table.row_count == 0:
            self.notify(f"No runs in {self.runs_dir} yet.")
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        open_watch(self.app, Path(str(key)), poll=self.poll)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()


def open_watch(app: App[Any], run_dir: Path, *, poll: bool = False) -> None:
    """Push a watch screen for ``run_dir`` (or say why it cannot be watched)."""
    try:
        app.push_screen(WatchScreen(run_dir, poll=poll))
    except (WatchError, OSError) as exc:
        app.notify(str(exc), title="Cannot watch", severity="error", timeout=15)


class WatchApp(App[None]):
    """``drconsole watch``: runs and their watch screens, read-only."""

    CSS_PATH = "app.tcss"
    TITLE = "drconsole watch"
    ENABLE_COMMAND_PALETTE = False  # its commands include saving screenshots as files

    def __init__(self, runs_dir: Path, run_dir: Path | None = None, *, poll: bool = False):
        super().__init__()
        self.runs_dir = runs_dir
        self.run_dir = run_dir
        self.poll = poll

    def on_mount(self) -> None:
        self.push_screen(RunsScreen(self.runs_dir, poll=self.poll))
        if self.run_dir is not None:
            open_watch(self, self.run_dir, poll=self.poll)


def watch(
    runs_dir: Path, run_dir: Path | None, *, poll: bool = False, headless: bool = False
) -> None:
    """``drconsole watch`` (and each browser tab of ``drconsole serve``): the process lowers
    its priority first, so that watchers on the driver's machine slow the driver as little as
    can be (tests/bench/watchers.py measures it)."""
    os.nice(NICE)
    WatchApp(runs_dir, run_dir, poll=poll).run(headless=headless)
