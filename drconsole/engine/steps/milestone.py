"""Milestone steps: a moment the clocks measure to (``service_restored``, ``incident``), with
the recovery point actually reached when a step reported one."""

from __future__ import annotations

from drconsole.engine import clocks
from drconsole.engine.events import EventType, NewEvent
from drconsole.engine.outcome import Outcome, StepFailed
from drconsole.engine.steps.base import StepKind, StepRun
from drconsole.runs.state import StepStatus
from drconsole.timeutil import format_timestamp, parse_timestamp, utcnow


def describe(run: StepRun) -> str:
    return f"milestone {run.step.milestone}"


async def execute(run: StepRun) -> Outcome:
    ctx, step = run.ctx, run.step
    now = utcnow()
    recovery_point = None
    if step.recovery_point is not None and ctx.resolve(step.recovery_point) is not None:
        raw = ctx.resolve(step.recovery_point)
        try:
            recovery_point = format_timestamp(parse_timestamp(raw))
        except ValueError as exc:
            raise StepFailed(f"recovery point {raw!r} is not a timestamp: {exc}") from None
    at = format_timestamp(now)
    data = {"step": step.id, "name": step.milestone, "at": at, "recovery_point": recovery_point}
    ctx.emit(NewEvent(EventType.MILESTONE, data))
    measured = clocks.measure(ctx.state, now)
    reason = {"reason": f"milestone {step.milestone}"}
    ctx.emit(NewEvent(EventType.CLOCK, {**reason, **measured.fields()}))
    return Outcome(StepStatus.SUCCEEDED, {"at": at, "recovery_point": recovery_point})


KIND = StepKind("milestone", describe, execute, initials=False)
