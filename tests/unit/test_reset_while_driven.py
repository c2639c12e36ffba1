"""`sandbox reset` (and `prepare-drill`, which resets) is refused while a run is being driven
against the sandbox: it would stop, promote and restore the systems a step is using. Before,
it ran regardless (found by the hostile walk). A run against another targets file, or one that
ended, does not hold it up."""

from __future__ import annotations

import json
from pathlib import Path

from drconsole.adapters.oscmd import free_port
from drconsole.sandbox.reset import driven_runs
from tests.conftest import Cli, kill_run, start_run

PLAN = "id: long\ntitle: Long\nkind: drill\nsteps:\n  - {id: soak, wait: 60s}\n"


def _sandbox(tmp_path: Path) -> Path:
    root = tmp_path / "sbx"
    root.mkdir()
    state = {"root": str(root), "os_user": "postgres", "primary_port": free_port(),
             "standby_port": free_port(), "created_at": 0.0}  # fmt: skip
    (root / "sandbox.json").write_text(json.dumps(state))
    (root / "targets.yaml").write_text("sites: {sandbox: {drill: true}}\n")
    return root


def test_reset_is_refused_while_a_run_is_driven_against_the_sandbox(
    tmp_path: Path, cli: Cli
) -> None:
    root = _sandbox(tmp_path)
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    runs = tmp_path / "runs"
    proc, run_dir = start_run(
        [str(plan), "--headless", "--runs-dir", str(runs), "--operator", "kim",
         "--targets", str(root / "targets.yaml")],
        step="soak",
    )  # fmt: skip
    try:
        for command in ("reset", "prepare-drill"):
            refused = cli("sandbox", command, "--dir", root, "--runs-dir", runs)
            assert refused.code == 1, refused.err  # as every sandbox command that cannot go on
            assert "not reset: a run is being driven against this sandbox" in refused.err
            assert str(run_dir) in refused.err
            assert "driven by kim" in refused.err
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        assert driven_runs(elsewhere.resolve(), runs) == []  # another sandbox: not held up
    finally:
        kill_run(proc)
    assert driven_runs(root.resolve(), runs) == []  # its driver is gone: reset may go on
