"""The drconsole Textual app: home, runs, questions. Built by ``drconsole`` on a terminal.

The engine runs on this app's event loop; adapters run in worker threads; the engine talks to
people only through :class:`~drconsole.tui.operator.TuiOperator`.

A run that the command starts (``drconsole run``, ``drconsole resume``) is shown without the
home screen under it: home is built when that run is left (its tables, footer and lists are
about 2 MB a run does not need), or at once when nothing could be started.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import App
from textual.await_complete import AwaitComplete
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.worker import Worker, WorkerState

if TYPE_CHECKING:
    from drconsole.plans.validate import LoadResult

from drconsole.engine.modes import Mode
from drconsole.tui.help import HelpScreen, PlansAndRuns
from drconsole.tui.home import HomeScreen
from drconsole.tui.labels import MODE_LABELS


class DrConsoleApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "drconsole"
    COMMANDS: ClassVar[set[Any]] = App.COMMANDS | {PlansAndRuns}
    BINDINGS = [Binding("question_mark", "help", "Help", show=False)]

    def __init__(
        self,
        *,
        plan_dirs: list[Path],
        runs_dir: Path,
        targets_path: Path | None,
        operator_name: str,
        mode: Mode = Mode.DRILL,
        given_inputs: dict[str, Any] | None = None,
        start_plan: Path | None = None,
        resume: Path | None = None,
    ) -> None:
        super().__init__()
        self.plan_dirs = plan_dirs
        self.runs_dir = runs_dir
        self.targets_path = targets_path
        self.operator_name = operator_name
        self.mode = mode
        self.given_inputs = dict(given_inputs or {})
        self._start_plan = start_plan
        self._resume = resume

    def on_mount(self) -> None:
        if self._resume is not None:
            self.resume_run(self._resume)
        elif self._start_plan is not None:
            from drconsole.plans.validate import load_plan

            result = load_plan(self._start_plan)
            if result.plan is None:
                self.notify(
                    "The plan is not valid: " + "; ".join(str(p) for p in result.problems[:3]),
                    severity="error",
                    timeout=15,
                )
            else:
                self.start_plan(self._start_plan, result)
        if len(self.screen_stack) == 1:  # nothing was started, or it could not start
            self.push_screen(HomeScreen())

    def pop_screen(self) -> AwaitComplete:
        """Leaving the run the command opened shows home, built now. (A modal is popped as
        usual: the start form's answer comes after its pop, and its callback builds home only
        when the form was left without starting anything.)"""
        if len(self.screen_stack) == 2 and not isinstance(self.screen, (HomeScreen, ModalScreen)):
            return self.switch_screen(HomeScreen())
        return super().pop_screen()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def open_report(self, run_dir: Path) -> None:
        from drconsole.tui.report_screen import ReportScreen

        self.push_screen(ReportScreen(run_dir))

    def start_plan(self, path: Path, result: LoadResult) -> None:
        """Ask the plan's inputs, then start it in the current mode."""
        from drconsole.engine.launch import prepare_new
        from drconsole.tui.operator import TuiOperator

        assert result.plan is not None

        def go(values: dict[str, Any] | None) -> None:
            if values is None:
                if len(self.screen_stack) == 1:  # the form the command opened was left
                    self.push_screen(HomeScreen())
                return
            self._launch(
                lambda: prepare_new(
                    result,
                    runs_dir=self.runs_dir,
                    operator=TuiOperator(self, self.operator_name),
                    mode=self.mode,
                    given_inputs=values,
                    targets_path=self.targets_path,
                )
            )

        if not result.plan.inputs:  # nothing to ask: no form to draw
            go({})
            return
        from drconsole.tui.forms import InputsModal

        form = InputsModal(
            result.plan,
            self.given_inputs,
            MODE_LABELS[self.mode],
            targets_path=self.targets_path,
            live_checks=self.mode is not Mode.DRY_RUN,
        )
        self.push_screen(form, go)

    def resume_run(self, run_dir: Path) -> None:
        from drconsole.engine.launch import prepare_resume
        from drconsole.tui.operator import TuiOperator

        self._launch(
            lambda: prepare_resume(run_dir, operator=TuiOperator(self, self.operator_name))
        )

    def _launch(self, prepare: Any) -> None:
        from drconsole.engine.launch import LaunchError
        from drconsole.tui.run_screen import RunScreen

        try:
            prepared = prepare()
        except LaunchError as exc:
            self.notify(str(exc), title="Cannot start", severity="error", timeout=20)
            return
        except OSError as exc:
            self.notify(f"Cannot write the run record: {exc}", severity="error", timeout=20)
            return
        self.push_screen(RunScreen(prepared))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A background task of the console that failed says so (never silently empty)."""
        if event.state is WorkerState.ERROR:
            error = event.worker.error
            self.notify(
                f"{event.worker.name or 'a background task'} failed: "
                f"{type(error).__name__}: {error}",
                title="Internal error",
                severity="error",
                timeout=30,
            )

    def on_screen_resume(self) -> None:
        home = self.screen
        if isinstance(home, HomeScreen):
            home.refresh_all()
