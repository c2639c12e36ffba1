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


def test_the_form_starts_on_the_first_field_still_to_fill_in(tmp_path: Path) -> None:
    """The ceremony's form had the focus on its first field, which held a default (the HSM's
    site): the backup file's path, typed first, went there. The first required field that is
    empty has the focus now; a form whose first field needs filling in starts there."""
    plans, plan, targets = setup(
        tmp_path,
        """
id: tui-focus
title: Focus
kind: drill
inputs:
  site: {type: string, default: hsm}
  label: {type: string, default: master}
  backup_file: {type: string, required: true}
  note: {type: string}
steps:
  - {id: wait, wait: 0s}
""",
    )

    async def scenario() -> None:
        app = make_app(tmp_path, plans, targets, start_plan=plan)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: on(app, InputsModal))
            await pilot.pause(0.1)
            assert app.focused is not None
            assert app.focused.id == "in-backup_file"
            await pilot.press(*"/tmp/b.enc", "tab", "enter")
            await until(pilot, lambda: on(app, RunScreen))
            run_screen = app.screen
            assert isinstance(run_screen, RunScreen)
            await until(pilot, lambda: run_screen.finished)
        state = load_state(next((tmp_path / "runs").iterdir()))
        assert state.inputs["site"] == "hsm"
        assert state.inputs["backup_file"] == "/tmp/b.enc"

    run(scenario())
