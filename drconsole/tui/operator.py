"""The Operator the engine talks to in the console: each question is a modal screen.

The engine runs on the app's own event loop, so a question pushes a modal and awaits a future
that the modal's dismissal completes. No thread touches a widget.
"""

from __future__ import annotations

import asyncio
from typing import Any

from textual.app import App
from textual.screen import ModalScreen

from drconsole.engine.ceremony_rules import Participant
from drconsole.engine.events import ATTESTATION_TEXT
from drconsole.engine.operator import (
    FailureChoice,
    FieldSpec,
    InterruptedChoice,
    NoAnswer,
    Question,
    Signer,
)
from drconsole.secrets import Secret
from drconsole.tui import modals


class TuiOperator:
    """Answers from the person at the keyboard."""

    def __init__(self, app: App[Any], name: str) -> None:
        self.app = app
        self.name = name
        self._sheet: list[Participant] = []

    async def _ask(self, screen: ModalScreen[Any]) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def done(result: Any) -> None:
            if not future.done():
                future.set_result(result)

        self.app.push_screen(screen, callback=done)
        return await future

    async def confirm(self, q: Question, prompt: str) -> bool:
        return bool(await self._ask(modals.ConfirmModal(q, prompt)))

    async def typed_confirm(
        self, q: Question, prompt: str, expected: str, problem: str | None = None
    ) -> str:
        while (
            typed := await self._ask(modals.TypedConfirmModal(q, prompt, expected, problem))
        ) is None:
            # as the sign-off: a step not confirmed fails, and under the default on_failure the
            # run ends FAILED for good (one stray Escape on the PITR's restore, database stopped)
            if await self._not_done(q, "Not confirmed?", "Back to the confirmation", "Not done"):
                raise NoAnswer("the operator cancelled the typed confirmation")
        return str(typed)

    async def _not_done(self, q: Question, title: str, back: str, no: str) -> bool:
        """After Escape on a question the step cannot do without: True only for n (the step
        fails); b or Escape goes back to the question."""
        answer = await self._ask(
            modals.ChoiceModal(
                q,
                title,
                "Without it the step fails, and the run may stop there.",
                [("back", "b", back), ("none", "n", no)],
            )
        )
        return answer is not None and answer[0] == "none"

    async def secret(self, q: Question, prompt: str, problem: str | None = None) -> Secret:
        while (value := await self._ask(modals.SecretModal(q, prompt, problem))) is None:
            # a custodian's share not given fails the unseal: the failover's, after the promotion
            # and the restore, ended FAILED for good on one stray Escape
            if await self._not_done(q, "No secret given?", "Back to the prompt", "Not given"):
                raise NoAnswer("no secret was given")
        return Secret(str(value), source="prompt")

    async def signoff(
        self, q: Question, signers: int, roles: list[str], problem: str | None = None
    ) -> list[Signer]:
        while (rows := await self._ask(modals.SignoffModal(q, signers, roles, problem))) is None:
            # Escape alone never decides: not approving fails the step (a ceremony's approval,
            # after bags were opened, ended the ceremony on one stray Escape)
            if await self._not_done(q, "No sign-off?", "Back to the sign-off", "Not approved"):
                raise NoAnswer("the sign-off was refused")
        return [Signer(r["name"], r["role"]) for r in rows]

    async def evidence(
        self, q: Question, fields: list[FieldSpec], problem: str | None = None
    ) -> dict[str, str]:
        values = await self._ask(modals.EvidenceModal(q, fields, problem))
        if values is None:
            raise NoAnswer("no evidence was recorded")
        return dict(values)

    async def interrupted(self, q: Question) -> tuple[InterruptedChoice, str]:
        answer = await self._ask(modals.interrupted_modal(q))
        if answer is None:
            raise NoAnswer("no decision on the interrupted step")
        choice, reason = answer
        if choice == InterruptedChoice.MARK_DONE.value and not reason:
            reason = "marked done by the operator (no reason typed)"
        return InterruptedChoice(choice), reason or "operator's decision"

    async def failed(self, q: Question, error: str) -> FailureChoice:
        answer = await self._ask(modals.failure_modal(q, error))
        if answer is None:
            raise NoAnswer("no decision after the failure")
        return FailureChoice(answer[0])

    # ----------------------------------------------------------------- ceremonies
    async def participants(
        self, q: Question, roles: dict[str, str], problem: str | None = None
    ) -> list[Participant]:
        sheet = list(self._sheet)
        if problem:
            listed = "\n".join(f"  {p.initials}  {p.name} ({p.role})" for p in sheet)
            answer = await self._ask(
                modals.ChoiceModal(
                    q,
                    "Sign-in refused",
                    f"REFUSED: {problem}\n\nSigned in:\n{listed}",
                    [("add", "a", "Add someone"), ("clear", "c", "Start again")],
                )
            )
            if answer is None:
                raise NoAnswer(problem)
            if answer[0] == "clear":
                sheet = []
        fields = [
            FieldSpec("name", prompt="Full name"),
            FieldSpec("role", "choice", prompt="Role", choices=list(roles)),
            FieldSpec("affiliation", prompt="Affiliation", required=False),
            FieldSpec("initials", prompt="Initials (used at every step)"),
            FieldSpec("holds", prompt="Cards or shares held, comma-separated", required=False),
        ]
        while True:
            title = f"Participant {len(sheet) + 1}: sign in (Escape when everyone has)"
            keys = "Enter: the next field, and signs in after the last. Escape: everyone has."
            values = await self._ask(
                modals.EvidenceModal(q, fields, None, title, _signed_in(sheet), keys)
            )
            if values is None:
                break
            if not values.get("name") or values.get("role") not in roles:
                continue  # incomplete or an unknown role: ask that person again
            holds = tuple(h.strip() for h in values.get("holds", "").split(",") if h.strip())
            sheet.append(
                Participant(
                    values["name"],
                    values["role"],
                    values.get("affiliation", ""),
                    values["initials"],
                    holds,
                )
            )
        if not sheet:
            raise NoAnswer("nobody signed in")
        self._sheet = sheet
        return sheet

    async def initials(self, q: Question, problem: str | None = None) -> tuple[str, str]:
        fields = [
            FieldSpec("actor", prompt="Initials of who did this step"),
            FieldSpec("witness", prompt="Initials of the witness"),
        ]
        seen = q.details.get("initialling")  # what the step did and read: initialled as seen
        text = "\n\n".join(t for t in (seen, _signed_in(self._sheet)) if t)
        values = await self._ask(modals.EvidenceModal(q, fields, problem, "Initials", text))
        if values is None:
            raise NoAnswer("no initials were given")
        return values["actor"], values["witness"]

    async def exception(
        self, q: Question, number: int, expected: str, happened: str | None
    ) -> tuple[str, str]:
        fields = [
            FieldSpec("happened", prompt="What happened", required=happened is None),
            FieldSpec("decision", prompt="The ceremony administrator's decision"),
        ]
        text = f"Expected: {expected}" + (f"\nFound: {happened}" if happened else "")
        keys = "Enter: the next field, and records after the last. The decision is needed."
        problem = None
        # Escape never records 'no decision': the exception is written down, decided
        while (
            values := await self._ask(
                modals.EvidenceModal(q, fields, problem, f"EXCEPTION #{number}", text, keys)
            )
        ) is None:
            problem = "Escape cannot skip an exception: type the administrator's decision"
        return values.get("happened") or happened or "not described", values["decision"]

    async def quorum(
        self, q: Question, role: str, need: int, present: str, problem: str | None = None
    ) -> list[tuple[str, str]]:
        presented: list[tuple[str, str]] = []
        fields = [
            FieldSpec("initials", prompt=f"Initials of the {role}"),
            FieldSpec("token", prompt=f"The {present} presented (its number)"),
        ]
        holders = [p for p in self._sheet if p.role == role]
        listed = "; ".join(
            f"{p.initials} {p.name}: {', '.join(p.holds) or 'declared none'}" for p in holders
        )
        text = f"Signed in as {role} (and what each declared): {listed}" if listed else None
        for i in range(need):
            title = f"Quorum: {role} {i + 1} of {need} presents their {present}"
            values = await self._ask(
                modals.EvidenceModal(q, fields, problem if i == 0 else None, title=title, text=text)
            )
            if values is None:
                raise NoAnswer("the quorum was not completed")
            presented.append((values["initials"], values["token"]))
        return presented

    async def attest(self, q: Question, participant: Participant) -> tuple[bool, str]:
        answer = await self._ask(
            modals.ChoiceModal(
                q,
                f"Attestation: {participant.name} ({participant.initials}, {participant.role})",
                ATTESTATION_TEXT,
                [("agree", "a", "I agree"), ("disagree", "d", "I do not agree (reason)")],
                reason_for="disagree",
            )
        )
        if answer is None:
            raise NoAnswer(f"{participant.name} gave no attestation")
        return answer[0] == "agree", answer[1]


def _signed_in(sheet: list[Participant]) -> str | None:
    """Who has signed in, by initials and role, on one line if it fits (the sign-in form at
    the sixth person, and the initials after each step, did not say whose initials are whose)."""
    if not sheet:
        return None
    return "Signed in: " + ", ".join(f"{p.initials} {p.role}" for p in sheet)
