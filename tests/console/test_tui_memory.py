"""What the console loads and holds: a run whose steps have no guidance does not load
markdown-it (nor the modules only other steps or screens use) and a plan without inputs draws
no form; a step's guidance is still shown as Markdown when it is selected, under the step's
head, and cleared for a step without any; a run the command started holds no home screen
under it, which is built when the run (or its start form) is left, or when it cannot start."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from textual.widgets import DataTable, Markdown

from drconsole.engine.modes import Mode
from drconsole.tui.forms import InputsModal
from drconsole.tui.home import HomeScreen
from drconsole.tui.run_screen import RunScreen
from tests.console.pilot import make_app, run, setup, until

GUIDED = """
id: guided
title: Guided
kind: drill
steps:
  - {id: plain, wait: 0s}
  - {id: told, wait: 0s, guidance: "Check the **replica** first.", needs: [plain]}
  - {id: last, wait: 0s, needs: [told]}
"""

# the console on a plan without guidance, headless until the run finishes; then what it loaded
LOADED = textwrap.dedent("""
    import sys
    from pathlib import Path
    from drconsole.tui.app import DrConsoleApp
    from drconsole.tui.run_screen import RunScreen
    plans, runs, plan = map(Path, sys.argv[1:4])
    app = DrConsoleApp(plan_dirs=[plans], runs_dir=runs, targets_path=None,
                       operator_name="t", start_plan=plan)
    async def watch():
        import asyncio
        while not (isinstance(app.screen, RunScreen) and app.screen.finished):
            await asyncio.sleep(0.05)
        app.exit()
    app.call_later(lambda: app.run_worker(watch()))
    app.run(headless=True)
    held = ("markdown_it", "pygments", "urllib.request", "ctypes", "drconsole.tui.forms",
            "rich._emoji_codes")
    print(" ".join(m for m in held if m in sys.modules) or "none")
""")


def test_a_run_without_guidance_loads_no_markdown(tmp_path: Path) -> None:
    plans, plan, _ = setup(
        tmp_path,
        "id: p\ntitle: P\nkind: drill\nsteps:\n"
        "  - {id: a, action: local.command, with: {argv: ['true']}}\n"
        "  - {id: b, wait: 0s, needs: [a]}\n",
    )
    script = tmp_path / "loaded.py"
    script.write_text(LOADED)
    done = subprocess.run(
        [sys.executable, str(script), str(plans), str(tmp_path / "runs"), str(plan)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "none", done.stdout


def test_guidance_is_shown_for_the_selected_step_only(tmp_path: Path) -> None:
    plans, plan, targets = setup(tmp_path, GUIDED)

    async def scenario() -> None:
        app = make_app(tmp_path, plans, targets, start_plan=plan, mode=Mode.DRY_RUN)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.finished)
            screen = app.screen
            assert isinstance(screen, RunScreen)
            table = screen.query_one("#steps", DataTable)

            async def select(row: int) -> None:
                table.move_cursor(row=row)
                await pilot.pause(0.2)

            await select(1)
            guidance = screen.query_one("#detail-guidance", Markdown)
            assert guidance.source == "Check the **replica** first."
            assert guidance.children  # drawn as Markdown
            ids = [w.id for w in screen.query_one("#detail").children]
            assert ids[:3] == ["detail-head", "detail-guidance", "detail-facts"]
            await select(2)
            assert guidance.source == ""
            assert not guidance.children
            assert guidance.size.height == 0

    run(scenario())


@pytest.mark.parametrize("inputs", [False, True], ids=["no-inputs", "inputs-form"])
def test_home_is_built_when_the_run_the_command_started_is_left(
    tmp_path: Path, inputs: bool
) -> None:
    text = GUIDED.replace("steps:", "inputs: {why: {type: string}}\nsteps:") if inputs else GUIDED
    plans, plan, targets = setup(tmp_path, text)

    async def scenario() -> None:
        app = make_app(tmp_path, plans, targets, start_plan=plan)
        async with app.run_test(size=(80, 24)) as pilot:
            if inputs:  # the start form, answered: the run starts with no home under it
                await until(pilot, lambda: isinstance(app.screen, InputsModal))
                await pilot.press(*"drill", "enter")
                for _ in range(3):
                    if isinstance(app.screen, InputsModal):
                        await pilot.press("enter")
                        await pilot.pause(0.2)
            await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.finished)
            assert not [s for s in app.screen_stack if isinstance(s, HomeScreen)]
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, HomeScreen))
            table = app.screen.query_one("#runs", DataTable)
            await until(pilot, lambda: table.row_count == 1)  # the run just left
            assert len(app.screen_stack) == 2

    run(scenario())


def test_home_is_shown_when_the_plan_cannot_start_or_its_form_is_left(tmp_path: Path) -> None:
    plans, plan, targets = setup(tmp_path, "id: [\n")
    asking = plans / "asking.yaml"
    asking.write_text(GUIDED.replace("steps:", "inputs: {why: {type: string}}\nsteps:"))

    async def scenario(start: Path, escape: bool) -> None:
        app = make_app(tmp_path, plans, targets, start_plan=start)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.2)
            if escape:
                assert isinstance(app.screen, InputsModal)
                await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, HomeScreen))
            assert len(app.screen_stack) == 2
            if not escape:
                assert any("The plan is not valid" in n.message for n in app._notifications)

    run(scenario(plan, escape=False))
    run(scenario(asking, escape=True))


def test_a_marked_table_shows_its_cells_as_plain_text() -> None:
    from textual.app import App, ComposeResult

    from drconsole.tui.marked_table import MarkedTable

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield MarkedTable(id="t", cursor_type="row")

    async def scenario() -> None:
        app = One()
        async with app.run_test(size=(60, 5)) as pilot:
            table = app.query_one("#t", MarkedTable)
            table.add_column("[b]who[/b]", key="who", width=30)
            table.add_row("kim", key="a")
            table.update_cell("a", "who", "[b]lee")
            await pilot.pause()
            assert "[b]who[/b]" in table.render_line(0).text  # the heading, as written
            assert table.render_line(1).text.split() == ["»", "[b]lee"]
            table.add_row("[red]kim[/red] :smile:", key="b")
            await pilot.pause()
            assert "[red]kim[/red] :smile:" in table.render_line(2).text

    run(scenario())
