"""The layering rules hold: the core never imports textual, ``--help`` imports nothing heavy,
and validating plans imports no system client."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

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


def test_a_headless_run_does_not_import_textual(tmp_path: Path) -> None:
    """A headless run prints the run screen's words (tui.labels) without loading textual."""
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "id: p\ntitle: P\nkind: drill\nsteps:\n"
        "  - {id: a, action: local.sleep, with: {seconds: 0}}\n"
    )
    modules = loaded_after(
        "import contextlib, io\n"
        "from drconsole.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['run', {str(plan)!r}, '--headless', '--yes',"
        f" '--runs-dir', {str(tmp_path / 'runs')!r}]) == 0"
    )
    assert "drconsole.engine.runner" in modules
    assert not {m for m in modules if m == "textual" or m.startswith("textual.")}


def test_help_imports_no_heavy_library() -> None:
    modules = loaded_after("import drconsole.cli")
    heavy = {"pydantic", "yaml", "tenacity", "textual", "psycopg", "hvac", "boto3", "kubernetes"}
    assert not heavy & {m.split(".")[0] for m in modules}


CLIENTS = {"psycopg", "hvac", "requests", "urllib3", "boto3", "botocore", "kubernetes", "pkcs11"}


def test_validation_imports_no_client_library() -> None:
    """Validating a plan needs each action's parameters, not its client: every shipped plan,
    through ``load_plan``, ``drconsole validate`` and ``drconsole schema``, loads none (the
    console's home screen validates plans/; a run imports its clients in registry.preload)."""
    plans = sorted(str(p) for p in (REPO / "plans").glob("*.yaml"))
    modules = loaded_after(
        "import contextlib, io\n"
        "from drconsole.cli import main\n"
        "from drconsole.plans.validate import load_plan\n"
        f"assert all(load_plan(p).ok for p in {plans!r})\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['validate', *{plans!r}]) == 0\n"
        "    assert main(['schema']) == 0"
    )
    assert "drconsole.adapters.vault" in modules  # every adapter's actions were looked up
    assert not CLIENTS & {m.split(".")[0] for m in modules}


def test_the_console_draws_before_loading_plans_or_clients() -> None:
    """The first screen needs textual and the app; validation, pydantic and the system
    clients load after it is drawn (the home screen fills its lists in a worker)."""
    modules = loaded_after("import drconsole.tui.app")
    late = {"pydantic", "yaml", "psycopg", "hvac", "boto3", "kubernetes", "pkcs11"}
    assert not late & {m.split(".")[0] for m in modules}
    assert "drconsole.plans.validate" not in modules
