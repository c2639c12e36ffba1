"""The answers-file operator for headless runs (and scripted tests).

An answers file (YAML or JSON) answers the operator by step id::

    operator: op-1
    inputs: {target_time: "2026-11-26T02:00:00Z"}
    steps:
      brief: {confirm: true}
      wipe: {typed: qsign-db}
      approve:
        signoffs:
          - {name: so-1, role: security_officer}
          - {name: witness-1, role: witness}
      bag: {evidence: {bag_id: A1234567}}
      unseal: {secrets: [{env: SHARE_1}, {file: /run/keys/share2}]}
      restore: {on_interrupted: rerun}          # or mark_done (with reason) or abort
      flaky: {on_failure: continue}             # or retry or abort
      promote: {override: {typed: PROMOTE ANYWAY, reason: primary fenced at the switch}}
      # several guards on one step: a list, each override with its own reason

A ceremony adds the sign-in sheet, initials (per step, or a default for every step), the
decisions on exceptions, quorum presentations and closing attestations::

    participants:
      - {name: Kim Min, role: administrator, affiliation: QSIGN Ops, initials: KM}
      - {name: Lee Ji, role: witness, affiliation: Audit, initials: LJ}
      - {name: Park Su, role: custodian, affiliation: Security, initials: PS, holds: [card-1]}
    initials: {actor: KM, witness: LJ}          # default for steps without their own
    attestations:
      KM: {agree: true}
      LJ: {agree: false, reason: the bag at step 4 was opened before I arrived}
    steps:
      open-safe: {initials: {actor: PS, witness: LJ}}
      bag-check: {exception: {decision: continue; bag photographed}}
      cards: {quorum: [{initials: PS, token: card-1}, {initials: CH, token: card-2}]}

A secret answer names an environment variable or a file, never a literal value.

Before a run starts, ``check_fits`` holds the file against the plan: an answer for a step the
plan does not have, or of a kind the step never asks (a sign-off for a manual step), is
refused by name, and every secret the remaining steps name must be readable then, not half
way through a run. Every text in the file is plain text (``people.answer_problem``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from drconsole.adapters import registry
from drconsole.engine import policy
from drconsole.engine.ceremony_rules import Participant
from drconsole.engine.operator import (
    FailureChoice,
    FieldSpec,
    InterruptedChoice,
    NoAnswer,
    Question,
    Signer,
)
from drconsole.engine.steps import KINDS
from drconsole.people import answer_problem, name_key
from drconsole.plans.model import OnFailure, Plan, Step
from drconsole.plans.yamlpos import YamlSyntaxError, load_yaml
from drconsole.secrets import Secret, SecretSourceError, secret_from_reference


class AnswersError(ValueError):
    """The answers file cannot be used; the message says why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignerAnswer(_Strict):
    name: str = Field(min_length=1)
    role: str = Field(min_length=1)


class OverrideAnswer(_Strict):
    typed: str
    reason: str = Field(min_length=1)


class InitialsAnswer(_Strict):
    actor: str = Field(min_length=1)
    witness: str = Field(min_length=1)


class ExceptionAnswer(_Strict):
    happened: str | None = None
    decision: str = Field(min_length=1)


class QuorumAnswer(_Strict):
    initials: str = Field(min_length=1)
    token: str = Field(min_length=1)


class ParticipantAnswer(_Strict):
    name: str = Field(min_length=1)
    role: str = Field(min_length=1)
    affiliation: str = ""
    initials: str = Field(min_length=1)
    holds: list[str] = Field(default_factory=list)


class AttestationAnswer(_Strict):
    agree: bool
    reason: str | None = None


class StepAnswers(_Strict):
    confirm: bool | None = None
    typed: str | None = None
    secrets: list[dict[str, str]] = Field(default_factory=list)
    secret: dict[str, str] | None = None
    signoffs: list[SignerAnswer] | None = None
    evidence: dict[str, Any] | None = None
    on_interrupted: InterruptedChoice | None = None
    on_failure: FailureChoice | None = None
    reason: str | None = None
    override: OverrideAnswer | list[OverrideAnswer] | None = None
    initials: InitialsAnswer | None = None
    exception: ExceptionAnswer | None = None
    quorum: list[QuorumAnswer] | None = None


class AnswersFile(_Strict):
    operator: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    steps: dict[str, StepAnswers] = Field(default_factory=dict)
    participants: list[ParticipantAnswer] | None = None
    initials: InitialsAnswer | None = None
    attestations: dict[str, AttestationAnswer] = Field(default_factory=dict)


