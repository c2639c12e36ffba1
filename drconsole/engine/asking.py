"""The ask loop: one question at a time, each journaled while it waits (``question_asked``),
every refused answer journaled (``refused``) and asked again with the reason, every accepted
answer journaled (``operator_answer``).

:class:`Asking` is the half of the run context that talks to people; the context supplies
``emit`` and the operator.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from drconsole.engine import events
from drconsole.engine.events import NewEvent
from drconsole.engine.operator import FieldSpec, NoAnswer, Operator, Question
from drconsole.engine.outcome import ASK_AGAIN, Refused, StepFailed, evidence_problem
from drconsole.journal.journal import Event
from drconsole.people import answer_problem
from drconsole.plans.model import EvidenceField, Step
from drconsole.plans.refs import Ref, resolve_known

T = TypeVar("T")


class Asking:
    """Questions to people on behalf of one run."""

    operator: Operator

    def __init__(self, operator: Operator) -> None:
        self.operator = operator
        self.ask_lock = asyncio.Lock()

    def emit(self, new: NewEvent) -> Event:  # pragma: no cover (the run context's)
        raise NotImplementedError

    def lookup(self, ref: Ref) -> Any:  # pragma: no cover (the run context's)
        raise NotImplementedError

    def question(self, step: Step, **details: Any) -> Question:
        """A question at ``step``; its guidance reads with the values the run knows now, as
        the run screen shows it (``back to ${inputs.target_time}`` as typed)."""
        guidance = resolve_known(step.guidance, self.lookup) if step.guidance else None
        return Question(step.id, step.label, guidance, details)

    def answer(self, step: Step, question: str, answer: Any, by: str) -> None:
        self.emit(events.operator_answer(step.id, question, answer, by))

    def refused(self, step: str | Step, question: str, reason: str, by: str | None = None) -> None:
        """Journal that something was refused and why (every refusal reaches the record): an
        answer the operator gave, or (``by="drconsole"``) a guard refusing the step itself."""
        step_id = step.id if isinstance(step, Step) else step
        self.emit(events.refused(step_id, question, reason, by or self.operator.name))

    @asynccontextmanager
    async def asking(
        self, step: str | Step, question: str, who: str | None = None
    ) -> AsyncIterator[None]:
        """Hold the asking lock (one question at a time) and journal that a question waits
        (``question_asked``), so that whoever watches the run sees what it waits for."""
        step_id = step.id if isinstance(step, Step) else step
        async with self.ask_lock:
            self.emit(events.question_asked(step_id, question, who or self.operator.name))
            yield

    async def ask_until(
        self,
        ask: Callable[[str | None], Awaitable[T]],
        check: Callable[[T], str | None],
        *,
        step: str,
        question: str,
        who: str | None = None,
        about: str | None = None,
    ) -> T:
        """Ask (one question at a time) until ``check`` accepts the answer, ``ASK_AGAIN`` times
        at most; each refusal is journaled (``refused``) and passed to the next question.
        ``who`` is asked (the operator when None); ``about`` is journaled with the question.

        Raises:
            NoAnswer: the operator gave no answer.
            Refused: every answer was refused (the last refusal).
        """
        problem: str | None = None
        # the lock is held until the answer is accepted: a refused answer is asked again at
        # once, with its reason, before any other step's question can come in between
        async with self.ask_lock:
            for tries_left in range(ASK_AGAIN - 1, -1, -1):
                self.emit(events.question_asked(step, question, who or self.operator.name, about))
                answer = await ask(_with_tries_left(problem, tries_left + 1))
                problem = answer_problem(answer, question) or check(answer)
                if problem is None:
                    return answer
                self.refused(step, question, problem)
        raise Refused(problem)

    async def ask_evidence(
        self, step: Step, q: Question, spec: dict[str, EvidenceField]
    ) -> dict[str, str]:
        """Recorded values, checked against their types, patterns and choices.

        Raises:
            StepFailed: no answer, or no acceptable one.
        """
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

    async def typed_text(self, step: Step, q: Question, prompt: str, expected: str) -> None:
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


def _with_tries_left(problem: str | None, tries: int) -> str | None:
    """A refusal as the person asked again reads it: with how many tries are left (the journal
    keeps the reason alone)."""
    if problem is None:
        return None
    if tries == 1:
        return f"{problem} (last try: another refusal fails the step)"
    return f"{problem} ({tries} tries left)"
