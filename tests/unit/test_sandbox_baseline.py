"""Under a failed run on a sandbox a drill left off its baseline, the console and `drconsole run`
say what is off and that `sandbox reset` brings it back (the journey test shows it after a real
failover; here the checks themselves, on a sandbox directory whose servers are not running)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from drconsole.adapters.oscmd import free_port
from drconsole.sandbox import baseline


def _sandbox(tmp_path: Path, primary_port: int) -> Path:
    root = tmp_path / "sbx"
    root.mkdir()
    state = {"root": str(root), "os_user": "postgres", "primary_port": primary_port,
             "standby_port": free_port(), "created_at": 0.0}  # fmt: skip
    (root / "sandbox.json").write_text(json.dumps(state))
    (root / "targets.yaml").write_text("sites: {primary: {drill: true}}\n")
    return root


def test_a_sandbox_with_its_primary_down_and_a_fault_injected(tmp_path: Path) -> None:
    root = _sandbox(tmp_path, free_port())
    (root / "faults-active.json").write_text(json.dumps({"seal-vault@dr": {}}))
    said = baseline.hint(root / "targets.yaml")
    assert said is not None
    assert "the primary database does not answer" in said
    assert "the fault seal-vault is injected on dr (`sandbox heal seal-vault`)" in said
    assert f"drconsole sandbox reset --dir {root}" in said


def test_nothing_is_said_at_the_baseline_or_off_a_sandbox(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as primary:  # answers; the standby does not
        root = _sandbox(tmp_path, primary.getsockname()[1])
        assert baseline.hint(root / "targets.yaml") is None
    elsewhere = tmp_path / "targets.yaml"
    elsewhere.write_text("sites: {primary: {drill: true}}\n")
    assert baseline.hint(elsewhere) is None
    assert baseline.hint(None) is None


def test_a_sandbox_whose_state_does_not_read_is_left_to_sandbox_status(tmp_path: Path) -> None:
    root = tmp_path / "sbx"
    root.mkdir()
    (root / "sandbox.json").write_text("{}")  # not what `sandbox up` writes
    assert baseline.hint(root / "targets.yaml") is None  # no traceback under the failed run