def load_answers(path: str | Path) -> AnswersFile:
    """Read and check an answers file.

    Raises:
        AnswersError: unreadable, not YAML, or of the wrong shape (with the place).
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise AnswersError(f"cannot read answers file {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AnswersError(
            f"answers file {path} is not UTF-8 text (byte {exc.start} is not): save it as UTF-8"
        ) from None
    try:
        data = load_yaml(text).data or {}  # the plans' loader: bounded, aliases counted in full
    except YamlSyntaxError as exc:
        where = f"{path}:{exc.position.line}:{exc.position.col}"
        raise AnswersError(f"{where}: not valid YAML for an answers file: {exc.message}") from None
    problem = answer_problem(data, "") if isinstance(data, dict) else None
    if problem is not None:
        raise AnswersError(f"answers file {path}: {problem}")
    try:
        return AnswersFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise AnswersError(f"answers file {path}: {where}: {first['msg']}") from None


def _asks(plan: Plan, step: Step) -> set[str]:
    """The kinds of answer (``StepAnswers`` fields) ``step`` can ask for."""
    asks = {"on_failure"} if step.on_failure is OnFailure.ASK else set()
    if not policy.repeatable(step):  # asked when a real run resumes with the step interrupted
        asks |= {"on_interrupted", "reason"}
    if policy.destructive(step, registry.lookup(step.call) if step.call else None):
        asks.add("typed")
    if step.guard is not None:
        asks |= {"override", "evidence"}
    kind = KINDS[step.kind]
    if plan.ceremony is not None and kind.initials:
        asks.add("initials")
    asks |= kind.asks(step)
    return asks


def fit_problems(
    answers: AnswersFile, plan: Plan, remaining: Iterable[str] | None = None
) -> list[str]:
    """What in ``answers`` does not fit ``plan``, one sentence each (empty when all fits).

    Secret references are read (to check them and register their values for masking) only
    for the steps in ``remaining`` (every step when None)."""
    problems: list[str] = []
    ids = [s.id for s in plan.steps]
    for step_id, given in answers.steps.items():
        if step_id not in ids:
            close = difflib.get_close_matches(step_id, ids, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"steps.{step_id}: plan {plan.id} has no step {step_id!r}{hint}")
            continue
        step = plan.step(step_id)
        for kind in sorted(given.model_fields_set - _asks(plan, step)):
            problems.append(
                f"steps.{step_id}.{kind}: step {step_id!r} ({step.kind}) never asks for {kind}"
            )
    if plan.ceremony is None:
        for key in ("participants", "initials", "attestations"):
            if key in answers.model_fields_set:
                problems.append(f"{key}: plan {plan.id} is not a ceremony")
    initials = {name_key(p.initials) for p in answers.participants or []}
    for who in answers.attestations:
        if answers.participants is not None and name_key(who) not in initials:
            problems.append(f"attestations.{who}: nobody in participants has initials {who!r}")
    wanted = set(ids if remaining is None else remaining)
    for step_id, given in answers.steps.items():
        refs = list(given.secrets) + ([given.secret] if given.secret else [])
        for number, ref in enumerate(refs if step_id in wanted else [], 1):
            try:
                secret_from_reference(ref)
            except SecretSourceError as exc:
                problems.append(f"steps.{step_id}: secret {number}: {exc}")
    return problems


def check_fits(operator: object, plan: Plan, remaining: Iterable[str] | None = None) -> None:
    """Refuse an answers file that does not fit the plan (nothing to do for other operators).

    Raises:
        AnswersError: every problem found, one per line.
    """
    if not isinstance(operator, AnswersOperator):
        return
    problems = fit_problems(operator.answers, plan, remaining)
    if problems:
        raise AnswersError(
            "the answers file does not fit the plan (nothing was run):\n  " + "\n  ".join(problems)
        )


class AnswersOperator:
    """Answers questions from an answers file; ``yes`` confirms confirmations by itself."""

    def __init__(
        self, answers: AnswersFile | None = None, *, name: str | None = None, yes: bool = False
    ) -> None:
        self.answers = answers or AnswersFile()
        self.name = name or self.answers.operator or "operator"
        self.yes = yes
        self._secret_index: dict[str, int] = {}

    def _step(self, q: Question) -> StepAnswers:
        return self.answers.steps.get(q.step_id) or StepAnswers()

    def _override(self, q: Question) -> OverrideAnswer | None:
        """A guard's override: the one given, or of a list the one typed for this guard."""
        given = self._step(q).override
        if not isinstance(given, list):
            return given
        wanted = q.details.get("override")
        # none typed for this guard: no answer (never another guard's override)
        return next((o for o in given if o.typed == wanted), None)

    def _missing(self, q: Question, what: str, example: str) -> NoAnswer:
        return NoAnswer(
            f"the answers file has no {what} for step {q.step_id!r}; add "
            f"steps: {{{q.step_id}: {example}}}"
        )

    async def confirm(self, q: Question, prompt: str) -> bool:
        answer = self._step(q).confirm
        if answer is None:
            if self.yes:
                return True
            raise self._missing(q, "confirmation", "{confirm: true}")
        return answer

    async def typed_confirm(
        self, q: Question, prompt: str, expected: str, problem: str | None = None
    ) -> str:
        if problem:
            raise NoAnswer(problem)
        if q.details.get("guard"):
            override = self._override(q)
            if override is None:
                raise NoAnswer(f"no override for step {q.step_id!r}")
            return override.typed
        typed = self._step(q).typed
        if typed is None:
            if self.yes:
                return expected
            raise self._missing(q, "typed confirmation", "{typed: TEXT}")
        return typed

    async def secret(self, q: Question, prompt: str, problem: str | None = None) -> Secret:
        """The step's next secret in the file's list; after a refusal too (the list can hold
        the corrected one, as a custodian types theirs again)."""
        step = self._step(q)
        refs = list(step.secrets) + ([step.secret] if step.secret else [])
        index = self._secret_index.get(q.step_id, 0)
        if index >= len(refs):
            missing = self._missing(q, f"secret number {index + 1}", "{secrets: [{env: VARIABLE}]}")
            raise NoAnswer(f"{problem}; {missing}") if problem else missing
        self._secret_index[q.step_id] = index + 1
        try:
            return secret_from_reference(refs[index])
        except SecretSourceError as exc:
            raise NoAnswer(f"step {q.step_id!r}: {exc}") from None

    async def signoff(
        self, q: Question, signers: int, roles: list[str], problem: str | None = None
    ) -> list[Signer]:
        if problem:
            raise NoAnswer(problem)
        answers = self._step(q).signoffs
        if answers is None:
            raise self._missing(q, "sign-offs", "{signoffs: [{name: NAME, role: ROLE}]}")
        return [Signer(a.name, a.role) for a in answers]

    async def evidence(
        self, q: Question, fields: list[FieldSpec], problem: str | None = None
    ) -> dict[str, str]:
        if problem:
            raise NoAnswer(problem)
        step = self._step(q)
        override = self._override(q) if q.details.get("guard") else None
        if override is not None:
            return {"override_reason": override.reason}
        given = step.evidence
        if given is None:
            if not any(f.required for f in fields):
                return {}
            names = ", ".join(f"{f.name}: VALUE" for f in fields)
            raise self._missing(q, "evidence", f"{{evidence: {{{names}}}}}")
        return {key: str(value) for key, value in given.items()}

    async def interrupted(self, q: Question) -> tuple[InterruptedChoice, str]:
        step = self._step(q)
        if step.on_interrupted is None:
            raise self._missing(
                q,
                "decision on the interrupted step",
                "{on_interrupted: rerun|mark_done|abort, reason: WHY}",
            )
        if step.on_interrupted is InterruptedChoice.MARK_DONE and not step.reason:
            raise NoAnswer(f"step {q.step_id!r}: mark_done needs a reason in the answers file")
        return step.on_interrupted, step.reason or "answers file"

    async def failed(self, q: Question, error: str) -> FailureChoice:
        choice = self._step(q).on_failure
        if choice is None:
            raise self._missing(
                q, "decision after the failure", "{on_failure: retry|continue|abort}"
            )
        return choice

    async def participants(
        self, q: Question, roles: dict[str, str], problem: str | None = None
    ) -> list[Participant]:
        if problem:
            raise NoAnswer(problem)
        if self.answers.participants is None:
            raise NoAnswer(
                "the answers file has no participants; add participants: "
                "[{name: NAME, role: ROLE, affiliation: ORG, initials: XX}]"
            )
        return [
            Participant(p.name, p.role, p.affiliation, p.initials, tuple(p.holds))
            for p in self.answers.participants
        ]

    async def initials(self, q: Question, problem: str | None = None) -> tuple[str, str]:
        if problem:
            raise NoAnswer(problem)
        given = self._step(q).initials or self.answers.initials
        if given is None:
            raise self._missing(q, "initials", "{initials: {actor: XX, witness: YY}}")
        return given.actor, given.witness

    async def exception(
        self, q: Question, number: int, expected: str, happened: str | None
    ) -> tuple[str, str]:
        given = self._step(q).exception
        if given is None:
            raise self._missing(
                q, f"decision on exception #{number}", "{exception: {decision: TEXT}}"
            )
        return given.happened or happened or "not described", given.decision

    async def quorum(
        self, q: Question, role: str, need: int, present: str, problem: str | None = None
    ) -> list[tuple[str, str]]:
        if problem:
            raise NoAnswer(problem)
        given = self._step(q).quorum
        if given is None:
            raise self._missing(q, "quorum", "{quorum: [{initials: XX, token: ID}]}")
        return [(a.initials, a.token) for a in given]

    async def attest(self, q: Question, participant: Participant) -> tuple[bool, str]:
        for initials, given in self.answers.attestations.items():
            if name_key(initials) == name_key(participant.initials):
                return given.agree, given.reason or ""
        raise NoAnswer(f"the answers file has no attestation of {participant.initials}")
