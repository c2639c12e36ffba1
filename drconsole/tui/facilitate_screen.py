"""The drill facilitator's seat (``drconsole facilitate RUN_DIR``): the run watched read-only
(:class:`WatchScreen`) with, in place of the step detail, a panel of the faults to inject into
the run's sandbox, one key each (1-9; an inject asks to confirm first, so no stray keypress
injects; a key on an injected fault heals it), and for each injection its clocks: time since
it, time to the moment the run noticed it and to its recovery (``report/injections.py``). The
journal pane interleaves the injections, heals and noticings with the run's events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import work
from textual.app import App, ComposeResult
from textual.await_complete import AwaitComplete
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, RichLog, Static

from drconsole import faultlog
from drconsole.journal.journal import Event
from drconsole.report import injections
from drconsole.sandbox import faults
from drconsole.sandbox.manager import SandboxError
from drconsole.tui.once import AnswerOnce
from drconsole.tui.watch_screen import WatchError, WatchScreen

# the panel's rows: a key each
ROWS: list[tuple[str, str]] = [
    ("crashloop", "primary"),
    ("crashloop", "dr"),
    ("seal-vault", "primary"),
    ("seal-vault", "dr"),
    ("lag-standby", "dr"),
    ("s3-errors", "primary"),
    ("corrupt-backup", "primary"),
    ("stale-backup", "primary"),
    ("dns-drift", "primary"),
]


class FacilitateError(Exception):
    """The run cannot be facilitated; the message says why."""


def sandbox_of(run_dir: Path) -> Path:
    """The sandbox the run's targets file belongs to."""
    from drconsole.journal.journal import read_events

    for event in read_events(run_dir):
        if event.type == "run_started":
            log = faultlog.log_for(event.data.get("targets_file"))
            if log is None:
                break
            return log.parent
    raise FacilitateError(
        f"{run_dir} did not run against a sandbox's targets: faults are injected only into a "
        "practice sandbox (give it with --dir DIR)"
    )


