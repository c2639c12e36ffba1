"""``python -m drconsole`` ends with os._exit once the command has returned: what the command
printed into a pipe still arrives whole, and its exit code is the command's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# block-buffered output, as in a pipe by default: the flush before os._exit is what delivers it
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


def test_output_into_a_pipe_arrives_and_the_exit_code_is_the_commands(tmp_path: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "drconsole", "validate", str(REPO / "plans" / "pitr-restore.yaml")],
        capture_output=True,
        text=True,
        check=False,
        env=ENV,
    )
    assert ok.returncode == 0, ok.stderr
    assert "pitr-restore.yaml: ok" in ok.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "drconsole", "validate", str(tmp_path / "none.yaml")],
        capture_output=True,
        text=True,
        check=False,
        env=ENV,
    )
    assert missing.returncode == 2
    assert "none.yaml" in missing.stderr
    assert "Traceback" not in missing.stderr
