"""Wait steps: a pause of a fixed duration (not a response, no initials in a ceremony)."""

from __future__ import annotations

import asyncio

from drconsole.engine.outcome import Outcome
from drconsole.engine.steps.base import StepKind, StepRun
from drconsole.runs.state import StepStatus
from drconsole.timeutil import format_duration


def describe(run: StepRun) -> str:
    assert run.step.wait is not None
    return f"wait {format_duration(run.step.wait)}"


async def execute(run: StepRun) -> Outcome:
    assert run.step.wait is not None
    await asyncio.sleep(run.step.wait.total_seconds())
    return Outcome(StepStatus.SUCCEEDED, {"waited_s": run.step.wait.total_seconds()})


KIND = StepKind("wait", describe, execute, initials=False)
