"""References inside plan values: ``${inputs.x}``, ``${targets.site.key}``,
``${steps.id.outputs.name}``.

A value that is exactly one reference takes the referenced value with its type; a reference
inside a longer string is rendered as text. ``$${`` writes a literal ``${``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

_REF = re.compile(r"(?<!\$)\$\{([^}]*)\}")


class RefError(ValueError):
    """A reference that is malformed or points at nothing."""


@dataclass(frozen=True)
class Ref:
    """A parsed reference: its root (inputs, targets, steps) and the parts after it."""

    root: str
    parts: tuple[str, ...]

    @property
    def text(self) -> str:
        return "${" + ".".join((self.root, *self.parts)) + "}"


def parse_ref(expr: str) -> Ref:
    """Parse the inside of ``${...}``.

    Raises:
        RefError: not one of the three forms.
    """
    parts = tuple(p.strip() for p in expr.strip().split("."))
    if not parts or any(not p for p in parts):
        raise RefError(f"malformed reference ${{{expr}}}")
    root, rest = parts[0], parts[1:]
    if root == "inputs" and len(rest) == 1:
        return Ref(root, rest)
    if root == "targets" and len(rest) >= 2:
        return Ref(root, rest)
    if root == "steps" and len(rest) == 3 and rest[1] == "outputs":
        return Ref(root, rest)
    raise RefError(
        f"unknown reference ${{{expr}}}: use ${{inputs.NAME}}, ${{targets.SITE.KEY}} "
        "or ${steps.ID.outputs.NAME}"
    )


def iter_refs(
    value: Any, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every ``${...}`` inside ``value`` (walking dicts and lists), with where it stands."""
    if isinstance(value, str):
        for match in _REF.finditer(value):
            yield path, match.group(1)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from iter_refs(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from iter_refs(item, (*path, index))


def has_refs(value: Any) -> bool:
    return any(True for _ in iter_refs(value))


def resolve(value: Any, lookup: Callable[[Ref], Any]) -> Any:
    """Replace every reference in ``value`` using ``lookup``.

    Raises:
        RefError: a reference is malformed, or ``lookup`` raised it.
    """
    if isinstance(value, str):
        whole = _REF.fullmatch(value)
        if whole:
            return lookup(parse_ref(whole.group(1)))

        def render(match: re.Match[str]) -> str:
            found = lookup(parse_ref(match.group(1)))
            return "" if found is None else str(found)

        return _REF.sub(render, value).replace("$${", "${")
    if isinstance(value, dict):
        return {key: resolve(item, lookup) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, lookup) for item in value]
    return value


def resolve_known(text: str, lookup: Callable[[Ref], Any]) -> str:
    """``text`` with each reference ``lookup`` can answer now replaced by its value, and the
    others left as written (a step's output not produced yet, a malformed one): for words a
    person reads while a run is under way, such as a step's guidance."""

    def render(match: re.Match[str]) -> str:
        try:
            found = lookup(parse_ref(match.group(1)))
        except RefError:
            return match.group(0)
        return match.group(0) if found is None else str(found)

    return _REF.sub(render, text).replace("$${", "${")
