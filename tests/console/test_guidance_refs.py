"""A step's guidance on the run screen, and on the question asked at the step, reads with the
run's values in it: an input, a target, an output an earlier step gave; what is not known yet
stays as written (before, every reference showed as written, e.g. 'back to
${inputs.target_time}'; the modal over the screen kept showing it so after the screen read it)."""

from __future__ import annotations

from pathlib import Path

from drconsole.tui import modals
from tests.console.pilot import make_app, on, run, run_screen_of, setup, until

PLAN = """\
id: words
title: Words
kind: drill
steps:
  - {id: read, action: local.command, with: {argv: [echo, '42']}}
  - id: tell
    manual: Tell everyone.
    needs: [read]
    guidance: |
      Site drill: ${targets.sandbox.drill}. It printed ${steps.read.outputs.stdout}.
      Later: ${steps.later.outputs.stdout}.
  - {id: later, action: local.command, with: {argv: ['true']}, needs: [tell]}
"""


def test_guidance_shows_what_the_run_knows_and_leaves_the_rest(tmp_path: Path) -> None:
    plans, plan, targets = setup(tmp_path, PLAN)

    async def scenario() -> None:
        app = make_app(tmp_path, plans, targets, start_plan=plan)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: on(app, modals.ConfirmModal))
            # the question's own guidance, on the modal over the screen, reads the same
            asked = app.screen.q.guidance
            assert "It printed 42" in asked
            assert "Later: ${steps.later.outputs.stdout}." in asked
            screen = run_screen_of(app)
            await until(pilot, lambda: screen.selected == "tell")
            assert "Site drill: True." in screen._guidance
            assert "It printed 42" in screen._guidance
            assert "Later: ${steps.later.outputs.stdout}." in screen._guidance
            await pilot.press("y")
            await until(pilot, lambda: screen.finished)

    run(scenario())
