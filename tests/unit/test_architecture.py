"""The layering rules hold: the core never imports textual, and ``--help`` imports nothing heavy."""

from __future__ import annotations

import subprocess
import sys

CORE = [
    "drconsole.cli",
    "drconsole.engine.launch",
    "drconsole.engine.runner",
    "drconsole.journal.journal",
    "drconsole.plans.validate",
    "drconsole.adapters.registry",
    "drconsole.report.build",
]


def loaded_after(code: str) -> set[str]:
    script = f"import sys\n{code}\nprint('\\n'.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


def test_the_core_does_not_import_textual() -> None:
    modules = loaded_after(
        "\n".join(f"import {m}" for m in CORE) + "\ndrconsole.adapters.registry.actions()"
    )
    assert not {m for m in modules if m == "textual" or m.startswith("textual.")}


def test_help_imports_no_heavy_library() -> None:
    modules = loaded_after("import drconsole.cli")
    heavy = {"pydantic", "yaml", "tenacity", "textual", "psycopg", "hvac", "boto3", "kubernetes"}
    assert not heavy & {m.split(".")[0] for m in modules}


def test_the_console_draws_before_loading_plans_or_clients() -> None:
    """The first screen needs textual and the app; validation, pydantic and the system
    clients load after it is drawn (the home screen fills its lists in a worker)."""
    modules = loaded_after("import drconsole.tui.app")
    late = {"pydantic", "yaml", "psycopg", "hvac", "boto3", "kubernetes", "pkcs11"}
    assert not late & {m.split(".")[0] for m in modules}
    assert "drconsole.plans.validate" not in modules
