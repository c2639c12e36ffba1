"""Every shipped plan previews: a dry run offline, in a network namespace with no interfaces,
against a targets file whose services do not exist. Parametrised over ``plans/*.yaml``, so a new
plan is covered by default. A preview must never fail on a value only a real run produces."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from drconsole.journal.journal import read_events, verify
from drconsole.plans.validate import load_plan
from drconsole.sandbox.manager import SandboxState, write_targets
from tests.conftest import REPO, drconsole_cmd

PLANS = sorted((REPO / "plans").glob("*.yaml"))
SAMPLE = {
    "timestamp": "2026-11-30T08:00:00Z",
    "string": "x",
    "int": "1",
    "bool": "true",
    "duration": "1h",
}


def _netns_prefix() -> list[str]:
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare (util-linux) is not installed: no network namespace to test in")
    probe = subprocess.run([unshare, "-n", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot create a network namespace here: {probe.stderr.decode().strip()}")
    return [unshare, "-n"]


@pytest.fixture(scope="module")
def nowhere_targets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sandbox's targets file, written for services that were never started (port 9)."""
    root = tmp_path_factory.mktemp("nowhere")
    (root / "k8s").mkdir()
    (root / "hsm").mkdir()
    (root / "hsm" / "softhsm2.conf").write_text("")  # the practice HSM sites are written too
    names = ["s3", "k8s_primary", "k8s_dr"] + [
        f"bao_{site}{suffix}" for site in ("primary", "dr") for suffix in ("", "_cluster")
    ]
    state = SandboxState(str(root), "nobody", 9, 9, 0.0, dict.fromkeys(names, 9))
    return write_targets(state)


def _required_inputs(plan_path: Path) -> list[str]:
    plan = load_plan(plan_path).plan
    assert plan is not None
    args: list[str] = []
    for name, spec in plan.inputs.items():
        if spec.required and spec.default is None:
            args += ["--input", f"{name}={SAMPLE[spec.type.value]}"]
    return args


@pytest.mark.parametrize("plan_path", PLANS, ids=[p.stem for p in PLANS])
def test_every_plan_previews_offline(
    plan_path: Path, nowhere_targets: Path, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    command = [
        *_netns_prefix(),
        *drconsole_cmd(),
        "run",
        str(plan_path),
        "--headless",
        "--mode",
        "dry-run",
        "--yes",
        "--targets",
        str(nowhere_targets),
        "--runs-dir",
        str(runs),
        *_required_inputs(plan_path),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    (run_dir,) = runs.iterdir()
    assert verify(run_dir).ok
    events = list(read_events(run_dir))
    finished = {e.data["step"]: e.data for e in events if e.type == "step_finished"}
    plan = load_plan(plan_path).plan
    assert plan is not None
    assert set(finished) == {s.id for s in plan.steps}
    not_simulated = {
        k: v for k, v in finished.items() if v["status"] not in ("simulated", "skipped")
    }
    assert not not_simulated, not_simulated
    # every action step says what it will do, with its placeholders shown, not a repr
    for event in events:
        if event.type == "step_started":
            assert event.data["description"], event.data["step"]
    assert [e.data["result"] for e in events if e.type == "run_finished"] == ["succeeded"]
