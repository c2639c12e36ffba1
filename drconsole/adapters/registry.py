"""The catalogue of every action plans can call, collected from the adapter modules.

An adapter module is imported only when an action of its own is looked up (``postgres.*``
loads only the PostgreSQL adapter), so that a command pays only for the systems its plan
touches. ``actions()`` loads them all (for ``drconsole actions`` and spelling suggestions).
"""

from __future__ import annotations

import importlib

from drconsole.adapters.base import ActionSpec

MODULES = {
    "local": "drconsole.adapters.local",
    "postgres": "drconsole.adapters.postgres",
    "vault": "drconsole.adapters.vault",
    "s3": "drconsole.adapters.objectstore",
    "hsm": "drconsole.adapters.hsm",
    "k8s": "drconsole.adapters.kubernetes",
    "dns": "drconsole.adapters.dns",
}
_loaded: dict[str, ActionSpec] = {}
_imported: set[str] = set()


def _load(prefix: str) -> None:
    module_name = MODULES.get(prefix)
    if module_name is None or prefix in _imported:
        return
    module = importlib.import_module(module_name)
    for spec in module.ACTIONS:
        _loaded.setdefault(spec.name, spec)
    _imported.add(prefix)


def actions() -> dict[str, ActionSpec]:
    """All actions by name (``adapter.method``)."""
    for prefix in MODULES:
        _load(prefix)
    return _loaded


def lookup(name: str) -> ActionSpec | None:
    """The action called ``name``, or None."""
    if name not in _loaded:
        _load(name.split(".", 1)[0])
    return _loaded.get(name)
