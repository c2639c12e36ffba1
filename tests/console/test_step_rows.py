"""The step list once a run has ended: a step the run never reached reads "not run", not
"waiting" (which promised it would still come), in the run screen and in a watcher's."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable

from drconsole.tui.run_screen import NOT_RUN, RunScreen
from tests.console.pilot import make_app, run, setup, until

PLAN = (
    "id: rows\ntitle: Rows\nkind: drill\nsteps:\n"
    "  - {id: breaks, action: local.command, with: {argv: ['false']}}\n"
    "  - {id: after, action: local.command, with: {argv: ['true']}, needs: [breaks]}\n"
)


def test_a_step_a_failed_run_never_reached_reads_not_run(tmp_path: Path) -> None:
    plans, plan, targets = setup(tmp_path, PLAN)

    async def scenario() -> None:
        app = make_app(tmp_path, plans, targets, start_plan=plan)
        async with app.run_test(size=(80, 24)) as pilot:

            def screen() -> RunScreen | None:
                return next((s for s in app.screen_stack if isinstance(s, RunScreen)), None)

            await until(pilot, lambda: (found := screen()) is not None and found.finished)
            found = screen()
            assert found is not None
            await pilot.pause(0.2)
            table = found.query_one("#steps", DataTable)
            assert "FAILED" in str(table.get_cell("breaks", "status"))
            assert str(table.get_cell("after", "status")) == NOT_RUN

    run(scenario())
