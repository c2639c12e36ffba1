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

from drconsole.adapters.oscmd import free_port
from drconsole.cli import main
from drconsole.journal.journal import read_events
from drconsole.sandbox.s3 import MotoServer

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the developer's own data or cache directory (the history
    index lives in the cache)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
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
    from drconsole.report import formats, record
    from drconsole.runs.read import read_run

    found = []
    for here, dirs, files in os.walk(root):
        if JOURNAL in files:
            found.append(Path(here))
            dirs.clear()  # a run directory holds no other runs
    for run_dir in found:
        try:
            run = read_run(run_dir)
            for fmt in formats.FORMATS:  # every format a report has, a new one included
                formats.render(run, fmt)
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

    @property
    def run_dir(self) -> Path:
        """The run a ``drconsole run`` made (the first line it prints)."""
        return Path(self.out.splitlines()[0])


class Cli:
    """``drconsole ARGS`` in-process, its output captured; ``run`` runs a plan headless."""

    def __init__(self, capsys: pytest.CaptureFixture[str], runs: Path) -> None:
        self.capsys = capsys
        self.runs = runs

    def __call__(self, *args: object) -> CliResult:
        code = main([str(a) for a in args])
        captured = self.capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    def run(
        self,
        plan: object,
        *options: object,
        answers: object = None,
        targets: object = None,
        mode: str | None = None,
        runs: object = None,
    ) -> CliResult:
        """``drconsole run PLAN --headless --runs-dir TMP/runs`` with the answers file, the
        targets file and the mode when given, then ``options`` as they are."""
        args: list[object] = ["run", plan, "--headless", "--runs-dir", runs or self.runs]
        for flag, value in (("--answers", answers), ("--targets", targets), ("--mode", mode)):
            args += [flag, value] if value is not None else []
        return self(*args, *options)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Cli:
    """Run ``drconsole ARGS`` in-process and capture its output (``cli.run``: a plan,
    headless, into ``tmp_path/runs``)."""
    return Cli(capsys, tmp_path / "runs")


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


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """One moto server (the real S3 and Route 53 APIs over HTTP; the sandbox's bucket,
    versioning on) on a free port for a test module; stopped after."""
    server = MotoServer(tmp_path_factory.mktemp("s3"), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


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
