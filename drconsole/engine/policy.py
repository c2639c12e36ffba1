"""What a run allows: destructive steps in drill mode only on a drill site, a typed
confirmation before anything destructive, guards that refuse a step while their condition
holds (unless overridden with a reason), and which steps are safe to run again on resume.
"""

from __future__ import annotations

from typing import Any

from drconsole.adapters import registry
from drconsole.adapters.base import ActionSpec, Effect
from drconsole.engine.context import RunContext
from drconsole.engine.modes import Mode
from drconsole.engine.operator import NoAnswer, Question
from drconsole.engine.outcome import Refused, StepFailed
from drconsole.plans.model import EvidenceField, Guard, Step
from drconsole.targets import TargetsError


def is_false(value: Any) -> bool:
    """How a condition (``when``, a guard) reads a resolved value."""
    return value in (False, None, "", 0, "false", "no")


def destructive(step: Step, spec: ActionSpec | None) -> bool:
    """The step changes or destroys data (declared by the plan or by its action)."""
    return step.destructive or (spec is not None and spec.effect is Effect.DESTRUCTIVE)


def idempotent(mode: Mode, step: Step) -> bool:
    """The step may run again after an interruption without asking."""
    if mode is Mode.DRY_RUN:
        return True  # a dry run called nothing, so repeating a step repeats nothing
    return repeatable(step)


def repeatable(step: Step) -> bool:
    """Whether the step is safe to run again in a run that calls things (declared by the plan,
    else by its action; an action drconsole does not know is not)."""
    if step.idempotent is not None:
        return step.idempotent
    if step.call:
        spec = registry.lookup(step.call)
        return bool(spec and (spec.idempotent or spec.read_only))
    return True


def check_destructive_allowed(ctx: RunContext, step: Step, spec: ActionSpec) -> None:
    """In drill mode a destructive step acts only on a site marked ``drill: true``.

    Raises:
        StepFailed: refused (nothing was done).
    """
    if not destructive(step, spec) or ctx.mode is not Mode.DRILL:
        return
    if step.site is None:
        raise StepFailed(
            "in drill mode a destructive step must name a site marked "
            "'drill: true' in the targets file"
        )
    try:
        site = ctx.targets.site(ctx.site_name(step) or "")
    except TargetsError as exc:
        raise StepFailed(str(exc)) from None
    if not site.drill:
        raise StepFailed(
            f"drill mode refuses destructive steps on site {ctx.site_name(step)!r}: "
            "it is not marked 'drill: true'. Use --mode real for a real "
            "recovery, or a drill site"
        )


def does(spec: ActionSpec, params: dict[str, Any]) -> str:
    """What ``spec`` does with these parameters, in words (its describer's; one that cannot
    read them gives way to the action's name and parameters)."""
    try:
        return spec.describe(spec.params.model_validate(params))
    except Exception:  # a describer that cannot handle a placeholder: say it plainly
        shown = ", ".join(f"{key}={value}" for key, value in params.items())  # not a repr
        return f"{spec.name} with {shown or 'no parameters'}"


def where(ctx: RunContext, step: Step) -> str | None:
    """The site a step acts on, as a person knows it: ``site dr, sandbox DR standby``."""
    name = ctx.site_name(step)
    if name is None:
        return None
    try:
        about = ctx.targets.site(name).description
    except TargetsError:
        about = None
    return f"site {name}" + (f", {about}" if about else "")


def confirmation_prompt(ctx: RunContext, step: Step) -> str:
    """What a person reads under the step's title before typing a destructive step's
    confirmation: what it will do and where, in words, then the short text to type."""
    spec = registry.lookup(step.call) if step.call else None
    if spec is not None:
        will = does(spec, ctx.resolve(step.with_))
    else:
        will = f"(by hand) {str(ctx.resolve(step.manual or '')).strip()}"
    return (
        f"It will: {will}\n"
        f"Where: {where(ctx, step) or 'as written above (no site is named)'}\n"
        f"To go ahead, type: {ctx.resolve(step.confirm or '')}"
    )


async def typed_confirmation(ctx: RunContext, step: Step) -> None:
    """The operator types the step's confirmation text before anything destructive.

    Raises:
        StepFailed: not confirmed (nothing was done).
    """
    expected = str(ctx.resolve(step.confirm or ""))
    prompt = confirmation_prompt(ctx, step)
    try:
        await ctx.typed_text(step, ctx.question(step), prompt, expected)
    except NoAnswer as exc:
        raise StepFailed(f"not confirmed, nothing was done: {exc}") from None
    except Refused:
        raise StepFailed("the typed confirmation did not match; nothing was done") from None
    ctx.answer(step, "typed confirmation", "matched", ctx.operator.name)


async def guard(ctx: RunContext, step: Step) -> None:
    """Refuse the step while any of its guards' conditions holds, unless each one that
    holds is overridden with a reason (asked in the plan's order).

    Raises:
        StepFailed: refused, and no override was typed (nothing was done).
    """
    for one in step.guards:
        await _one_guard(ctx, step, one)


async def _one_guard(ctx: RunContext, step: Step, guard: Guard) -> None:
    if is_false(ctx.resolve(guard.refuse_when)):
        return
    because = str(ctx.resolve(guard.because))
    ctx.refused(step, "guard", because, by="drconsole")  # drconsole refuses it, not a person
    q = Question(step.id, step.label, step.guidance, {"guard": True, "override": guard.override})
    prompt = (
        f"REFUSED: {because}. To go ahead anyway, type {guard.override!r}; you will be asked why."
    )
    try:
        await ctx.typed_text(step, q, prompt, guard.override)
    except NoAnswer:
        raise StepFailed(f"refused: {because}; nothing was done") from None
    except Refused:
        raise StepFailed(
            f"refused: {because}; the override did not match, nothing was done"
        ) from None
    reason_field = {"override_reason": EvidenceField(prompt="Why go ahead anyway?")}
    reason = (await ctx.ask_evidence(step, q, reason_field))["override_reason"]
    ctx.answer(step, "guard override", f"overridden: {reason}", ctx.operator.name)
