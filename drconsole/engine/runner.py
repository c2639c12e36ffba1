"""Runs a plan: the step DAG with independent steps in parallel, modes, retries, timeouts,
``on_failure``, abort and interruption, resume. Every fact goes to the journal first.

Blocking adapter calls run in worker threads; the event loop only schedules and asks people.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_fixed,
)

from drconsole.adapters import registry
from drconsole.adapters.base import (
    ActionContext,
    ActionSpec,
    AdapterError,
    Cancelled,
    CheckFailed,
    Effect,
    PermanentError,
    TransientError,
)
from drconsole.engine import clocks
from drconsole.engine.ceremony import CEREMONY_KINDS, CeremonySteps
from drconsole.engine.events import EventType
from drconsole.engine.modes import Mode
from drconsole.engine.operator import (
    FailureChoice,
    FieldSpec,
    InterruptedChoice,
    NoAnswer,
    Operator,
    Question,
    Signer,
)
from drconsole.engine.outcome import (
    ASK_AGAIN,
    Outcome,
    Refused,
    StepFailed,
    evidence_problem,
)
from drconsole.engine.people import answer_problem, name_key
from drconsole.engine.preview import check_params, placeholder
from drconsole.engine.state import (
    DONE_OK,
    FINISHED,
    RunResult,
    RunState,
    StepStatus,
    apply,
)
from drconsole.journal.journal import Event, JournalWriter
from drconsole.plans.model import (
    Backoff,
    EvidenceField,
    Guard,
    OnFailure,
    Plan,
    PlanKind,
    RetryPolicy,
    Step,
)
from drconsole.plans.refs import Ref, RefError, resolve
from drconsole.plans.validate import step_outputs
from drconsole.secrets import Secret
from drconsole.targets import Targets, TargetsError
from drconsole.timeutil import format_duration, format_timestamp, parse_timestamp, utcnow

_CANCEL_GRACE_S = 5.0
T = TypeVar("T")


class Observer(Protocol):
    """Told of each journaled event (after fsync) and of live output lines."""

    def event(self, event: Event, state: RunState) -> None: ...

    def live(self, step_id: str, line: str) -> None: ...


class _Abort(Exception):
    pass


class Engine:
    """Runs one plan in one run directory. Create, then ``await run()``."""

    def __init__(
        self,
        plan: Plan,
        *,
        journal: JournalWriter,
        state: RunState,
        operator: Operator,
        mode: Mode,
        inputs: dict[str, Any],
        targets: Targets | None = None,
        observers: list[Observer] | None = None,
        run_dir: Path | None = None,
    ) -> None:
        self.plan = plan
        self.journal = journal
        self.state = state
        self.operator = operator
        self.mode = mode
        self.inputs = inputs
        self.targets = targets or Targets()
        self.observers = list(observers or [])
        self.run_dir = run_dir or journal.run_dir
        self.ask_lock = asyncio.Lock()
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
        self.ceremony = CeremonySteps(self)

    # ----------------------------------------------------------------- journal and observers
    def emit(self, event_type: str, data: dict[str, Any]) -> Event:
        """Journal an event (fsynced), fold it into the state, then tell the observers.

        Raises:
            ValueError: ``event_type`` is not one of :class:`EventType` (a bug).
        """
        event = self.journal.append(EventType(event_type).value, data)
        apply(self.state, event)
        for observer in self.observers:
            with suppress(Exception):
                observer.event(event, self.state)
        return event

    def _live(self, step_id: str, line: str) -> None:
        clean = self.journal.redactor.clean(line)
        for observer in self.observers:
            with suppress(Exception):
                observer.live(step_id, clean)

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

    def clocks(self) -> clocks.Clocks:
        """RTO and RPO right now."""
        left = clocks.remaining_critical_path(self._needs, self._estimates, self.state)
        return clocks.measure(self.state, utcnow(), left)

    # ----------------------------------------------------------------- the run
    async def run(self) -> RunResult | None:
        """Run (or resume) to the end. Returns the result, or None when interrupted."""
        self._loop = asyncio.get_running_loop()
        await self._contained(self._sign_in_and_schedule())
        if self._interrupt_reason is None:
            await self._contained(self.ceremony.attest_all())
        if self._interrupt_reason is not None and self._abort_reason is None:
            self.emit("run_interrupted", {"reason": self._interrupt_reason})
            return None
        return self._finish()

    async def _sign_in_and_schedule(self) -> None:
        why_not = await self.ceremony.sign_in()
        if why_not is not None:
            self.interrupt(why_not)
            return
        await self._settle_interrupted()
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

    @property
    def stop_reason(self) -> str | None:
        """Why the run stopped early (interrupted or aborted), None while it runs on."""
        return self._abort_reason or self._interrupt_reason

    async def _cancel_all(self) -> None:
        """Cancel the step tasks still running and wait for them to end."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def _settle_interrupted(self) -> None:
        for step_id in self.state.interrupted_steps():
            step = self.plan.step(step_id)
            if self._idempotent(step):
                self.answer(step, "interrupted step", "rerun (safe to repeat)", self.operator.name)
                continue
            q = self.question(step)
            try:
                choice, reason = await self.ask_until(
                    lambda _problem: self.operator.interrupted(q),  # noqa: B023 (awaited here)
                    lambda _answer: None,
                    step=step_id,
                    question="interrupted step",
                )
            except (NoAnswer, Refused) as exc:
                # stop but stay resumable: the operator adds the decision and resumes
                self.interrupt(f"interrupted step {step_id!r} needs a decision: {exc}")
                raise _Abort from None
            self.answer(step, "interrupted step", f"{choice.value}: {reason}", self.operator.name)
            if choice is InterruptedChoice.ABORT:
                self.abort(f"aborted at interrupted step {step_id!r}: {reason}")
                raise _Abort
            if choice is InterruptedChoice.MARK_DONE:
                self.emit(
                    "step_finished",
                    {
                        "step": step_id,
                        "status": StepStatus.MARKED_DONE.value,
                        "reason": f"marked done by {self.operator.name}: {reason}",
                        "outputs": {},
                        "attempts": self.state.steps[step_id].attempts,
                    },
                )

    def _idempotent(self, step: Step) -> bool:
        if self.mode is Mode.DRY_RUN:
            return True  # a dry run called nothing, so repeating a step repeats nothing
        if step.idempotent is not None:
            return step.idempotent
        if step.call:
            spec = registry.lookup(step.call)
            return bool(spec and (spec.idempotent or spec.read_only))
        return True

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
                if task not in done:
                    continue
                del self._tasks[step_id]
                if task.cancelled():
                    if self._interrupt_reason is None:
                        self.emit(
                            "step_finished",
                            {
                                "step": step_id,
                                "status": StepStatus.CANCELLED.value,
                                "reason": self._abort_reason or "cancelled",
                                "outputs": {},
                                "attempts": self.state.steps[step_id].attempts,
                            },
                        )
                    continue
                exc = task.exception()
                if isinstance(exc, _Abort):
                    continue
                if exc is not None:
                    # a bug in drconsole itself: record it, stop the run, keep the record
                    self.emit(
                        "step_finished",
                        {
                            "step": step_id,
                            "status": StepStatus.FAILED.value,
                            "error": f"internal error: {type(exc).__name__}: {exc}",
                            "outputs": {},
                            "attempts": self.state.steps[step_id].attempts,
                        },
                    )
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
        self.emit("run_finished", {"result": result.value, "reason": reason, **_clock_fields(now)})
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
                await self.ceremony.initial(step)
            except StepFailed as exc:
                outcome = Outcome(StepStatus.FAILED, exc.outputs, str(exc))
            if outcome.continued:
                self._continued.add(step.id)  # an exception in a ceremony: recorded, go on
            elif outcome.status is StepStatus.FAILED:
                choice = await self._on_failure(step, outcome.error or "failed")
                if choice is FailureChoice.RETRY:
                    self.emit(
                        "step_finished",
                        {
                            "step": step.id,
                            "status": StepStatus.FAILED.value,
                            "error": outcome.error,
                            "outputs": outcome.outputs,
                            "reason": "retrying at the operator's request",
                            "attempts": self.state.steps[step.id].attempts,
                        },
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
                value = resolve(step.when, self._lookup)
            except RefError as exc:
                return f"condition cannot be read: {exc}"
            if _is_false(value):
                return f"condition is false ({step.when})"
        if step.always:
            try:
                resolve(step.with_, self._lookup)
            except RefError as exc:
                return f"nothing to do: {exc}"
        return None

    def _record(self, step: Step, outcome: Outcome, attempts_before: int) -> None:
        self.emit(
            "step_finished",
            {
                "step": step.id,
                "status": outcome.status.value,
                "outputs": outcome.outputs,
                "error": outcome.error,
                "reason": outcome.reason,
                "attempts": max(self.state.steps[step.id].attempts, attempts_before),
            },
        )
        self._wakeup.set()

    async def _on_failure(self, step: Step, error: str) -> FailureChoice | None:
        if step.on_failure is OnFailure.CONTINUE:
            return FailureChoice.CONTINUE
        if step.on_failure is OnFailure.STOP or self.mode is Mode.DRY_RUN:
            return None
        async with self.asking(step, "after failure"):
            try:
                choice = await self.operator.failed(self.question(step), error)
            except NoAnswer as exc:
                self.answer(step, "after failure", f"no answer: {exc}", self.operator.name)
                return None
        self.answer(step, "after failure", choice.value, self.operator.name)
        return choice

    def question(self, step: Step, **details: Any) -> Question:
        return Question(step.id, step.label, step.guidance, details)

    def answer(self, step: Step, question: str, answer: Any, by: str) -> None:
        self.emit(
            "operator_answer", {"step": step.id, "question": question, "answer": answer, "by": by}
        )

    def _lookup(self, ref: Ref) -> Any:
        if ref.root == "inputs":
            name = ref.parts[0]
            if name not in self.inputs:
                if name in self.plan.inputs:
                    return None
                raise RefError(f"{ref.text}: no such input")
            return self.inputs[name]
        if ref.root == "targets":
            try:
                value: Any = self.targets.site(ref.parts[0]).as_dict()
            except TargetsError as exc:
                raise RefError(f"{ref.text}: {exc}") from None
            for part in ref.parts[1:]:
                if not isinstance(value, dict) or part not in value:
                    raise RefError(f"{ref.text}: the targets file has no {part!r} there")
                value = value[part]
            return value
        step_id, _, output = ref.parts
        record = self.state.steps.get(step_id)
        if self.mode is Mode.DRY_RUN and record and record.status is StepStatus.SIMULATED:
            return placeholder(step_id, output)
        if record is None or output not in record.outputs:
            raise RefError(f"{ref.text}: step {step_id!r} gave no output {output!r}")
        return record.outputs[output]

    def resolve(self, value: Any) -> Any:
        try:
            return resolve(value, self._lookup)
        except RefError as exc:
            raise StepFailed(f"cannot resolve a parameter: {exc}") from None

    async def _execute(self, step: Step) -> Outcome:
        kind = step.kind
        spec = registry.lookup(step.call) if step.call else None
        params = self.resolve(step.with_) if step.call else {}
        description = self._describe(step, spec, params)
        self.emit(
            "step_started",
            {
                "step": step.id,
                "kind": kind,
                "attempt": self.state.steps[step.id].attempts + 1,
                "params": params,
                "description": description,
            },
        )
        if self.mode is Mode.DRY_RUN:
            return self._simulate(step, spec, params)
        if step.guards:
            await self._guard(step)
        if kind in ("action", "check"):
            assert spec is not None
            return await self._call(step, spec, params)
        if kind == "manual":
            return await self._manual(step)
        if kind == "approval":
            return await self._approval(step)
        if kind in CEREMONY_KINDS:
            return await self.ceremony.execute(step)
        if kind == "wait":
            assert step.wait is not None
            await asyncio.sleep(step.wait.total_seconds())
            return Outcome(StepStatus.SUCCEEDED, {"waited_s": step.wait.total_seconds()})
        return self._milestone(step)

    def _describe(self, step: Step, spec: ActionSpec | None, params: dict[str, Any]) -> str:
        if spec is not None:
            try:
                text = spec.describe(spec.params.model_validate(params))
            except ValidationError:
                text = f"{spec.name} with {_show(params)}"
            except Exception:  # a describer that cannot handle a placeholder: say it plainly
                text = f"{spec.name} with {_show(params)}"
            deferred = check_params(spec.name, spec.params, params).deferred
            if deferred:
                text += f"; checked when known: {', '.join(deferred)}"
            effect = spec.effect.value if not step.destructive else "destructive"
            site = f" on site {self._site_name(step)}" if step.site else ""
            guard = "".join(f" (refused while {g.refuse_when})" for g in step.guards)
            return f"{text}{site} [{effect}]{guard}"
        if step.manual is not None:
            fields = f"; record {', '.join(step.evidence)}" if step.evidence else ""
            return f"operator does: {str(self.resolve(step.manual)).strip()}{fields}"
        if step.approval is not None:
            roles = ", ".join(step.approval.roles) or "any role"
            return f"sign-off by {step.approval.signers} distinct people ({roles})"
        if step.checkbox is not None:
            return f"confirm: {step.checkbox.strip()} (if not, an exception is recorded)"
        if step.choice is not None:
            return f"choose: {step.choice.prompt} ({' / '.join(step.choice.options)})"
        if step.record is not None:
            return f"record {', '.join(step.record)}"
        if step.bag is not None:
            return f"{step.bag.event.value} bag {step.bag.label} ({step.bag.contents})"
        if step.quorum is not None:
            q = step.quorum
            return f"{q.need} distinct {q.role}s each present their own {q.present}"
        if step.wait is not None:
            return f"wait {format_duration(step.wait)}"
        return f"milestone {step.milestone}"

    def _simulate(self, step: Step, spec: ActionSpec | None, params: dict[str, Any]) -> Outcome:
        if spec is not None:
            problem = check_params(spec.name, spec.params, params).problem
            if problem is not None:
                raise StepFailed(problem)
            try:
                self._check_destructive_allowed(step, spec)
            except StepFailed as exc:
                return Outcome(StepStatus.FAILED, {}, f"would be refused: {exc}")
        outputs = {name: placeholder(step.id, name) for name in sorted(step_outputs(step) or ())}
        return Outcome(StepStatus.SIMULATED, outputs, reason="dry-run: nothing was called")

    # ----------------------------------------------------------------- step kinds
    def _site_name(self, step: Step) -> str | None:
        """The step's site; it may be a reference, e.g. ``${inputs.site}``."""
        if step.site is None:
            return None
        return str(self.resolve(step.site))

    def _check_destructive_allowed(self, step: Step, spec: ActionSpec) -> None:
        if not (step.destructive or spec.effect is Effect.DESTRUCTIVE):
            return
        if self.mode is Mode.DRILL:
            if step.site is None:
                raise StepFailed(
                    "in drill mode a destructive step must name a site marked "
                    "'drill: true' in the targets file"
                )
            try:
                site = self.targets.site(self._site_name(step) or "")
            except TargetsError as exc:
                raise StepFailed(str(exc)) from None
            if not site.drill:
                raise StepFailed(
                    f"drill mode refuses destructive steps on site {self._site_name(step)!r}: "
                    "it is not marked 'drill: true'. Use --mode real for a real "
                    "recovery, or a drill site"
                )

    async def _guard(self, step: Step) -> None:
        """Refuse the step while any of its guards' conditions holds, unless each one that
        holds is overridden with a reason (asked in the plan's order).

        Raises:
            StepFailed: refused, and no override was typed (nothing was done).
        """
        for guard in step.guards:
            await self._one_guard(step, guard)

    async def _one_guard(self, step: Step, guard: Guard) -> None:
        if _is_false(self.resolve(guard.refuse_when)):
            return
        because = str(self.resolve(guard.because))
        self.answer(step, "guard", f"refused: {because}", "drconsole")
        q = Question(
            step.id, step.label, step.guidance, {"guard": True, "override": guard.override}
        )
        prompt = (
            f"REFUSED: {because}. To go ahead anyway, type {guard.override!r}; "
            "you will be asked why."
        )
        try:
            await self._typed_text(step, q, prompt, guard.override)
        except NoAnswer:
            raise StepFailed(f"refused: {because}; nothing was done") from None
        except Refused:
            raise StepFailed(
                f"refused: {because}; the override did not match, nothing was done"
            ) from None
        reason_field = {"override_reason": EvidenceField(prompt="Why go ahead anyway?")}
        reason = (await self.ask_evidence(step, q, reason_field))["override_reason"]
        self.answer(step, "guard override", f"overridden: {reason}", self.operator.name)

    async def _typed_confirmation(self, step: Step) -> None:
        expected = str(self.resolve(step.confirm or ""))
        prompt = f"Type {expected!r} to go ahead with: {step.label}"
        try:
            await self._typed_text(step, self.question(step), prompt, expected)
        except NoAnswer as exc:
            raise StepFailed(f"not confirmed, nothing was done: {exc}") from None
        except Refused:
            raise StepFailed("the typed confirmation did not match; nothing was done") from None
        self.answer(step, "typed confirmation", "matched", self.operator.name)

    async def _typed_text(self, step: Step, q: Question, prompt: str, expected: str) -> None:
        """The operator types ``expected`` (each wrong text is journaled and refused).

        Raises:
            NoAnswer: the operator gave no answer.
            Refused: they typed something else each time.
        """

        def check(typed: str) -> str | None:
            if typed.strip() == expected:
                return None
            return f"that was not {expected!r}; nothing was done. Type it exactly"

        await self.ask_until(
            lambda problem: self.operator.typed_confirm(q, prompt, expected, problem),
            check,
            step=step.id,
            question="typed confirmation",
        )

    async def ask_until(
        self,
        ask: Callable[[str | None], Awaitable[T]],
        check: Callable[[T], str | None],
        *,
        step: str,
        question: str,
        who: str | None = None,
    ) -> T:
        """Ask (one question at a time) until ``check`` accepts the answer, ``ASK_AGAIN`` times
        at most; each refusal is journaled (``refused``) and passed to the next question.
        ``who`` is asked (the operator when None).

        Raises:
            NoAnswer: the operator gave no answer.
            Refused: every answer was refused (the last refusal).
        """
        problem: str | None = None
        for _ in range(ASK_AGAIN):
            async with self.asking(step, question, who):
                answer = await ask(problem)
            problem = answer_problem(answer, question) or check(answer)
            if problem is None:
                return answer
            self.refused(step, question, problem)
        raise Refused(problem)

    @asynccontextmanager
    async def asking(
        self, step: str | Step, question: str, who: str | None = None
    ) -> AsyncIterator[None]:
        """Hold the asking lock (one question at a time) and journal that a question waits
        (``question_asked``), so that whoever watches the run sees what it waits for."""
        step_id = step.id if isinstance(step, Step) else step
        async with self.ask_lock:
            asked = {"step": step_id, "question": question, "who": who or self.operator.name}
            self.emit("question_asked", asked)
            yield

    def refused(self, step: str | Step, question: str, reason: str) -> None:
        """Journal that an answer was refused and why (every refusal reaches the record)."""
        step_id = step.id if isinstance(step, Step) else step
        self.emit(
            "refused",
            {"step": step_id, "question": question, "reason": reason, "by": self.operator.name},
        )

    async def _call(self, step: Step, spec: ActionSpec, params: dict[str, Any]) -> Outcome:
        try:
            model = spec.params.model_validate(params)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise StepFailed(f"{spec.name} parameter {where}: {first['msg']}") from None
        self._check_destructive_allowed(step, spec)
        if step.destructive or spec.effect is Effect.DESTRUCTIVE:
            await self._typed_confirmation(step)
        site: dict[str, Any] = {}
        if step.site is not None:
            try:
                site = self.targets.site(self._site_name(step) or "").as_dict()
            except TargetsError as exc:
                raise StepFailed(str(exc)) from None
        policy = step.retry or RetryPolicy(attempts=1)
        wait = (
            wait_exponential(
                multiplier=policy.delay.total_seconds(), max=policy.max_delay.total_seconds()
            )
            if policy.backoff is Backoff.EXPONENTIAL
            else wait_fixed(policy.delay.total_seconds())
        )
        record = self.state.steps[step.id]  # its attempts count is kept by step_started

        def attempt_failed(error: object, transient: bool, retry_in_s: float | None) -> None:
            self.emit(
                "attempt_failed",
                {
                    "step": step.id,
                    "attempt": record.attempts,
                    "of": policy.attempts,
                    "error": str(error),
                    "transient": transient,
                    "retry_in_s": retry_in_s,
                },
            )

        def before_sleep(rs: RetryCallState) -> None:
            error = rs.outcome.exception() if rs.outcome else None
            delay = rs.next_action.sleep if rs.next_action else 0.0
            attempt_failed(error, True, round(delay, 3))

        retrying = AsyncRetrying(
            stop=stop_after_attempt(policy.attempts),
            wait=wait,
            retry=retry_if_exception_type(TransientError),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    if attempt.retry_state.attempt_number > 1:  # the first was journaled
                        self.emit(
                            "step_started",
                            {
                                "step": step.id,
                                "kind": step.kind,
                                "attempt": record.attempts + 1,
                                "params": params,
                                "description": record.description,
                            },
                        )
                    outputs = await self._attempt(step, spec, model, site)
        except AdapterError as exc:
            attempt_failed(exc, isinstance(exc, TransientError), None)
            evidence = exc.evidence if isinstance(exc, CheckFailed) else {}
            prefix = "check failed: " if isinstance(exc, CheckFailed) else ""
            tried = f" (after {record.attempts} attempts)" if record.attempts > 1 else ""
            raise StepFailed(f"{prefix}{exc}{tried}", evidence) from None
        if step.expect:
            self._check_expectations(step, outputs)
        return Outcome(StepStatus.SUCCEEDED, outputs)

    async def _attempt(
        self, step: Step, spec: ActionSpec, model: Any, site: dict[str, Any]
    ) -> dict[str, Any]:
        artefacts = self.run_dir / "artefacts" / step.id
        ctx = ActionContext(
            site=site,
            site_name=self._site_name(step),
            log=lambda line: self._live_from_thread(step.id, line),
            ask_secret=lambda prompt, problem=None: self._secret_from_thread(step, prompt, problem),
            artefact_dir=str(artefacts),
        )
        worker = asyncio.ensure_future(asyncio.to_thread(spec.run, ctx, model))
        timeout = step.timeout.total_seconds() if step.timeout else None
        try:
            result = await asyncio.wait_for(asyncio.shield(worker), timeout)
        except TimeoutError:
            ctx.cancel.set()
            worker.add_done_callback(_collect)  # its late outcome is not an unhandled error
            with suppress(Exception):
                await asyncio.wait_for(asyncio.shield(worker), _CANCEL_GRACE_S)
            raise TransientError(
                f"no answer within the step's timeout of {format_duration(step.timeout)}"
            ) from None
        except asyncio.CancelledError:
            ctx.cancel.set()
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

    def _live_from_thread(self, step_id: str, line: str) -> None:
        self._loop.call_soon_threadsafe(self._live, step_id, line)

    def _secret_from_thread(self, step: Step, prompt: str, problem: str | None) -> Secret:
        future = asyncio.run_coroutine_threadsafe(
            self._ask_secret(step, prompt, problem), self._loop
        )
        return future.result()

    async def _ask_secret(self, step: Step, prompt: str, problem: str | None = None) -> Secret:
        if problem is not None:
            self.refused(step, prompt, problem)
        async with self.asking(step, prompt):
            try:
                secret = await self.operator.secret(self.question(step), prompt, problem)
            except NoAnswer as exc:
                raise PermanentError(str(exc)) from None
        self.journal.redactor.register(secret)
        self.answer(
            step, prompt, f"secret given ({secret.source.split(':')[0]})", self.operator.name
        )
        return secret

    def _check_expectations(self, step: Step, outputs: dict[str, Any]) -> None:
        expected = self.resolve(step.expect or {})
        for key, want in expected.items():
            got = outputs.get(key)
            if got != want:
                raise StepFailed(f"check failed: {key} is {got!r}, expected {want!r}", outputs)

    async def _manual(self, step: Step) -> Outcome:
        q = self.question(step)
        if step.destructive:
            await self._typed_confirmation(step)  # before the operator does anything
        async with self.asking(step, "confirm"):
            try:
                done = await self.operator.confirm(q, f"Done? {self.resolve(step.manual)}")
            except NoAnswer as exc:
                raise StepFailed(str(exc)) from None
        self.answer(step, "confirm", "done" if done else "not done", self.operator.name)
        if not done:
            raise StepFailed("the operator did not confirm this step")
        outputs: dict[str, Any] = {"confirmed_by": self.operator.name}
        if step.evidence:
            outputs.update(await self.ask_evidence(step, q, step.evidence))
        return Outcome(StepStatus.SUCCEEDED, outputs)

    async def ask_evidence(
        self, step: Step, q: Question, spec: dict[str, EvidenceField]
    ) -> dict[str, str]:
        """Recorded values, checked against their types, patterns and choices."""
        fields = [
            FieldSpec(name, f.type.value, f.prompt, f.required, f.pattern, f.choices)
            for name, f in spec.items()
        ]
        try:
            values = await self.ask_until(
                lambda problem: self.operator.evidence(q, fields, problem),
                lambda values: evidence_problem(fields, values),
                step=step.id,
                question="evidence",
            )
        except NoAnswer as exc:
            raise StepFailed(str(exc)) from None
        except Refused as exc:
            raise StepFailed(f"evidence not accepted: {exc}") from None
        kept = {f.name: values[f.name] for f in fields if f.name in values}
        self.answer(step, "evidence", kept, self.operator.name)
        return kept

    async def _approval(self, step: Step) -> Outcome:
        assert step.approval is not None
        need, roles = step.approval.signers, list(step.approval.roles)
        try:
            signers = await self.ask_until(
                lambda problem: self.operator.signoff(self.question(step), need, roles, problem),
                lambda signers: (
                    _signoff_problem(signers, need, roles) or self.ceremony.signer_problem(signers)
                ),
                step=step.id,
                question="sign-off",
                who=f"{need} distinct signers" + (f" ({', '.join(roles)})" if roles else ""),
            )
        except (NoAnswer, Refused) as exc:
            raise StepFailed(f"not approved: {exc}") from None
        listed = [{"name": s.name, "role": s.role} for s in signers]
        self.answer(step, "sign-off", listed, self.operator.name)
        return Outcome(StepStatus.SUCCEEDED, {"signers": listed})

    def _milestone(self, step: Step) -> Outcome:
        now = utcnow()
        recovery_point = None
        if step.recovery_point is not None and self.resolve(step.recovery_point) is not None:
            raw = self.resolve(step.recovery_point)
            try:
                recovery_point = format_timestamp(parse_timestamp(raw))
            except ValueError as exc:
                raise StepFailed(f"recovery point {raw!r} is not a timestamp: {exc}") from None
        self.emit(
            "milestone",
            {
                "step": step.id,
                "name": step.milestone,
                "at": format_timestamp(now),
                "recovery_point": recovery_point,
            },
        )
        measured = clocks.measure(self.state, now)
        self.emit("clock", {"reason": f"milestone {step.milestone}", **_clock_fields(measured)})
        return Outcome(
            StepStatus.SUCCEEDED, {"at": format_timestamp(now), "recovery_point": recovery_point}
        )


def _collect(future: asyncio.Future[Any]) -> None:
    """Take the outcome of a worker thread nobody awaits any more (cancelled or timed out)."""
    if not future.cancelled():
        future.exception()


def _clock_fields(c: clocks.Clocks) -> dict[str, Any]:
    def seconds(value: timedelta | None) -> float | None:
        return round(value.total_seconds(), 3) if value is not None else None

    return {
        "rto_s": seconds(c.rto_elapsed),
        "rto_status": c.rto_status,
        "rpo_s": seconds(c.rpo_achieved),
        "rpo_status": c.rpo_status,
    }


def _show(params: dict[str, Any]) -> str:
    """Parameters as an operator reads them: ``key=value`` pairs, not a Python repr."""
    return ", ".join(f"{key}={value}" for key, value in params.items()) or "no parameters"


def _is_false(value: Any) -> bool:
    """How a condition (``when``, a guard) reads a resolved value."""
    return value in (False, None, "", 0, "false", "no")


def _signoff_problem(signers: list[Signer], need: int, roles: list[str]) -> str | None:
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
