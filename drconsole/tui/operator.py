"""The Operator the engine talks to in the console: each question is a modal screen.

The engine runs on the app's own event loop, so a question pushes a modal and awaits a future
that the modal's dismissal completes. No thread touches a widget.
"""

from __future__ import annotations

import asyncio
from typing import Any

from textual.app import App
from textual.screen import ModalScreen

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
        typed = await self._ask(modals.TypedConfirmModal(q, prompt, expected, problem))
        if typed is None:
            raise NoAnswer("the operator cancelled the typed confirmation; nothing was done")
        return str(typed)

    async def secret(self, q: Question, prompt: str, problem: str | None = None) -> Secret:
        value = await self._ask(modals.SecretModal(q, prompt, problem))
        if value is None:
            raise NoAnswer("no secret was given")
        return Secret(str(value), source="prompt")

    async def signoff(
        self, q: Question, signers: int, roles: list[str], problem: str | None = None
    ) -> list[Signer]:
        rows = await self._ask(modals.SignoffModal(q, signers, roles, problem))
        if rows is None:
            raise NoAnswer("the sign-off was cancelled")
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
