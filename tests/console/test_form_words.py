"""The start form writes a yes/no input's default as yes or no, as its hint asks for (it showed
``True`` beside ``(yes/no)``), and the run reads it back as the same value."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from drconsole.runs.rundir import load_state
from drconsole.tui.forms import InputsModal
from drconsole.tui.run_screen import RunScreen
from tests.console.pilot import make_app, on, run, setup, until

PLAN = """
id: tui-yes-no
title: A yes/no input
kind: drill
inputs:
  keep_copy: {type: bool, default: true, description: "Keep a copy"}
  verbose: {type: bool, default: false}
steps:
  - {id: wait, wait: 0s}
"""


def test_a_yes_no_default_reads_yes_or_no(tmp_path: Path) -> None:
    plans, plan, targets = setup(tmp_path, PLAN)

    async def scenario() -> None:
        app = make_app(tmp_path, plans, targets, start_plan=plan)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: on(app, InputsModal))
            assert app.screen.query_one("#in-keep_copy", Input).value == "yes"
            assert app.screen.query_one("#in-verbose", Input).value == "no"
            app.screen.query_one("#in-verbose", Input).focus()
            await pilot.press("enter")  # Enter on the last field starts the run
            await until(pilot, lambda: on(app, RunScreen))
            screen = app.screen
            assert isinstance(screen, RunScreen)
            await until(pilot, lambda: screen.finished)
        state = load_state(next((tmp_path / "runs").iterdir()))
        assert state.inputs["keep_copy"] is True
        assert state.inputs["verbose"] is False

    run(scenario())
