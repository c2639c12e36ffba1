"""The Secret type: a value that must never reach a log, the journal, a report or the screen.

A Secret's ``str``/``repr`` is a fixed mask; the only way to the value is ``reveal()``, which
adapters call at the moment they hand it to the system that needs it.

Every secret value this process holds is also in one registry (``register``, ``registered``):
a Secret registers itself when it is made, so a value read from a file or an environment
variable (``secret_from_reference``, whoever calls it) or typed at a prompt is masked by the
journal's redactor wherever it turns up afterwards, in a step's output as much as anywhere.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

MASK = "[redacted]"
MIN_MASKED = 4
"""Shorter values are not masked inside other text (they would blank out ordinary words)."""

_registry: tuple[str, ...] = ()
_registry_lock = threading.Lock()


def register(value: str) -> None:
    """Mask ``value`` wherever it turns up from now on, in this process."""
    global _registry
    if len(value) >= MIN_MASKED and value not in _registry:
        with _registry_lock:
            _registry = tuple(sorted({*_registry, value}, key=len, reverse=True))


def registered() -> tuple[str, ...]:
    """Every registered secret value, longest first (a value inside another is masked after
    the longer one)."""
    return _registry


class SecretSourceError(ValueError):
    """A secret that was named (an environment variable or file) cannot be read."""


class Secret:
    """A secret value with a masked representation."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str = "prompt") -> None:
        self._value = value
        self.source = source
        register(value)

    def reveal(self) -> str:
        """The value itself. Call only where the value is handed to the system that needs it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK}, source={self.source!r})"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


_SECRET_KEY_ENDINGS = (
    "password",
    "passwd",
    "token",
    "secret",
    "secret_id",
    "secret_key",
    "unseal_key",
    "private_key",
    "api_key",
)


def is_secret_key(key: str) -> bool:
    """Whether a key names a secret value: ``password``, ``db_password``, ``root_token``...

    Matches the end of the key, so ``token_ttl`` or ``shares`` (a count) are not secrets.
    """
    lowered = key.lower()
    return any(lowered == end or lowered.endswith("_" + end) for end in _SECRET_KEY_ENDINGS)


def secret_from_reference(ref: dict[str, str]) -> Secret:
    """Read a secret named as ``{env: VAR}`` or ``{file: PATH}``; a literal is refused.

    Raises:
        SecretSourceError: the reference is malformed or the source is missing or empty.
    """
    if not isinstance(ref, dict) or len(ref) != 1 or next(iter(ref)) not in ("env", "file"):
        raise SecretSourceError(
            "a secret must be named, not written out: use {env: VARIABLE} or {file: PATH}"
        )
    kind, name = next(iter(ref.items()))
    if kind == "env":
        value = os.environ.get(str(name))
        if not value:
            raise SecretSourceError(f"environment variable {name} is not set or empty")
        return Secret(value, source=f"env:{name}")
    path = Path(str(name)).expanduser()
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SecretSourceError(f"cannot read secret file {path}: {exc.strerror}") from None
    if not value:
        raise SecretSourceError(f"secret file {path} is empty")
    return Secret(value, source=f"file:{path}")
