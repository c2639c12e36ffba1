"""Runs a plan: the step DAG with independent steps in parallel, modes, ``on_failure``, abort
and interruption, resume. Every fact goes to the journal first.

The engine only schedules and decides what follows a step; what a step does is its kind's
(``engine/steps/``), given the run context (``engine/context.py``); asking people is
``engine/asking.py``, retries ``engine/retry.py``, the drill/destructive/guard policy
``engine/policy.py``. Blocking adapter calls run in worker threads; the event loop only
schedules and asks people.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from drconsole import faultlog
from drconsole.adapters import registry
from drconsole.engine import clocks, events, policy
from drconsole.engine.ceremony import CeremonySteps
from drconsole.engine.context import Observer, RunContext
from drconsole.engine.events import EventType, NewEvent
from drconsole.engine.modes import Mode
from drconsole.engine.operator import (
    FailureChoice,
    InterruptedChoice,
    NoAnswer,
    Operator,
    Question,
)
from drconsole.engine.outcome import Outcome, Refused, StepFailed
from drconsole.engine.steps import KINDS, StepRun
from drconsole.journal.journal import JournalWriter
from drconsole.plans.model import OnFailure, Plan, PlanKind, Step
from drconsole.plans.refs import RefError, resolve
from drconsole.runs.state import DONE_OK, FINISHED, RunResult, RunState, StepStatus
from drconsole.timeutil import utcnow


class _Abort(Exception):
    pass


class Engine:
    """Runs one plan in one run directory. Create, then ``await run()``."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        plan, state = ctx.plan, ctx.state
        self.ceremony = CeremonySteps(self.ctx)
        self._tasks: dict[str, asyncio.Task[Outcome]] = {}
        self._abort_reason: str | None = None
        self._interrupt_reason: str | None = None
        self._stop_reason: str | None = None
        self._wakeup = asyncio.Event()
        self._continued: set[str] = {
            s.id
            for s in state.steps.values()
            if s.status is StepStatus.FAILED and s.reason == "continued"
        }
        self._estimates = {s.id: s.estimate for s in plan.steps if s.estimate is not None}
        self._needs = {s.id: list(s.needs) for s in plan.steps}

    # ----------------------------------------------------------------- what others read
    @property
    def plan(self) -> Plan:
        return self.ctx.plan

    @property
    def journal(self) -> JournalWriter:
        return self.ctx.journal

    @property
    def state(self) -> RunState:
        return self.ctx.state

    @property
    def operator(self) -> Operator:
        return self.ctx.operator

    @property
    def mode(self) -> Mode:
        return self.ctx.mode

    @property
    def observers(self) -> list[Observer]:
        return self.ctx.observers

    @property
    def run_dir(self) -> Path:
        return self.ctx.run_dir

    def question(self, step: Step, **details: Any) -> Question:
        return self.ctx.question(step, **details)

    def clocks(self) -> clocks.Clocks:
        """RTO and RPO right now."""
        now = utcnow()
        left, _ = clocks.remaining_critical_path(self._needs, self._estimates, self.state, now)
        return clocks.measure(self.state, now, left)

    @property
    def stop_reason(self) -> str | None:
        """Why the run stopped early (interrupted or aborted), None while it runs on."""
        return self._abort_reason or self._interrupt_reason

    # ----------------------------------------------------------------- controls
    def abort(self, reason: str) -> None:
        """Stop the run for good: running steps are cancelled, the run ends as aborted."""
        self._abort_reason = self._abort_reason or reason
        for task in self._tasks.values():
            task.cancel()
        self._wakeup.set()

    def interrupt(self, reason: str) -> None:
        """Stop now but leave the run resumable (the running steps count as interrupted)."""
        self._interrupt_reason = self._interrupt_reason or reason
        for task in self._tasks.values():
            task.cancel()
        self._wakeup.set()

    # ----------------------------------------------------------------- the run
    async def run(self) -> RunResult | None:
        """Run (or resume) to the end. Returns the result, or None when interrupted."""
        self.ctx.loop = asyncio.get_running_loop()
        await self._contained(self._sign_in_and_schedule())
        if self._interrupt_reason is None:
            await self._contained(self.ceremony.attest_all())
        self._record_faults()
        if self._interrupt_reason is not None and self._abort_reason is None:
            self.ctx.emit(NewEvent(EventType.RUN_INTERRUPTED, {"reason": self._interrupt_reason}))
            return None
        return self._finish()

    def _sites(self) -> set[str]:
        """The sites the plan's steps act on (a reference resolved, when it can be)."""
        found = set()
        for step in self.plan.steps:
            try:
                site = self.ctx.site_name(step)
            except StepFailed:
                continue
            if site is not None:
                found.add(site)
        return found

    def _record_faults(self) -> None:
        """Copy what a drill facilitator injected during the run from the sandbox's fault log
        into the journal. On a sandbox the journal says so once even when nothing was injected
        (its report then never reads the sandbox's log); elsewhere nothing is written."""
        log = faultlog.log_for(self.state.targets_file)
        if log is None or self.state.started_at is None:
            return
        entries = faultlog.concerning(faultlog.read_log(log), self.state.started_at, utcnow())
        sites = self._sites()  # a fault on a site the plan never touches is not its concern
        new = [e for e in entries if e.get("site") in sites and e not in self.state.faults]
        if new or not self.state.faults_recorded:
            self.ctx.emit(events.faults_recorded(new))

    async def _sign_in_and_schedule(self) -> None:
        why_not = await self.ceremony.sign_in()
        if why_not is not None:
            self.interrupt(why_not)
            return
        await self._settle_interrupted()
        if self.mode is not Mode.DRY_RUN:  # libraries imported once, before steps run together
            calls = [step.call for step in self.plan.steps if step.call]
            await asyncio.to_thread(registry.preload, calls)
        await self._schedule()

    async def _contained(self, work: Awaitable[None]) -> None:
        """Run ``work``; an abort ends it, and a bug in drconsole interrupts the run with the
        error as its reason (journaled, resumable) instead of losing it."""
        try:
            await work
        except _Abort:
            pass
        except Exception as exc:
            self.interrupt(f"internal error: {type(exc).__name__}: {exc}")
            await self._cancel_all()

    async def _cancel_all(self) -> None:
        """Cancel the step tasks still running and wait for them to end."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    def _finished(self, step_id: str, status: StepStatus, **fields: Any) -> None:
        """Journal a step's end (``step_finished``) with its attempts so far."""
        attempts = fields.pop("attempts", self.state.steps[step_id].attempts)
        self.ctx.emit(events.step_finished(step_id, status.value, attempts, **fields))

    async def _settle_interrupted(self) -> None:
        ctx = self.ctx
        for step_id in self.state.interrupted_steps():
            step = self.plan.step(step_id)
            if policy.idempotent(self.mode, step):
                ctx.answer(step, "interrupted step", "rerun (safe to repeat)", self.operator.name)
                continue
            q = ctx.question(step)
            try:
                choice, reason = await ctx.ask_until(
                    lambda _problem: self.operator.interrupted(q),  # noqa: B023 (awaited here)
                    lambda _answer: None,
                    step=step_id,
                    question="interrupted step",
                )
            except (NoAnswer, Refused) as exc:
                # stop but stay resumable: the operator adds the decision and resumes
                self.interrupt(f"interrupted step {step_id!r} needs a decision: {exc}")
                raise _Abort from None
            ctx.answer(step, "interrupted step", f"{choice.value}: {reason}", self.operator.name)
            if choice is InterruptedChoice.ABORT:
                self.abort(f"aborted at interrupted step {step_id!r}: {reason}")
                raise _Abort
            if choice is InterruptedChoice.MARK_DONE:
                why = f"marked done by {self.operator.name}: {reason}"
                self._finished(step_id, StepStatus.MARKED_DONE, reason=why)

    def _ready(self, step: Step, stopping: bool) -> bool:
        if step.always:
            # cleanup: once every need has ended, or can no longer start because we stop
            return all(
                self.state.steps[dep].status in FINISHED or (stopping and dep not in self._tasks)
                for dep in step.needs
            )
        if stopping:
            return False
        for dep in step.needs:
            status = self.state.steps[dep].status
            if status in DONE_OK:
                continue
            if status is StepStatus.FAILED and dep in self._continued:
                continue
            return False
        return True

    async def _schedule(self) -> None:
        while True:
            stopping = self._abort_reason or self._interrupt_reason or self._stop_reason
            if not (self._abort_reason or self._interrupt_reason):
                for step in self.plan.steps:
                    record = self.state.steps[step.id]
                    if (
                        record.status in (StepStatus.PENDING, StepStatus.RUNNING)
                        and step.id not in self._tasks
                        and self._ready(step, bool(stopping))
                    ):
                        self._tasks[step.id] = asyncio.create_task(self._run_step(step))
            if not self._tasks:
                return
            self._wakeup.clear()
            waiter = asyncio.create_task(self._wakeup.wait())
            done, _ = await asyncio.wait(
                [*self._tasks.values(), waiter], return_when=asyncio.FIRST_COMPLETED
            )
            waiter.cancel()
            for step_id, task in list(self._tasks.items()):
                if task in done:
                    del self._tasks[step_id]
                    self._ended(step_id, task)

    def _ended(self, step_id: str, task: asyncio.Task[Outcome]) -> None:
        """A step's task ended: journal a cancellation or an internal error (a step that ran
        to its end journaled itself)."""
        if task.cancelled():
            if self._interrupt_reason is None:
                reason = self._abort_reason or "cancelled"
                self._finished(step_id, StepStatus.CANCELLED, reason=reason)
            return
        exc = task.exception()
        if exc is None or isinstance(exc, _Abort):
            return
        # a bug in drconsole itself: record it, stop the run, keep the record
        error = f"internal error: {type(exc).__name__}: {exc}"
        self._finished(step_id, StepStatus.FAILED, error=error)
        self._stop_reason = f"step {step_id!r} hit an internal error"

    def _finish(self) -> RunResult:
        if self._abort_reason is not None:
            result, reason = RunResult.ABORTED, self._abort_reason
        else:
            failed = [
                s.id
                for s in self.state.steps.values()
                if s.status is StepStatus.FAILED and s.id not in self._continued
            ]
            unfinished = [s.id for s in self.state.steps.values() if s.status not in FINISHED]
            if failed:
                result = RunResult.FAILED
                reason = f"step {failed[0]!r} failed" + (
                    f"; not run: {', '.join(unfinished)}" if unfinished else ""
                )
            elif unfinished:
                result, reason = RunResult.FAILED, f"not run: {', '.join(unfinished)}"
            elif self.plan.kind in (PlanKind.VERIFICATION, PlanKind.CEREMONY) and (
                found := sorted(self._continued - {e["step"] for e in self.state.exceptions})
            ):
                # a verification's findings are its result: a failed check fails the run,
                # even when the plan went on to collect the other findings (a ceremony's
                # exceptions are recorded decisions, not failures)
                result = RunResult.FAILED
                reason = f"{len(found)} check(s) found a problem: {', '.join(found)}"
            else:
                result, reason = RunResult.SUCCEEDED, "every step finished"
        if self.state.exceptions:
            reason += f"; {len(self.state.exceptions)} exception(s) recorded"
        now = clocks.measure(self.state, utcnow(), finishing=True)
        data = {"result": result.value, "reason": reason, **now.fields()}
        self.ctx.emit(NewEvent(EventType.RUN_FINISHED, data))
        return result

    # ----------------------------------------------------------------- one step
    async def _run_step(self, step: Step) -> Outcome:
        attempts_before = self.state.steps[step.id].attempts
        skip = self._skip_reason(step)
        if skip is not None:
            outcome = Outcome(StepStatus.SKIPPED, reason=skip)
            self._record(step, outcome, attempts_before)
            return outcome
        while True:
            try:
                outcome = await self._execute(step)
            except StepFailed as exc:
                outcome = Outcome(StepStatus.FAILED, exc.outputs, str(exc))
            if KINDS[step.kind].initials:  # what the witness saw, a failure included
                outcome = await self.ceremony.initialled(step, outcome)
            if outcome.continued:
                self._continued.add(step.id)  # an exception in a ceremony: recorded, go on
            elif outcome.status is StepStatus.FAILED:
                choice = await self._on_failure(step, outcome.error or "failed")
                if choice is FailureChoice.RETRY:
                    retrying = "retrying at the operator's request"
                    self._finished(
                        step.id,
                        StepStatus.FAILED,
                        error=outcome.error,
                        outputs=outcome.outputs,
                        reason=retrying,
                    )
                    continue
                if choice is FailureChoice.CONTINUE:
                    outcome.reason = "continued"
                    self._continued.add(step.id)
                elif choice is FailureChoice.ABORT:
                    self._record(step, outcome, attempts_before)
                    self.abort(f"aborted after step {step.id!r} failed")
                    raise _Abort
                else:
                    self._stop_reason = f"step {step.id!r} failed"
            self._record(step, outcome, attempts_before)
            return outcome

    def _skip_reason(self, step: Step) -> str | None:
        """Why a step will not run: its ``when`` is false, or (for an ``always`` step) its
        parameters need outputs of steps that did not succeed. None when it runs."""
        if step.when is not None:
            try:
                value = resolve(step.when, self.ctx.lookup)
            except RefError as exc:
                return f"condition cannot be read: {exc}"
            if policy.is_false(value):
                return f"condition is false ({step.when})"
        if step.always:
            try:
                resolve(step.with_, self.ctx.lookup)
            except RefError as exc:
                return f"nothing to do: {exc}"
        return None

    def _record(self, step: Step, outcome: Outcome, attempts_before: int) -> None:
        self._finished(
            step.id,
            outcome.status,
            outputs=outcome.outputs,
            error=outcome.error,
            reason=outcome.reason,
            attempts=max(self.state.steps[step.id].attempts, attempts_before),
        )
        self._wakeup.set()

    async def _on_failure(self, step: Step, error: str) -> FailureChoice | None:
        if step.on_failure is OnFailure.CONTINUE:
            return FailureChoice.CONTINUE
        if step.on_failure is OnFailure.STOP or self.mode is Mode.DRY_RUN:
            return None
        ctx = self.ctx
        async with ctx.asking(step, "after failure"):
            try:
                choice = await self.operator.failed(ctx.question(step), error)
            except NoAnswer as exc:
                ctx.answer(step, "after failure", f"no answer: {exc}", self.operator.name)
                return None
        ctx.answer(step, "after failure", choice.value, self.operator.name)
        return choice

    async def _execute(self, step: Step) -> Outcome:
        kind = KINDS[step.kind]
        spec = registry.lookup(step.call) if step.call else None
        params = self.ctx.resolve(step.with_) if step.call else {}
        run = StepRun(self.ctx, self.ceremony, step, spec, params)
        attempt = self.state.steps[step.id].attempts + 1
        self.ctx.emit(events.step_started(step.id, step.kind, attempt, params, kind.describe(run)))
        if self.mode is Mode.DRY_RUN:
            return kind.simulate(run)
        if step.guards:
            await policy.guard(self.ctx, step)
        return await kind.execute(run)
