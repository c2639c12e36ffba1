"""Ceremony work on behalf of the engine: sign-in, initials per step, exceptions, presence,
attestations, and the step kinds a ceremony needs (checkbox, choice, record, bag, quorum),
which any plan may use.

Exceptions never stop the record: a step that meets one is journaled as failed-and-continued
with the exception's number, and the run goes on. The rules themselves live in
``ceremony_rules``; this module asks, checks, re-asks and journals.
"""

from __future__ import annotations

from typing import Any

from drconsole.engine.ceremony_rules import (
    Participant,
    find,
    initials_problem,
    leave_problem,
    sign_in_problem,
)
from drconsole.engine.context import RunContext
from drconsole.engine.events import ATTESTATION_TEXT, EventType, NewEvent, attestation, show
from drconsole.engine.modes import Mode
from drconsole.engine.operator import NoAnswer, Question, Signer
from drconsole.engine.outcome import Outcome, Refused, StepFailed
from drconsole.people import answer_problem, name_key
from drconsole.plans.model import BagEvent, Step
from drconsole.runs.read import PreviousRecordError, PreviousSeals, previous_seals
from drconsole.runs.state import RunState, StepStatus

SIGN_IN = "sign-in"
CLOSING = "closing"


class CeremonyError(Exception):
    """A ceremony rule refused a request (a break, an exception); the message says why."""


