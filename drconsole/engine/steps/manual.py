"""Manual steps: the operator does something by hand, confirms it, and records evidence."""

from __future__ import annotations

from typing import Any

from drconsole.engine import policy
from drconsole.engine.operator import NoAnswer
from drconsole.engine.outcome import Outcome, StepFailed
from drconsole.engine.steps.base import StepKind, StepRun
from drconsole.plans.model import Step
from drconsole.runs.state import StepStatus


def describe(run: StepRun) -> str:
    step = run.step
    fields = f"; record {', '.join(step.evidence)}" if step.evidence else ""
    return f"operator does: {str(run.ctx.resolve(step.manual)).strip()}{fields}"


async def execute(run: StepRun) -> Outcome:
    ctx, step = run.ctx, run.step
    q = ctx.question(step)
    if step.destructive:
        await policy.typed_confirmation(ctx, step)  # before the operator does anything
    async with ctx.asking(step, "confirm"):
        try:
            done = await ctx.operator.confirm(q, f"Done? {ctx.resolve(step.manual)}")
        except NoAnswer as exc:
            raise StepFailed(str(exc)) from None
    ctx.answer(step, "confirm", "done" if done else "not done", ctx.operator.name)
    if not done:
        raise StepFailed("the operator did not confirm this step")
    outputs: dict[str, Any] = {"confirmed_by": ctx.operator.name}
    if step.evidence:
        outputs.update(await ctx.ask_evidence(step, q, step.evidence))
    return Outcome(StepStatus.SUCCEEDED, outputs)


def asks(step: Step) -> set[str]:
    return {"confirm", "evidence"} if step.evidence else {"confirm"}


KIND = StepKind("manual", describe, execute, asks=asks)
