"""The catalogue of every action plans can call, collected from the adapter modules."""

from __future__ import annotations

from functools import cache

from drconsole.adapters.base import ActionSpec


@cache
def actions() -> dict[str, ActionSpec]:
    """All actions by name (``adapter.method``)."""
    from drconsole.adapters import local, objectstore, postgres, vault

    found: dict[str, ActionSpec] = {}
    for module in (local, postgres, vault, objectstore):
        for spec in module.ACTIONS:
            found[spec.name] = spec
    return found


def lookup(name: str) -> ActionSpec | None:
    """The action called ``name``, or None."""
    return actions().get(name)