class ConfirmInject(AnswerOnce):
    """Inject this fault? y injects; n or Escape does nothing."""

    BINDINGS = [
        Binding("y", "answer(True)", "Inject"),
        Binding("n", "answer(False)", "Cancel"),
        Binding("escape", "answer(False)", "Cancel"),
    ]
    AUTO_FOCUS = "#no"

    def __init__(self, fault: str, site: str) -> None:
        super().__init__()
        self.fault, self.site = fault, site

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal"):
            yield Static("Inject a fault", classes="modal-title")
            yield Static(
                f"Inject {self.fault} on {self.site}? This changes the sandbox's services "
                "now; the operator's run will meet it.",
                classes="modal-prompt",
            )
            with Horizontal(classes="modal-buttons"):
                yield Button("y: Inject", id="yes", variant="error")
                yield Button("n: Cancel", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "…"
    whole = round(seconds)  # as the journal's lines and the report round it
    return f"{whole // 60}:{whole % 60:02d}"


class FacilitateScreen(WatchScreen):
    """A run watched read-only beside the faults panel."""

    BINDINGS = [
        *[Binding(str(n), f"fault({n - 1})", show=False) for n in range(1, len(ROWS) + 1)],
    ]
    DEFAULT_CSS = """
    FacilitateScreen #detail { display: none; }
    FacilitateScreen #steps { width: 36; min-width: 36; }
    FacilitateScreen #faults { width: 1fr; padding: 0 1; border-left: solid $primary; }
    """

    def __init__(
        self, run_dir: Path, sandbox: Path, *, operator: str | None = None, poll: bool = False
    ) -> None:
        super().__init__(run_dir, poll=poll)
        self.sandbox = sandbox
        self.operator = operator
        self.events: list[Event] = []
        self.told: set[tuple[str, str, str]] = set()  # (fault@site, injected at, what) logged
        self.busy = False

    def who(self) -> str:
        return "FACILITATING (read-only)"

    def on_mount(self) -> None:  # Textual calls each class's handler, this one before RunView's
        self.query_one("#run-body").mount(Static(id="faults"))
        self.call_after_refresh(self._panel)  # once RunView's has fed the run so far
        self.set_interval(1.0, self._panel)

    def event(self, event: Event, state: Any) -> None:  # the run state (RunView.event)
        self.events.append(event)
        super().event(event, state)

    def _measured(self) -> list[injections.Injection]:
        """Measured as the report measures them: a finished run's own record of the faults,
        so a heal after its end is no recovery here either (it read R after the report said
        'not recovered')."""
        return injections.for_run(self.events, self.plan, self.sandbox / faultlog.LOG)

    def _panel(self) -> None:
        found = self._measured()
        live = faults.active(self.sandbox)
        latest = {(i.fault, i.site): i for i in found}
        lines = ["[b]FAULTS[/b] key: inject (asks) or heal", "N: noticed after, R: recovered"]
        for n, (fault, site) in enumerate(ROWS, start=1):
            i = latest.get((fault, site))
            on = f"{fault}@{site}" in live
            state = "[b red]IN[/]" if on else ("healed" if i else "-")
            line = f"{n} {fault:<14} {site[:3]} {state}"
            if i is not None:
                line += f" N {_clock(i.notice_s)} R {_clock(i.recover_s)}"
            lines.append(line)
        self.query_one("#faults", Static).update("\n".join(lines))
        log = self.query_one("#journal-log", RichLog)
        for i in found:
            key = f"{i.fault}@{i.site}"
            stamp = f"{i.injected_at:%H:%M:%S}"
            for what, at, text in (
                ("inject", i.injected_at, f"injected {key} ({i.who})"),
                ("notice", i.noticed_at, f"{key} NOTICED by {i.noticed_by} after "
                 f"{injections.describe(i.notice_s)}: {i.noticed_how}"),
                ("recover", i.recovered_at, f"{key} recovered ({i.recovered_how}) after "
                 f"{injections.describe(i.recover_s)}"),
            ):  # fmt: skip
                if at is not None and (key, stamp, what) not in self.told:
                    self.told.add((key, stamp, what))
                    log.write(f"{at:%H:%M:%S} FACILITATOR {text}")

    def action_fault(self, index: int) -> None:
        fault, site = ROWS[index]
        if self.busy:
            self.notify("Still changing the sandbox; wait a moment.")
            return
        if f"{fault}@{site}" in faults.active(self.sandbox):
            self._change("heal", fault, site)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._change("inject", fault, site)

        self.app.push_screen(ConfirmInject(fault, site), answered)

    @work(thread=True, exclusive=True, group="fault", exit_on_error=False)
    def _change(self, action: str, fault: str, site: str) -> None:
        self.busy = True
        try:
            if action == "inject":
                said = faults.inject(self.sandbox, fault, site, operator=self.operator)
            else:
                said = faults.heal(self.sandbox, fault, site, operator=self.operator)
            self.app.call_from_thread(self.notify, said, timeout=8)
        except SandboxError as exc:
            self.app.call_from_thread(
                self.notify, str(exc), title=f"Could not {action}", severity="error", timeout=15
            )
        finally:
            self.busy = False
            self.app.call_from_thread(self._panel)


class FacilitateApp(App[None]):
    """``drconsole facilitate RUN_DIR``."""

    CSS_PATH = "app.tcss"
    TITLE = "drconsole facilitate"
    ENABLE_COMMAND_PALETTE = False

    def __init__(self, run_dir: Path, sandbox: Path, *, operator: str | None = None) -> None:
        super().__init__()
        self.screen_args = (run_dir, sandbox, operator)

    def on_mount(self) -> None:
        run_dir, sandbox, operator = self.screen_args
        self.push_screen(FacilitateScreen(run_dir, sandbox, operator=operator))

    def pop_screen(self) -> AwaitComplete:
        """Leaving the run (Escape) leaves the app: under it was only a blank screen, which
        said 'Press ctrl+q to quit the app'."""
        if len(self.screen_stack) == 2:
            self.exit()
            return AwaitComplete()
        return super().pop_screen()


def open_facilitate(app: App[object], run_dir: Path, sandbox: Path | None = None) -> None:
    """Push a facilitator's screen for ``run_dir`` (or say why not)."""
    try:
        app.push_screen(FacilitateScreen(run_dir, sandbox or sandbox_of(run_dir)))
    except (FacilitateError, WatchError, OSError) as exc:
        app.notify(str(exc), title="Cannot facilitate", severity="error", timeout=15)


def facilitate(run_dir: Path, sandbox: Path | None, *, operator: str | None = None) -> None:
    """Check the run and its sandbox, then run the facilitator's app."""
    from drconsole.tui.watch_screen import load_run_plan

    try:
        load_run_plan(run_dir)
    except WatchError as exc:
        raise FacilitateError(str(exc)) from None
    sandbox = (sandbox or sandbox_of(run_dir)).resolve()
    if not (sandbox / "sandbox.json").exists():
        raise FacilitateError(f"{sandbox} is not a drconsole sandbox")
    FacilitateApp(run_dir, sandbox, operator=operator).run()
