"""The run screen shows a step's numbers with their units: a parameter in seconds and an output
in bytes (Textual Pilot, real engine and files)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Static

from drconsole.tui.run_screen import RunScreen
from tests.console.pilot import make_app, on, run, setup, until

PLAN = """
id: tui-units
title: Units on the run screen
kind: drill
steps:
  - id: hash
    check: local.file_sha256
    with: {path: "FILE"}
  - id: wait
    check: local.http_check
    with: {url: "http://127.0.0.1:9/", timeout_s: 90}
    on_failure: continue
    needs: [hash]
"""


def test_the_run_screen_says_the_units(tmp_path: Path) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"x" * 3000)
    plans, plan, targets = setup(tmp_path, PLAN.replace("FILE", str(data)))

    async def scenario() -> None:
        app = make_app(tmp_path, plans, targets, start_plan=plan)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: on(app, RunScreen))
            screen = app.screen
            assert isinstance(screen, RunScreen)
            await until(pilot, lambda: screen.finished)
            table = screen.query_one("#steps", DataTable)
            table.focus()
            facts: dict[str, str] = {}
            for key in ("up", "down"):
                await pilot.press(key)
                await pilot.pause(0.2)
                facts[str(screen.selected)] = str(
                    screen.query_one("#detail-facts", Static).render()
                )
            assert "out.size = 3,000 bytes (2.9 KiB)" in facts["hash"], facts
            assert "with.timeout_s = 90 s (1m30s)" in facts["wait"], facts

    run(scenario())
