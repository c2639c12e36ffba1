"""How the engine talks to people. The TUI implements this with modals, headless runs with an
answers file, tests with a scripted operator (the same answers-file class fed a dict).

The engine enforces the rules (typed text must match, signers must be distinct and cover the
roles); an operator only collects answers. When an answer breaks a rule the engine asks again
with ``problem`` set; an operator that cannot do better raises :class:`NoAnswer`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from drconsole.engine.ceremony_rules import Participant
from drconsole.secrets import Secret


class NoAnswer(Exception):
    """The operator has no (further) answer; the message says which one is missing."""


@dataclass(frozen=True)
class Signer:
    """A named person signing in a role."""

    name: str
    role: str


@dataclass(frozen=True)
class FieldSpec:
    """One value to ask for (evidence, an input)."""

    name: str
    type: str = "string"
    prompt: str | None = None
    required: bool = True
    pattern: str | None = None
    choices: list[str] | None = None


@dataclass(frozen=True)
class Question:
    """Common context of every question: which step, its title and guidance."""

    step_id: str
    title: str
    guidance: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class InterruptedChoice(StrEnum):
    RERUN = "rerun"
    MARK_DONE = "mark_done"
    ABORT = "abort"


class FailureChoice(StrEnum):
    RETRY = "retry"
    CONTINUE = "continue"
    ABORT = "abort"


class Operator(Protocol):
    """The people at the console."""

    name: str

    async def confirm(self, q: Question, prompt: str) -> bool:
        """Yes or no."""
        ...

    async def typed_confirm(
        self, q: Question, prompt: str, expected: str, problem: str | None = None
    ) -> str:
        """The text the operator typed (the engine compares it with ``expected``)."""
        ...

    async def secret(self, q: Question, prompt: str, problem: str | None = None) -> Secret:
        """A secret, masked as typed, never echoed."""
        ...

    async def signoff(
        self, q: Question, signers: int, roles: list[str], problem: str | None = None
    ) -> list[Signer]:
        """Named people with roles."""
        ...

    async def evidence(
        self, q: Question, fields: list[FieldSpec], problem: str | None = None
    ) -> dict[str, str]:
        """Recorded values (bag numbers, serials)."""
        ...

    async def interrupted(self, q: Question) -> tuple[InterruptedChoice, str]:
        """What to do with a non-idempotent step the process stopped in: choice and reason."""
        ...

    async def failed(self, q: Question, error: str) -> FailureChoice:
        """What to do after a step with ``on_failure: ask`` failed."""
        ...

    # ----------------------------------------------------------------- ceremonies
    async def participants(
        self, q: Question, roles: dict[str, str], problem: str | None = None
    ) -> list[Participant]:
        """The sign-in sheet: everyone present, each with one role (role id -> title)."""
        ...

    async def initials(self, q: Question, problem: str | None = None) -> tuple[str, str]:
        """The initials of who did the step and of the witness."""
        ...

    async def exception(
        self, q: Question, number: int, expected: str, happened: str | None
    ) -> tuple[str, str]:
        """An exception to the script: what happened (given when the engine knows) and the
        ceremony administrator's decision."""
        ...

    async def quorum(
        self, q: Question, role: str, need: int, present: str, problem: str | None = None
    ) -> list[tuple[str, str]]:
        """(initials, card or share id) of each holder presenting."""
        ...

    async def attest(self, q: Question, participant: Participant) -> tuple[bool, str]:
        """A participant's closing attestation: agree, or not with a reason."""
        ...
