"""Shared fixtures: isolated runs directories, plan writing, in-process CLI calls."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from drconsole.cli import main

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the developer's own data directory."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("DRCONSOLE_RUNS_DIR", raising=False)


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run ``drconsole ARGS`` in-process and capture its output."""

    def run(*args: str) -> CliResult:
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def write_plan(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a plan (dedented YAML) into the test's directory."""

    def write(text: str, name: str = "plan.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


@pytest.fixture
def backup_file(tmp_path: Path) -> Path:
    """A small file with its ``.sha256`` beside it, as sha256sum writes it."""
    path = tmp_path / "qsign.dump"
    path.write_bytes(os.urandom(4096))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    (tmp_path / "qsign.dump.sha256").write_text(f"{digest}  qsign.dump\n")
    return path


def drconsole_cmd() -> list[str]:
    """The command that runs drconsole in a subprocess with this interpreter."""
    return [sys.executable, "-m", "drconsole"]


@contextmanager
def running_sandbox(prefix: str) -> Iterator[Path]:
    """A whole sandbox in a fresh directory the unprivileged cluster user can reach; stopped
    and removed afterwards."""
    from drconsole.sandbox import manager

    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)
    try:
        manager.up(root / "sbx")
        yield root / "sbx"
    finally:
        try:
            manager.down(root / "sbx")
        finally:
            shutil.rmtree(root, ignore_errors=True)
