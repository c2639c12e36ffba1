"""The catalogue of every action plans can call, collected from the adapter modules.

An adapter module is imported only when an action of its own is looked up (``postgres.*``
loads only the PostgreSQL adapter), so that a command pays only for the systems its plan
touches. ``actions()`` loads them all (for ``drconsole actions`` and spelling suggestions).

Adapters import their client libraries when an action first runs, in the step's worker thread.
Two steps that start together could then import the same library at once, and Python's import
deadlock avoidance hands one of them a partially initialised module (``ImportError ...
partially initialized module 'requests.utils'`` was seen one failover in five). ``preload``
imports a plan's libraries in one thread before any step runs.
"""

from __future__ import annotations

import importlib

from drconsole.adapters.base import ActionSpec

MODULES = {
    "local": "drconsole.adapters.local",
    "postgres": "drconsole.adapters.pgactions",
    "vault": "drconsole.adapters.vaultactions",
    "s3": "drconsole.adapters.objectstore",
    "hsm": "drconsole.adapters.hsm",
    "k8s": "drconsole.adapters.kubernetes",
    "dns": "drconsole.adapters.dns",
}
# the sealed exports (vault.kv_export, k8s.config_backup and their restores: adapters/sealed.py)
_SEALED = ("cryptography.exceptions", "cryptography.hazmat.primitives.ciphers.aead")
LIBRARIES = {  # what each adapter's actions import when they run
    "local": (),
    "postgres": ("psycopg", "psycopg.sql"),
    "vault": ("hvac", "hvac.exceptions", "requests", *_SEALED),
    "s3": ("boto3", "botocore.config", "botocore.exceptions"),
    "hsm": ("pkcs11",),
    "k8s": (  # not the typed API classes: the adapter does not use them (kubernetes.py)
        "kubernetes.client.api_client",
        "kubernetes.client.configuration",
        "kubernetes.client.exceptions",
        "kubernetes.config.kube_config",
        *_SEALED,
    ),
    "dns": ("boto3", "botocore.config", "botocore.exceptions"),
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


def preload(names: list[str]) -> None:
    """Import the adapters of these actions and their client libraries, here (one thread),
    before steps run side by side. A library that is not installed is left to the action,
    which says so when it runs."""
    for prefix in sorted({name.split(".", 1)[0] for name in names}):
        _load(prefix)
        for library in LIBRARIES.get(prefix, ()):
            try:
                importlib.import_module(library)
            except ImportError:
                continue
