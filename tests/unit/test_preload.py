"""Client libraries are imported in one thread before a plan's steps run side by side: two steps
importing the same library at once can get a partially initialised module.

The failover restores the DR Vault (hvac) and scales up the api-server (the Kubernetes client)
at the same moment, and both import requests. Left to the step threads, the two imports met
requests half-initialised about one time in five (ImportError: cannot import name
'parse_dict_header' from partially initialized module 'requests.utils') and the failover
failed. Validation imports no client library (tests/unit/test_architecture.py); the engine's
``registry.preload`` imports them after the run has started and before its first step."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from drconsole.adapters import registry
from drconsole.plans.validate import load_plan
from tests.conftest import REPO


def test_every_adapter_names_what_it_imports() -> None:
    assert set(registry.LIBRARIES) == set(registry.MODULES)


def test_preload_imports_the_plans_libraries_and_no_others() -> None:
    code = (
        "import sys\n"
        "from drconsole.adapters import registry\n"
        "registry.preload(['vault.unseal', 'k8s.scale'])\n"
        "print(sorted(m for m in ('hvac', 'requests', 'kubernetes.client', 'boto3', 'psycopg')"
        " if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['hvac', 'kubernetes.client', 'requests']"


def test_preloading_the_failover_loads_requests() -> None:
    result = load_plan(REPO / "plans" / "dr-site-failover.yaml")
    assert result.plan is not None, result.problems
    calls = [step.call for step in result.plan.steps if step.call]
    code = (
        "import sys\n"
        "from drconsole.adapters import registry\n"
        f"registry.preload({calls!r})\n"
        "print(' '.join(sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert {"requests", "requests.utils", "urllib3", "hvac"} <= set(done.stdout.split())


# Runs a plan headless; when ``requests`` is first imported, notes whether the run's journal
# already holds run_started and any step_started.
SPY = """
import sys
from pathlib import Path

runs = Path(sys.argv[1])
seen = []


class Spy:
    def find_spec(self, name, path=None, target=None):
        if name == "requests":
            text = "".join(j.read_text() for j in runs.glob("*/journal.jsonl"))
            seen.append(("run_started" in text, "step_started" in text))
        return None


sys.meta_path.insert(0, Spy())
from drconsole.cli import main

main(["run", *sys.argv[2:], "--headless", "--runs-dir", str(runs)])
print("SEEN", seen)
"""
PLAN = """\
id: vault-status
title: Vault status
kind: drill
steps:
  - {id: status, check: vault.status, site: primary, timeout: 5s, on_failure: continue}
"""


def test_a_run_imports_its_clients_after_it_starts_and_before_its_first_step(
    tmp_path: Path,
) -> None:
    (tmp_path / "plan.yaml").write_text(PLAN)
    (tmp_path / "targets.yaml").write_text(
        "sites:\n  primary:\n    vault: {addr: 'http://127.0.0.1:9'}\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", SPY, str(tmp_path / "runs"), str(tmp_path / "plan.yaml"),
         "--targets", str(tmp_path / "targets.yaml")],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert "SEEN" in done.stdout, done.stderr
    seen = done.stdout.split("SEEN", 1)[1].strip()
    assert seen == "[(True, False)]", (seen, done.stdout, done.stderr)
