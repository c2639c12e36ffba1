"""Action and check steps: an adapter action called in a worker thread, with its parameters
checked, the drill and destructive policy applied, retries, a timeout and (for a check) its
expectations. The event loop only waits; the adapter's live lines and secret questions come
back through the run context.
"""

from __future__ import annotations

import asyncio
import re
from contextlib import suppress
from typing import Any

from pydantic import ValidationError

from drconsole.adapters.base import (
    ActionContext,
    AdapterError,
    Cancelled,
    CheckFailed,
    Params,
    PermanentError,
    TransientError,
)
from drconsole.engine import events, policy
from drconsole.engine.outcome import Outcome, StepFailed
from drconsole.engine.preview import check_params
from drconsole.engine.retry import with_retries
from drconsole.engine.steps.base import StepKind, StepRun, simulated
from drconsole.plans.model import RetryPolicy, Step
from drconsole.runs.state import StepStatus
from drconsole.targets import TargetsError
from drconsole.timeutil import format_duration

_CANCEL_GRACE_S = 5.0


def describe(run: StepRun) -> str:
    step, spec, params = run.step, run.spec, run.params
    assert spec is not None
    text = policy.does(spec, params)
    deferred = check_params(spec.name, spec.params, params).deferred
    if deferred:
        text += f"; checked when known: {', '.join(deferred)}"
    effect = spec.effect.value if not step.destructive else "destructive"
    site = f" on site {run.ctx.site_name(step)}" if step.site else ""
    guard = "".join(_guard(run, g.refuse_when) for g in step.guards)
    return f"{text}{site} [{effect}]{guard}"


def _guard(run: StepRun, refuse_when: bool | str) -> str:
    """A guard in words, with what it reads now: ``(refused while primary-writes's
    accepts_writes is true; now no)``, not the reference as the plan writes it."""
    words = re.sub(r"\$\{\s*steps\.([^.}]+)\.outputs\.([^}]+?)\s*\}", r"\1's \2", str(refuse_when))
    try:
        now = events.show(run.ctx.resolve(refuse_when))
    except StepFailed:
        now = "not known yet"
    return f" (refused while {words} is true; now {now})"


def simulate(run: StepRun) -> Outcome:
    assert run.spec is not None
    problem = check_params(run.spec.name, run.spec.params, run.params).problem
    if problem is not None:
        raise StepFailed(problem)
    try:
        policy.check_destructive_allowed(run.ctx, run.step, run.spec)
    except StepFailed as exc:
        return Outcome(StepStatus.FAILED, {}, f"would be refused: {exc}")
    return simulated(run)


async def execute(run: StepRun) -> Outcome:
    ctx, step, spec, params = run.ctx, run.step, run.spec, run.params
    assert spec is not None
    try:
        model = spec.params.model_validate(params)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise StepFailed(f"{spec.name} parameter {where}: {first['msg']}") from None
    policy.check_destructive_allowed(ctx, step, spec)
    if policy.destructive(step, spec):
        await policy.typed_confirmation(ctx, step)
    site: dict[str, Any] = {}
    if step.site is not None:
        try:
            site = ctx.targets.site(ctx.site_name(step) or "").as_dict()
        except TargetsError as exc:
            raise StepFailed(str(exc)) from None
    retry = step.retry or RetryPolicy(attempts=1)
    record = ctx.state.steps[step.id]  # its attempts count is kept by step_started

    def attempt_failed(error: object, transient: bool, retry_in_s: float | None) -> None:
        data = {"step": step.id, "attempt": record.attempts, "of": retry.attempts}
        data.update({"error": str(error), "transient": transient, "retry_in_s": retry_in_s})
        ctx.emit(events.NewEvent(events.EventType.ATTEMPT_FAILED, data))

    async def attempt(number: int) -> dict[str, Any]:
        if number > 1:  # the first was journaled
            started = events.step_started(
                step.id, step.kind, record.attempts + 1, params, record.description
            )
            ctx.emit(started)
        return await _attempt(run, model, site)

    try:
        outputs = await with_retries(
            retry, attempt, lambda error, delay: attempt_failed(error, True, delay)
        )
    except AdapterError as exc:
        attempt_failed(exc, isinstance(exc, TransientError), None)
        evidence = exc.evidence if isinstance(exc, CheckFailed) else {}
        prefix = "check failed: " if isinstance(exc, CheckFailed) else ""
        tried = f" (after {record.attempts} attempts)" if record.attempts > 1 else ""
        raise StepFailed(f"{prefix}{exc}{tried}", evidence) from None
    if step.expect:
        _check_expectations(run, outputs)
    return Outcome(StepStatus.SUCCEEDED, outputs)


async def _attempt(run: StepRun, model: Params, site: dict[str, Any]) -> dict[str, Any]:
    ctx, step, spec = run.ctx, run.step, run.spec
    assert spec is not None
    ctx_action = ActionContext(
        site=site,
        site_name=ctx.site_name(step),
        log=lambda line: ctx.live_from_thread(step.id, line),
        ask_secret=lambda prompt, problem=None: ctx.secret_from_thread(step, prompt, problem),
        artefact_dir=str(ctx.run_dir / "artefacts" / step.id),
    )
    worker = asyncio.ensure_future(asyncio.to_thread(spec.run, ctx_action, model))
    timeout = step.timeout.total_seconds() if step.timeout else None
    try:
        result = await asyncio.wait_for(asyncio.shield(worker), timeout)
    except TimeoutError:
        ctx_action.cancel.set()
        worker.add_done_callback(_collect)  # its late outcome is not an unhandled error
        with suppress(Exception):
            await asyncio.wait_for(asyncio.shield(worker), _CANCEL_GRACE_S)
        raise TransientError(
            f"no answer within the step's timeout of {format_duration(step.timeout)}"
        ) from None
    except asyncio.CancelledError:
        ctx_action.cancel.set()
        worker.add_done_callback(_collect)
        raise
    except Cancelled as exc:
        raise PermanentError(str(exc)) from None
    except AdapterError:
        raise
    except Exception as exc:  # an adapter bug or an unexpected library error
        raise PermanentError(
            f"{spec.name} failed unexpectedly: {type(exc).__name__}: {exc}"
        ) from None
    return dict(result)


def _check_expectations(run: StepRun, outputs: dict[str, Any]) -> None:
    expected = run.ctx.resolve(run.step.expect or {})
    for key, want in expected.items():
        got = outputs.get(key)
        if got != want:
            raise StepFailed(f"check failed: {key} is {got!r}, expected {want!r}", outputs)


def _collect(future: asyncio.Future[Any]) -> None:
    """Take the outcome of a worker thread nobody awaits any more (cancelled or timed out)."""
    if not future.cancelled():
        future.exception()


def _asks(step: Step) -> set[str]:
    return {"secrets", "secret"}


ACTION = StepKind("action", describe, execute, simulate, _asks)
CHECK = StepKind("check", describe, execute, simulate, _asks)
