"""Helpers for driving the console by keys (Textual Pilot), shared by the console tests and by
the tests that open one screen of it (history, incident, driver lock, the HTML report)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import yaml
from textual.app import App
from textual.pilot import Pilot
from textual.screen import ModalScreen

from drconsole.tui.app import DrConsoleApp
from drconsole.tui.run_screen import RunScreen


def setup(tmp_path: Path, text: str) -> tuple[Path, Path, Path]:
    """A plans folder holding ``text`` as plan.yaml, and a targets file with a drill site."""
    plans = tmp_path / "plans"
    plans.mkdir(exist_ok=True)
    plan = plans / "plan.yaml"
    plan.write_text(text)
    targets = tmp_path / "targets.yaml"
    targets.write_text(yaml.safe_dump({"sites": {"sandbox": {"drill": True}}}))
    return plans, plan, targets


def make_app(tmp_path: Path, plans: Path, targets: Path, **kw: Any) -> DrConsoleApp:
    """The console on those plans and targets, writing runs into ``tmp_path/runs``."""
    return DrConsoleApp(
        plan_dirs=[plans],
        runs_dir=tmp_path / "runs",
        targets_path=targets,
        operator_name="tester",
        **kw,
    )


async def until(pilot: Pilot[Any], predicate: Callable[[], bool], within_s: float = 20) -> None:
    """Wait until ``predicate`` holds; past ``within_s``, fail saying which screen is shown."""
    deadline = time.monotonic() + within_s
    while not predicate():
        if time.monotonic() > deadline:
            screen = pilot.app.screen
            detail = getattr(screen, "title_text", ""), getattr(screen, "fields", "")
            raise AssertionError(f"timed out; screen is {screen!r} {detail}")
        await pilot.pause(0.05)


def run_screen_of(app: Any) -> RunScreen:
    """The run screen, under whatever question is on top of it."""
    return next(s for s in app.screen_stack if isinstance(s, RunScreen))


def on(app: DrConsoleApp, kind: type) -> bool:
    return isinstance(app.screen, kind)


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coro)


class Host(App[None]):
    """An empty app whose modals report their answers into ``answers``."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[Any] = []

    def ask(self, screen: ModalScreen[Any]) -> None:
        self.push_screen(screen, self.answers.append)
