"""A yes/no question (a manual step's "Done?", a ceremony's check): y answers yes; n asks once
more and only a second n answers no; any other key goes back; Escape answers nothing and says
which keys do. Before, one n or one Escape answered no, and a manual step not done ended the
run as FAILED, for good (found by the hostile walk on the PITR's confirm step)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Static

from drconsole.runs.state import StepStatus
from drconsole.tui import modals
from drconsole.tui.run_screen import NOT_RUN
from tests.console.pilot import make_app, on, run, run_screen_of, setup, until

PLAN = (
    "id: keys\ntitle: Keys\nkind: drill\nsteps:\n"
    "  - {id: brief, manual: Brief everyone.}\n"
    "  - {id: after, action: local.command, with: {argv: ['true']}, needs: [brief]}\n"
)


def test_one_stray_key_never_answers_no(tmp_path: Path) -> None:
    plans, plan, targets = setup(tmp_path, PLAN)

    async def scenario() -> None:
        app = make_app(tmp_path, plans, targets, start_plan=plan)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: on(app, modals.ConfirmModal))
            modal = app.screen

            def hint() -> str:
                return str(modal.query_one("#confirm-hint", Static).render())

            await pilot.press("escape")
            await pilot.pause(0.1)
            assert on(app, modals.ConfirmModal)
            assert "Escape answers nothing here" in hint()
            await pilot.press("n")  # once: asks again
            await pilot.pause(0.1)
            assert on(app, modals.ConfirmModal)
            assert hint().startswith("ANSWER NO? n again")
            await pilot.press("escape")  # back, nothing answered
            await pilot.pause(0.1)
            assert on(app, modals.ConfirmModal)
            await pilot.press("n", "x")  # another key after n: back
            await pilot.pause(0.1)
            assert on(app, modals.ConfirmModal)
            await pilot.press("y")
            screen = run_screen_of(app)
            await until(pilot, lambda: screen.finished)
            assert screen.run_state.steps["brief"].status is StepStatus.SUCCEEDED

    run(scenario())


def test_n_twice_answers_no_and_the_step_never_reached_reads_not_run(tmp_path: Path) -> None:
    """The run fails at the step not done; the step after it, never reached, reads "not run"
    (it read "waiting", which promised it would still come)."""
    plans, plan, targets = setup(tmp_path, PLAN)

    async def scenario() -> None:
        app = make_app(tmp_path, plans, targets, start_plan=plan)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: on(app, modals.ConfirmModal))
            await pilot.press("n", "n")
            screen = run_screen_of(app)
            await until(pilot, lambda: screen.finished)
            assert screen.run_state.steps["brief"].status is StepStatus.FAILED
            await pilot.pause(0.2)
            table = screen.query_one("#steps", DataTable)
            assert "FAILED" in str(table.get_cell("brief", "status"))
            assert str(table.get_cell("after", "status")) == NOT_RUN

    run(scenario())
