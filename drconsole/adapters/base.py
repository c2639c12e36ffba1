"""What every adapter shares: the error types, the action declaration and the call context.

``TransientError`` means a retry may help (connection refused, timeout, 5xx); ``PermanentError``
means stop and show the operator why. The engine retries only transient errors, in one place.
``wait_until`` is the one poll loop adapters wait with.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, Protocol

from pydantic import BaseModel, ConfigDict
from typing_extensions import TypeVar

from drconsole.secrets import Secret


class AdapterError(Exception):
    """An action failed. ``hint`` says what the operator can do next."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class TransientError(AdapterError):
    """A failure that may pass: a retry is worth it."""


class PermanentError(AdapterError):
    """A failure a retry will not fix; the operator must look."""


class CheckFailed(PermanentError):
    """A read-only check ran and found something wrong. ``evidence`` says what it saw."""

    def __init__(
        self, message: str, *, evidence: Mapping[str, Any] | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.evidence = dict(evidence or {})


class Cancelled(AdapterError):
    """The action stopped because the engine asked it to (timeout, abort)."""


R = TypeVar("R")  # what a wait's probe answers


def wait_until(
    probe: Callable[[], R],
    timeout_s: float,
    interval_s: float = 0.2,
    cancel: threading.Event | None = None,
) -> R:
    """Call ``probe`` every ``interval_s`` until it answers something true or ``timeout_s``
    passes, then once more: its last answer. Raises Cancelled as soon as ``cancel`` is set (a
    cancelled step stops waiting)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if answer := probe():
            return answer
        if cancel is None:
            time.sleep(interval_s)
        elif cancel.wait(interval_s):
            raise Cancelled("the wait was cancelled")
    return probe()


class Effect(StrEnum):
    """What an action does to the system it talks to."""

    READ_ONLY = "read-only"
    CHANGES = "changes"
    DESTRUCTIVE = "destructive"


class Params(BaseModel):
    """Base of every action's parameter model: unknown parameters are refused."""

    model_config = ConfigDict(extra="forbid")


class AskSecret(Protocol):
    """Asks the operator for a secret; ``problem`` is why the previous answer was refused."""

    def __call__(self, prompt: str, problem: str | None = None) -> Secret: ...


@dataclass
class ActionContext:
    """What the engine hands an action: where it acts, how to stop, how to talk.

    Attributes:
        site: the target site's settings from the targets file (empty for local actions).
        site_name: the site's name, for messages.
        cancel: set when the action must stop (timeout or abort); long actions poll it.
        log: a line of live output for the operator (not journaled).
        ask_secret: asks the operator for a secret (blocks the worker thread, not the loop);
            ``problem`` says why the previous one was refused (journaled, shown where it is typed).
        artefact_dir: a directory for this step's files (kept with the run record).
    """

    site: Mapping[str, Any] = field(default_factory=dict)
    site_name: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    log: Callable[[str], None] = lambda line: None
    ask_secret: AskSecret | None = None
    artefact_dir: str | None = None


P = TypeVar("P", bound=Params, default=Params)
"""An action's parameter model (a bare ``ActionSpec`` is one of any model, for the engine)."""


@dataclass(frozen=True, kw_only=True)
class ActionSpec(Generic[P]):
    """One action an adapter offers to plans, by keyword. Typed by its parameter model: mypy
    checks that ``run`` and ``describe`` read only what ``params`` declares. (An adapter's
    ``ACTIONS`` list is left without an annotation: ``list[ActionSpec[Any]]`` would have mypy
    check each runner against ``Any``.)

    Attributes:
        name: ``adapter.method`` as plans write it.
        summary: one line for the reference and dry-run.
        params: the pydantic model of its parameters.
        outputs: output names and a short description of each.
        effect: read-only, changes, or destructive.
        idempotent: running it twice leaves the same result (safe to rerun after a crash).
        run: the call itself (runs in a worker thread).
        describe: what it would do with these parameters, for dry-run.
        needs_site: it acts on a target site from the targets file.
        offline: it needs no network (allowed in plans marked ``offline: true``).
    """

    name: str
    summary: str
    params: type[P]
    outputs: Mapping[str, str]
    effect: Effect
    idempotent: bool
    run: Callable[[ActionContext, P], Mapping[str, Any]]
    describe: Callable[[P], str]
    needs_site: bool = False
    offline: bool = False

    @property
    def read_only(self) -> bool:
        return self.effect is Effect.READ_ONLY
