"""Shared fixtures: isolated runs directories, plan writing, in-process CLI calls."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from drconsole.cli import main
from drconsole.journal.journal import read_events

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the developer's own data directory."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("DRCONSOLE_RUNS_DIR", raising=False)


@pytest.fixture(autouse=True)
def _report_every_run(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test, every run it left under its tmp_path must report (md and json) and, for
    a ceremony, give its record (md, html, json): an exception fails the test. The number of
    runs reported is kept in the test's ``user_properties`` as ``runs_reported``."""
    yield
    reported = report_every_run(tmp_path)
    request.node.user_properties.append(("runs_reported", len(reported)))


def report_every_run(root: Path) -> list[Path]:
    """Build every report and record of the run directories under ``root``; return them."""
    from drconsole.journal.journal import JOURNAL
    from drconsole.report import build, record
    from drconsole.runs.read import read_run

    found = []
    for here, dirs, files in os.walk(root):
        if JOURNAL in files:
            found.append(Path(here))
            dirs.clear()  # a run directory holds no other runs
    for run_dir in found:
        try:
            run = read_run(run_dir)
            report = build.build(run)
            build.to_markdown(report)
            json.dumps(report, ensure_ascii=False)
            if run.plan is not None and run.plan.ceremony is not None:
                kept = record.build_record(run)
                record.to_markdown(kept)
                record.to_html(kept)
                json.dumps(kept, ensure_ascii=False)
        except Exception as exc:
            raise AssertionError(f"the report or record of {run_dir} fails: {exc!r}") from exc
    return found


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


def start_run(
    args: list[str], step: str | None = None, within_s: float = 60
) -> tuple[subprocess.Popen[str], Path]:
    """Start ``drconsole run ARGS`` (headless) in a session of its own and wait until ``step``
    (any step when None) has started. Returns the process and its run directory."""
    proc = subprocess.Popen(
        [*drconsole_cmd(), "run", *args],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    run_dir = Path(proc.stdout.readline().strip())
    deadline = time.monotonic() + within_s
    while not any(
        e.type == "step_started" and step in (None, e.data["step"]) for e in read_events(run_dir)
    ):
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"step {step or '(any)'} never started in {run_dir}")
        time.sleep(0.05)
    return proc, run_dir


def kill_run(proc: subprocess.Popen[str]) -> None:
    """SIGKILL a run started by ``start_run`` and everything it started."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