class CeremonySteps:
    """The ceremony side of one engine."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.spec = ctx.plan.ceremony
        self._previous: PreviousSeals | None = None

    # ----------------------------------------------------------------- people
    @property
    def participants(self) -> list[Participant]:
        return [Participant.from_dict(d) for d in self.ctx.state.participants]

    @property
    def active(self) -> bool:
        """Ceremony rules apply (a ceremony plan, not a dry run)."""
        return self.spec is not None and self.ctx.mode is not Mode.DRY_RUN

    async def sign_in(self) -> str | None:
        """Ask for the sign-in sheet until it follows the rules. Returns None when everyone is
        signed in, else why not (the run then stops, resumable)."""
        if not self.active:
            return None
        try:  # a mistyped path is found before anyone signs in or opens a bag
            self._previous_seals()
        except PreviousRecordError as exc:
            if self.ctx.state.participants:  # a resume: people signed in, steps may have run
                return (
                    f"previous ceremony record: {exc}. This ceremony signed in and steps ran: "
                    "nothing is undone. Put the record back where it was named, then resume"
                )
            return (
                f"previous ceremony record: {exc}. Nothing was done: start the ceremony again "
                "with the previous record's run directory or record.json"
            )
        if self.ctx.state.participants:
            return None
        spec = self.spec
        assert spec is not None
        roles = {role: rule.title for role, rule in spec.roles.items()}
        q = Question(SIGN_IN, "Participants sign in", _sign_in_guidance(spec.roles))
        try:
            people = await self.ctx.ask_until(
                lambda problem: self.ctx.operator.participants(q, roles, problem),
                lambda people: sign_in_problem(spec, people, self.ctx.operator.name),
                step=SIGN_IN,
                question="sign-in",
            )
        except NoAnswer as exc:
            return f"participants did not sign in: {exc}"
        except Refused as exc:
            return f"sign-in not accepted: {exc}"
        self.ctx.emit(
            NewEvent(EventType.PARTICIPANTS, {"participants": [p.as_dict() for p in people]})
        )
        return None

    def signer_problem(self, signers: list[Signer]) -> str | None:
        """In a ceremony, only signed-in people sign, in the role they signed in with."""
        if not self.active:
            return None
        people = {name_key(p.name): p for p in self.participants}
        for s in signers:
            person = people.get(name_key(s.name))
            if person is None:
                by_initials = find(self.participants, s.name)
                if by_initials is not None:
                    return f"{s.name} are {by_initials.name}'s initials: type the full name"
                return f"{s.name} is not signed in to this ceremony: type the name as signed in"
            if person.role != s.role:
                return f"{s.name} signed in as {person.role}, not {s.role}"
        return None

    async def initialled(self, step: Step, outcome: Outcome) -> Outcome:
        """``outcome`` once the actor and the witness initialled it; failed when they did not
        (a failed step's error keeps its own reason first). A failed step is initialled too:
        the witness signs for what they saw, a failed check included."""
        try:
            await self.initial(step, outcome)
        except StepFailed as exc:
            if outcome.status is not StepStatus.FAILED or outcome.continued:
                return Outcome(StepStatus.FAILED, outcome.outputs, str(exc))
            outcome.error = f"{outcome.error}; {exc}"
        return outcome

    async def initial(self, step: Step, outcome: Outcome) -> None:
        """The actor's and the witness's initials on a step that ran, asked with what it did
        and read (``outcome``): nobody initials a value they were not shown.

        Raises:
            StepFailed: no acceptable initials after being asked again.
        """
        if not self.active:
            return
        spec = self.spec
        assert spec is not None
        seen = self.ctx.journal.redactor.clean(what_was_done(outcome))
        q = self.ctx.question(step, initialling=seen)
        try:
            actor, witness = await self.ctx.ask_until(
                lambda problem: self.ctx.operator.initials(q, problem),
                lambda marks: initials_problem(
                    spec, self.participants, self.ctx.state.absent, marks[0], marks[1]
                ),
                step=step.id,
                question="initials",
                about=seen,
            )
        except NoAnswer as exc:
            raise StepFailed(f"the step has no initials: {exc}") from None
        except Refused as exc:
            raise StepFailed(f"initials not accepted: {exc}") from None
        marks = {"step": step.id, "actor": actor.upper(), "witness": witness.upper()}
        self.ctx.emit(NewEvent(EventType.INITIALS, marks))

    def leave(self, initials: str, reason: str) -> None:
        """Record that someone left the room.

        Raises:
            CeremonyError: too few would remain, unknown initials, or a reason that is not
                plain text.
        """
        assert self.spec is not None
        problem = answer_problem(reason, "the reason") or leave_problem(
            self.participants, self.ctx.state.absent, initials, self.spec.minimum_present
        )
        if problem is not None:
            raise CeremonyError(problem)
        person = find(self.participants, initials)
        assert person is not None
        self.ctx.emit(
            NewEvent(
                EventType.PRESENCE,
                {
                    "initials": person.initials,
                    "name": person.name,
                    "present": False,
                    "reason": reason,
                    "by": self.ctx.operator.name,
                },
            )
        )

    def come_back(self, initials: str) -> None:
        """Record that someone came back into the room.

        Raises:
            CeremonyError: unknown initials, or the person was not out.
        """
        person = find(self.participants, initials)
        if person is None:
            raise CeremonyError(f"initials {initials!r} belong to nobody signed in")
        if name_key(person.initials) not in self.ctx.state.absent:
            raise CeremonyError(f"{person.name} is not recorded as out of the room")
        self.ctx.emit(
            NewEvent(
                EventType.PRESENCE,
                {
                    "initials": person.initials,
                    "name": person.name,
                    "present": True,
                    "reason": "returned",
                    "by": self.ctx.operator.name,
                },
            )
        )

    async def attest_all(self) -> None:
        """Each participant's closing attestation (those not yet given)."""
        if not self.active:
            return
        done = {name_key(a["initials"]) for a in self.ctx.state.attestations}
        q = Question(
            CLOSING, "Closing attestations", _where_it_stands(self.ctx.state) + _ATTEST_TEXT
        )

        def with_reason(said: tuple[bool, str]) -> str | None:
            return None if said[0] or said[1].strip() else "say why you do not agree"

        for person in self.participants:
            if name_key(person.initials) in done:
                continue

            async def attest(
                _problem: str | None, person: Participant = person
            ) -> tuple[bool, str]:
                return await self.ctx.operator.attest(q, person)

            try:
                agree, reason = await self.ctx.ask_until(
                    attest,
                    with_reason,
                    step=CLOSING,
                    question=f"attestation of {person.name}",
                    who=person.name,
                )
            except (NoAnswer, Refused):
                continue  # not given: the record says so; a resume asks again
            self.ctx.emit(attestation(person.initials, person.name, agree, reason.strip() or None))

    # ----------------------------------------------------------------- exceptions
    async def exception(self, step: Step, expected: str, happened: str | None) -> int:
        """Record an exception met by a step; returns its number. Never fails."""
        number = len(self.ctx.state.exceptions) + 1
        found, decision = happened, ""
        q = self.ctx.question(step)
        try:
            happened, decision = await self.ctx.ask_until(
                lambda _problem: self.ctx.operator.exception(q, number, expected, found),
                lambda answer: None if answer[1].strip() else "the decision is needed",
                step=step.id,
                question=f"exception #{number}",
            )
        except (NoAnswer, Refused) as exc:
            decision = f"no decision recorded ({exc})"
        if found and happened and happened != found:  # what drconsole found stays, noted too
            happened = f"{found}; noted: {happened}"
        self.ctx.emit(
            NewEvent(
                EventType.EXCEPTION,
                {
                    "number": number,
                    "step": step.id,
                    "expected": expected,
                    "happened": happened or "not described",
                    "decision": decision or "no decision recorded",
                    "by": self.ctx.operator.name,
                },
            )
        )
        return number

    def note_exception(
        self, step_id: str | None, expected: str, happened: str, decision: str
    ) -> int:
        """An exception the witness or administrator writes down at any moment."""
        if not happened.strip():
            raise CeremonyError("say what happened")
        typed = {"expected": expected, "happened": happened, "decision": decision}
        if (problem := answer_problem(typed, "the exception")) is not None:
            raise CeremonyError(problem)
        number = len(self.ctx.state.exceptions) + 1
        self.ctx.emit(
            NewEvent(
                EventType.EXCEPTION,
                {
                    "number": number,
                    "step": step_id,
                    "expected": expected.strip() or "the script was followed",
                    "happened": happened.strip(),
                    "decision": decision.strip() or "no decision recorded",
                    "by": self.ctx.operator.name,
                },
            )
        )
        return number

    def with_exceptions(self, outputs: dict[str, Any], numbers: list[int]) -> Outcome:
        """A ceremony step's outcome: succeeded, or failed-and-continued with the exceptions
        it met."""
        if not numbers:
            return Outcome(StepStatus.SUCCEEDED, outputs)
        outputs["exceptions"] = numbers
        listed = ", ".join(f"#{n}" for n in numbers)
        return Outcome(
            StepStatus.FAILED,
            outputs,
            error=f"exception {listed} recorded; the ceremony goes on",
            reason="continued",
            continued=True,
        )

    def previous_seal(self, step_id: str, label: str) -> tuple[str | None, str]:
        """The bag id of the witnessed seal ``label`` is under now (the last seal of it in this
        ceremony, else in the previous ceremonies' records) and where it comes from (which
        ceremony sealed it, and when); None (and
        why) when no witnessed seal closes it: never sealed, or opened since. ``step_id``'s own
        bag event (a step run again) does not count.

        Raises:
            StepFailed: the previous record cannot be read.
        """
        for bag in reversed(self.ctx.state.bags):
            if bag["label"] != label or bag["step"] == step_id:
                continue
            if bag["event"] == BagEvent.SEAL.value:
                return bag["bag_id"], "sealed earlier in this ceremony"
            if bag["event"] == BagEvent.OPEN.value:
                return None, f"opened at step {bag['step']} of this ceremony and not sealed since"
        try:
            seals = self._previous_seals()
        except PreviousRecordError as exc:
            raise StepFailed(f"previous ceremony record: {exc}") from None
        if seals is None:
            return None, "no previous record given"
        if label in seals.seals:
            return seals.seals[label].bag_id, seals.seals[label].source
        missing = f" (the older record {seals.missing})" if seals.missing else ""
        return None, f"the previous records leave it with no seal{missing}"

    def _previous_seals(self) -> PreviousSeals | None:
        """The seals the previous ceremonies' records leave (None when none is given), each
        record followed back to its own previous record, read once.

        Raises:
            PreviousRecordError: it cannot be read, or is not a record.
        """
        if self._previous is None and self.spec is not None and self.spec.previous_record:
            where = self.ctx.resolve(self.spec.previous_record)
            if where:
                self._previous = previous_seals(str(where))
        return self._previous


def what_was_done(outcome: Outcome) -> str:
    """What the actor and the witness initial, one line each: the step's result, then each
    value it read or recorded (``kcv = 3F2A91``), as the run screen shows them."""
    result = outcome.error if outcome.continued else outcome.status.value
    if outcome.status is StepStatus.FAILED and not outcome.continued:
        result = f"failed: {outcome.error or '-'}"
    lines = [f"Result: {result}"]
    for key, value in outcome.outputs.items():
        shown = show(value, key).strip()
        if key != "exceptions" and value is not None and shown:
            lines.append(f"{key} = {shown if len(shown) <= 200 else shown[:199] + '…'}")
    return "\n".join(lines)


_ATTEST_TEXT = f"Each participant attests: {ATTESTATION_TEXT} Or: I do not agree, because ..."


def _where_it_stands(state: RunState) -> str:
    """What participants attest to: a ceremony that stopped early says so before they sign."""
    failed = [
        s for s in state.steps.values() if s.status is StepStatus.FAILED and s.reason != "continued"
    ]
    not_run = [s.id for s in state.steps.values() if s.status is StepStatus.PENDING]
    if not failed and not not_run:
        return ""
    said = "THE CEREMONY STOPPED BEFORE ITS END"
    if failed:
        said += f": step {failed[0].id} failed ({failed[0].error or failed[0].reason or '-'})"
    if not_run:
        said += f"; {len(not_run)} step(s) not run: {', '.join(not_run[:6])}"
        said += "…" if len(not_run) > 6 else ""
    return said + ".\n\n"


def _sign_in_guidance(roles: dict[str, Any]) -> str:
    lines = ["Everyone in the room signs in: name, role, affiliation, initials.", ""]
    for role, rule in roles.items():
        count = f"{rule.min}" + (f"-{rule.max}" if rule.max and rule.max != rule.min else "")
        if rule.max is None:
            count = f"at least {rule.min}"
        lines.append(f"- **{role}** ({count}): {rule.title}")
    return "\n".join(lines)
