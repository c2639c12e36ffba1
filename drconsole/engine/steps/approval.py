"""Approval steps: a sign-off by N distinct people, in the roles the plan names (in a
ceremony, only people signed in, in the role they signed in with)."""

from __future__ import annotations

from drconsole.engine.operator import NoAnswer, Signer
from drconsole.engine.outcome import Outcome, Refused, StepFailed
from drconsole.engine.steps.base import StepKind, StepRun
from drconsole.people import name_key
from drconsole.plans.model import Step
from drconsole.runs.state import StepStatus


def describe(run: StepRun) -> str:
    assert run.step.approval is not None
    roles = ", ".join(run.step.approval.roles) or "any role"
    return f"sign-off by {run.step.approval.signers} distinct people ({roles})"


async def execute(run: StepRun) -> Outcome:
    ctx, step = run.ctx, run.step
    assert step.approval is not None
    need, roles = step.approval.signers, list(step.approval.roles)
    try:
        signers = await ctx.ask_until(
            lambda problem: ctx.operator.signoff(ctx.question(step), need, roles, problem),
            lambda signers: (
                signoff_problem(signers, need, roles) or run.ceremony.signer_problem(signers)
            ),
            step=step.id,
            question="sign-off",
            who=f"{need} distinct signer{'s' if need != 1 else ''}"
            + (f" ({', '.join(roles)})" if roles else ""),
        )
    except (NoAnswer, Refused) as exc:
        raise StepFailed(f"not approved: {exc}") from None
    listed = [{"name": s.name, "role": s.role} for s in signers]
    ctx.answer(step, "sign-off", listed, ctx.operator.name)
    return Outcome(StepStatus.SUCCEEDED, {"signers": listed})


def signoff_problem(signers: list[Signer], need: int, roles: list[str]) -> str | None:
    names = [s.name.strip() for s in signers]
    keys = [name_key(n) for n in names]
    if not all(keys):
        return "every signer needs a name"
    twice = sorted({n for n, key in zip(names, keys, strict=True) if keys.count(key) > 1})
    if twice:
        return f"{', '.join(twice)} signed more than once; {need} distinct people must sign"
    if len(signers) < need:
        return f"{len(signers)} signed, {need} distinct people must sign"
    missing = [role for role in roles if role not in {s.role for s in signers}]
    if missing:
        return f"no signer in the role {', '.join(missing)}"
    return None


def asks(step: Step) -> set[str]:
    return {"signoffs"}


KIND = StepKind("approval", describe, execute, asks=asks)
