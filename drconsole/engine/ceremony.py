"""Ceremony work on behalf of the engine: sign-in, initials per step, exceptions, presence,
attestations, and the step kinds a ceremony needs (checkbox, choice, record, bag, quorum),
which any plan may use.

Exceptions never stop the record: a step that meets one is journaled as failed-and-continued
with the exception's number, and the run goes on. The rules themselves live in
``ceremony_rules``; this module asks, checks, re-asks and journals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drconsole.engine.ceremony_rules import (
    Participant,
    PreviousRecordError,
    find,
    initials_problem,
    leave_problem,
    previous_seals,
    quorum_problem,
    sign_in_problem,
    values_match,
)
from drconsole.engine.modes import Mode
from drconsole.engine.operator import NoAnswer, Question, Signer
from drconsole.engine.outcome import Outcome, Refused, StepFailed
from drconsole.engine.people import answer_problem, name_key
from drconsole.engine.state import StepStatus
from drconsole.plans.model import BagEvent, Compare, EvidenceField, InputType, Step

if TYPE_CHECKING:
    from drconsole.engine.runner import Engine

SIGN_IN = "sign-in"
CLOSING = "closing"
NO_INITIALS = ("milestone", "wait")
CEREMONY_KINDS = ("checkbox", "choice", "record", "bag", "quorum")


class CeremonyError(Exception):
    """A ceremony rule refused a request (a break, an exception); the message says why."""


class CeremonySteps:
    """The ceremony side of one engine."""

    def __init__(self, engine: Engine) -> None:
        self.e = engine
        self.spec = engine.plan.ceremony
        self._previous: dict[str, str] | None = None

    # ----------------------------------------------------------------- people
    @property
    def participants(self) -> list[Participant]:
        return [Participant.from_dict(d) for d in self.e.state.participants]

    @property
    def active(self) -> bool:
        """Ceremony rules apply (a ceremony plan, not a dry run)."""
        return self.spec is not None and self.e.mode is not Mode.DRY_RUN

    async def sign_in(self) -> str | None:
        """Ask for the sign-in sheet until it follows the rules. Returns None when everyone is
        signed in, else why not (the run then stops, resumable)."""
        if not self.active or self.e.state.participants:
            return None
        spec = self.spec
        assert spec is not None
        roles = {role: rule.title for role, rule in spec.roles.items()}
        q = Question(SIGN_IN, "Participants sign in", _sign_in_guidance(spec.roles))
        try:
            people = await self.e.ask_until(
                lambda problem: self.e.operator.participants(q, roles, problem),
                lambda people: sign_in_problem(spec, people, self.e.operator.name),
                step=SIGN_IN,
                question="sign-in",
            )
        except NoAnswer as exc:
            return f"participants did not sign in: {exc}"
        except Refused as exc:
            return f"sign-in not accepted: {exc}"
        self.e.emit("participants", {"participants": [p.as_dict() for p in people]})
        return None

    def signer_problem(self, signers: list[Signer]) -> str | None:
        """In a ceremony, only signed-in people sign, in the role they signed in with."""
        if not self.active:
            return None
        people = {name_key(p.name): p for p in self.participants}
        for s in signers:
            person = people.get(name_key(s.name))
            if person is None:
                return f"{s.name} is not signed in to this ceremony"
            if person.role != s.role:
                return f"{s.name} signed in as {person.role}, not {s.role}"
        return None

    async def initial(self, step: Step) -> None:
        """The actor's and the witness's initials on a step that ran.

        Raises:
            StepFailed: no acceptable initials after being asked again.
        """
        if not self.active or step.kind in NO_INITIALS:
            return
        spec = self.spec
        assert spec is not None
        q = self.e.question(step)
        try:
            actor, witness = await self.e.ask_until(
                lambda problem: self.e.operator.initials(q, problem),
                lambda marks: initials_problem(
                    spec, self.participants, self.e.state.absent, marks[0], marks[1]
                ),
                step=step.id,
                question="initials",
            )
        except NoAnswer as exc:
            raise StepFailed(f"the step has no initials: {exc}") from None
        except Refused as exc:
            raise StepFailed(f"initials not accepted: {exc}") from None
        marks = {"step": step.id, "actor": actor.upper(), "witness": witness.upper()}
        self.e.emit("initials", marks)

    def leave(self, initials: str, reason: str) -> None:
        """Record that someone left the room.

        Raises:
            CeremonyError: too few would remain, unknown initials, or a reason that is not
                plain text.
        """
        assert self.spec is not None
        problem = answer_problem(reason, "the reason") or leave_problem(
            self.participants, self.e.state.absent, initials, self.spec.minimum_present
        )
        if problem is not None:
            raise CeremonyError(problem)
        person = find(self.participants, initials)
        assert person is not None
        self.e.emit(
            "presence",
            {
                "initials": person.initials,
                "name": person.name,
                "present": False,
                "reason": reason,
                "by": self.e.operator.name,
            },
        )

    def come_back(self, initials: str) -> None:
        """Record that someone came back into the room.

        Raises:
            CeremonyError: unknown initials, or the person was not out.
        """
        person = find(self.participants, initials)
        if person is None:
            raise CeremonyError(f"initials {initials!r} belong to nobody signed in")
        if name_key(person.initials) not in self.e.state.absent:
            raise CeremonyError(f"{person.name} is not recorded as out of the room")
        self.e.emit(
            "presence",
            {
                "initials": person.initials,
                "name": person.name,
                "present": True,
                "reason": "returned",
                "by": self.e.operator.name,
            },
        )

    async def attest_all(self) -> None:
        """Each participant's closing attestation (those not yet given)."""
        if not self.active:
            return
        done = {name_key(a["initials"]) for a in self.e.state.attestations}
        q = Question(CLOSING, "Closing attestations", _ATTEST_TEXT)

        def with_reason(said: tuple[bool, str]) -> str | None:
            return None if said[0] or said[1].strip() else "say why you do not agree"

        for person in self.participants:
            if name_key(person.initials) in done:
                continue

            async def attest(
                _problem: str | None, person: Participant = person
            ) -> tuple[bool, str]:
                return await self.e.operator.attest(q, person)

            try:
                agree, reason = await self.e.ask_until(
                    attest,
                    with_reason,
                    step=CLOSING,
                    question=f"attestation of {person.name}",
                    who=person.name,
                )
            except (NoAnswer, Refused):
                continue  # not given: the record says so; a resume asks again
            self.e.emit(
                "attestation",
                {
                    "initials": person.initials,
                    "name": person.name,
                    "agree": agree,
                    "reason": reason.strip() or None,
                },
            )

    # ----------------------------------------------------------------- exceptions
    async def exception(self, step: Step, expected: str, happened: str | None) -> int:
        """Record an exception met by a step; returns its number. Never fails."""
        number = len(self.e.state.exceptions) + 1
        decision = ""
        q = self.e.question(step)
        try:
            happened, decision = await self.e.ask_until(
                lambda _problem: self.e.operator.exception(q, number, expected, happened),
                lambda _answer: None,
                step=step.id,
                question=f"exception #{number}",
            )
        except (NoAnswer, Refused) as exc:
            decision = f"no decision recorded ({exc})"
        self.e.emit(
            "exception",
            {
                "number": number,
                "step": step.id,
                "expected": expected,
                "happened": happened or "not described",
                "decision": decision or "no decision recorded",
                "by": self.e.operator.name,
            },
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
        number = len(self.e.state.exceptions) + 1
        self.e.emit(
            "exception",
            {
                "number": number,
                "step": step_id,
                "expected": expected.strip() or "the script was followed",
                "happened": happened.strip(),
                "decision": decision.strip() or "no decision recorded",
                "by": self.e.operator.name,
            },
        )
        return number

    # ----------------------------------------------------------------- step kinds
    async def execute(self, step: Step) -> Outcome:
        kind = step.kind
        if kind == "checkbox":
            return await self._checkbox(step)
        if kind == "choice":
            return await self._choice(step)
        if kind == "record":
            return await self._record(step)
        if kind == "bag":
            return await self._bag(step)
        if kind == "quorum":
            return await self._quorum(step)
        raise AssertionError(f"not a ceremony step kind: {kind}")

    def _with_exceptions(self, outputs: dict[str, Any], numbers: list[int]) -> Outcome:
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

    async def _checkbox(self, step: Step) -> Outcome:
        assert step.checkbox is not None
        q = self.e.question(step)
        text = str(self.e.resolve(step.checkbox))
        async with self.e.asking(step, "checkbox"):
            try:
                ok = await self.e.operator.confirm(q, text)
            except NoAnswer as exc:
                raise StepFailed(str(exc)) from None
        self.e.answer(
            step, "checkbox", "confirmed" if ok else "cannot confirm", self.e.operator.name
        )
        numbers = [] if ok else [await self.exception(step, text, None)]
        return self._with_exceptions({"confirmed": ok}, numbers)

    async def _choice(self, step: Step) -> Outcome:
        assert step.choice is not None
        field = EvidenceField(
            type=InputType.CHOICE, prompt=step.choice.prompt, choices=step.choice.options
        )
        values = await self.e.ask_evidence(step, self.e.question(step), {"choice": field})
        return Outcome(StepStatus.SUCCEEDED, {"choice": values["choice"]})

    async def _record(self, step: Step) -> Outcome:
        assert step.record is not None
        values: dict[str, Any] = dict(
            await self.e.ask_evidence(step, self.e.question(step), step.record)
        )
        numbers = []
        for name, field in step.record.items():
            if field.expect is None or name not in values:
                continue
            want = self.e.resolve(field.expect)
            got = str(values[name])
            if values_match(want, got, field.compare):
                continue
            shown = f"{str(want)[:4]}...{str(want)[-4:]}" if field.compare is Compare.ENDS else want
            numbers.append(
                await self.exception(step, f"{name} = {shown}", f"{name} read as {got!r}")
            )
        return self._with_exceptions(values, numbers)

    def _previous_seal(self, label: str) -> tuple[str | None, str]:
        for bag in reversed(self.e.state.bags):
            if bag["label"] == label and bag["event"] == BagEvent.SEAL.value:
                return bag["bag_id"], "sealed earlier in this ceremony"
        if self.spec is None or not self.spec.previous_record:
            return None, "no previous record given"
        where = self.e.resolve(self.spec.previous_record)
        if not where:
            return None, "no previous record given"
        if self._previous is None:
            try:
                self._previous = previous_seals(str(where))
            except PreviousRecordError as exc:
                raise StepFailed(f"previous ceremony record: {exc}") from None
        if label in self._previous:
            return self._previous[label], "sealed in the previous ceremony"
        return None, "the previous record has no seal of this bag"

    async def _bag(self, step: Step) -> Outcome:
        assert step.bag is not None
        bag = step.bag.model_copy(update={"label": str(self.e.resolve(step.bag.label))})
        fields = {
            "bag_id": EvidenceField(
                prompt=f"Bag number of {bag.label} ({bag.contents}), read from the bag",
                pattern=bag.pattern,
            )
        }
        if bag.event is not BagEvent.SEAL:
            fields["intact"] = EvidenceField(
                type=InputType.CHOICE,
                prompt="Is the bag intact (no tear, no tamper marks)?",
                choices=["yes", "no"],
            )
        values = await self.e.ask_evidence(step, self.e.question(step), fields)
        bag_id = values["bag_id"].strip()
        previous, source = (
            (None, "") if bag.event is BagEvent.SEAL else self._previous_seal(bag.label)
        )
        numbers = []
        if previous is not None and bag_id.casefold() != previous.casefold():
            numbers.append(
                await self.exception(
                    step,
                    f"bag {bag.label} is {previous} ({source})",
                    f"bag {bag.label} reads {bag_id}",
                )
            )
        intact = values.get("intact")
        if intact == "no":
            numbers.append(
                await self.exception(
                    step, f"bag {bag_id} intact", f"bag {bag_id} is not intact (tamper evidence)"
                )
            )
        self.e.emit(
            "bag",
            {
                "step": step.id,
                "event": bag.event.value,
                "label": bag.label,
                "bag_id": bag_id,
                "contents": bag.contents,
                "intact": None if intact is None else intact == "yes",
                "previous": previous,
                "previous_source": source or None,
            },
        )
        outputs: dict[str, Any] = {"bag_id": bag_id, "intact": intact, "previous": previous}
        return self._with_exceptions(outputs, numbers)

    async def _quorum(self, step: Step) -> Outcome:
        assert step.quorum is not None
        quorum = step.quorum
        q = self.e.question(step)
        try:
            presented = await self.e.ask_until(
                lambda problem: self.e.operator.quorum(
                    q, quorum.role, quorum.need, quorum.present, problem
                ),
                lambda presented: quorum_problem(
                    self.participants, self.e.state.absent, quorum.role, quorum.need, presented
                ),
                step=step.id,
                question="quorum",
            )
        except (NoAnswer, Refused) as exc:
            raise StepFailed(f"no quorum: {exc}") from None
        listed = [{"initials": i.upper(), quorum.present: t} for i, t in presented]
        self.e.answer(step, "quorum", listed, self.e.operator.name)
        holders = [i.upper() for i, _ in presented]
        return Outcome(StepStatus.SUCCEEDED, {"holders": holders, "presented": listed})


_ATTEST_TEXT = (
    "Each participant attests: I was present throughout, and the script was followed except "
    "as noted in the exceptions. Or: I do not agree, because ..."
)


def _sign_in_guidance(roles: dict[str, Any]) -> str:
    lines = ["Everyone in the room signs in: name, role, affiliation, initials.", ""]
    for role, rule in roles.items():
        count = f"{rule.min}" + (f"-{rule.max}" if rule.max and rule.max != rule.min else "")
        if rule.max is None:
            count = f"at least {rule.min}"
        lines.append(f"- **{role}** ({count}): {rule.title}")
    return "\n".join(lines)
