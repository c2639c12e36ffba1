"""End to end: the console in a real terminal (tmux, 80x24), a plan run by keystrokes, the
screen read back as a person would see it."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from drconsole.runs.rundir import list_runs
from tests.conftest import REPO


@pytest.fixture
def tmux() -> Iterator[list[str]]:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed (make setup installs it)")
    base = ["tmux", "-L", f"drconsole-test-{uuid.uuid4().hex[:8]}"]
    yield base
    subprocess.run([*base, "kill-server"], capture_output=True, check=False)


def screen(tmux: list[str]) -> str:
    return subprocess.run(
        [*tmux, "capture-pane", "-p", "-t", "dc"], capture_output=True, text=True, check=False
    ).stdout


def wait_for(tmux: list[str], text: str, within_s: float = 30) -> str:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        shown = screen(tmux)
        if text in shown:
            return shown
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared; the screen shows:\n{screen(tmux)}")


def keys(tmux: list[str], *sent: str) -> None:
    subprocess.run([*tmux, "send-keys", "-t", "dc", *sent], check=True)


@pytest.mark.slow
def test_a_plan_run_by_keystrokes_in_a_real_terminal(tmux: list[str], tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "id: e2e\ntitle: End to end\nkind: drill\nobjectives: {rto: 5m}\nsteps:\n"
        "  - {id: brief, manual: Brief everyone.}\n"
        "  - {id: pause, wait: 0.5s, needs: [brief]}\n"
        "  - {id: done, milestone: service_restored, needs: [pause]}\n"
    )
    runs = tmp_path / "runs"
    command = " ".join(
        shlex.quote(a)
        for a in [
            sys.executable,
            "-m",
            "drconsole",
            "run",
            str(plan),
            "--runs-dir",
            str(runs),
            "--operator",
            "e2e-operator",
        ]
    )
    subprocess.run(
        [
            *tmux,
            "new-session",
            "-d",
            "-s",
            "dc",
            "-x",
            "80",
            "-y",
            "24",
            f"cd {shlex.quote(str(REPO))} && {command}; sleep 30",
        ],
        check=True,
    )
    shown = wait_for(tmux, "y: Yes, done")
    assert "Brief everyone." in shown
    keys(tmux, "y")
    shown = wait_for(tmux, "│ SUCCEEDED │ End to end")
    assert "DRILL" in shown
    assert "operator e2e-operator" in shown
    assert ": met" in shown
    keys(tmux, "r")
    shown = wait_for(tmux, "Run report: End to end")
    keys(tmux, "escape", "escape")
    wait_for(tmux, "Recent runs")
    [summary] = list_runs(runs)
    assert summary.state.result == "succeeded"


def flat(shown: str) -> str:
    """The screen's words in one line: borders and scrollbars out, wrapped lines joined."""
    for char in "█▌▐▊▎▔▁▀▄▂▃▆":
        shown = shown.replace(char, " ")
    return " ".join(shown.split())


def wait_for_words(tmux: list[str], text: str, within_s: float = 30) -> str:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        shown = flat(screen(tmux))
        if text in shown:
            return shown
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared; the screen shows:\n{screen(tmux)}")


@pytest.mark.slow
def test_the_pitr_form_shows_the_window_and_refuses_a_target_outside_it(
    tmux: list[str], tmp_path: Path
) -> None:
    """On a real sandbox: the start form reads the recovery window in a worker and shows it; a
    target years ago is refused in the form (no run is created); one inside starts the run."""
    from drconsole.engine.precheck import precheck
    from drconsole.plans.validate import load_plan
    from drconsole.targets import load_targets
    from tests.conftest import running_sandbox

    runs = tmp_path / "runs"
    with running_sandbox("dc-pitr-form-") as sbx:
        targets = sbx / "targets.yaml"
        command = " ".join(
            shlex.quote(a)
            for a in [
                sys.executable,
                *("-m", "drconsole", "run", str(REPO / "plans" / "pitr-restore.yaml")),
                *("--targets", str(targets), "--runs-dir", str(runs), "--operator", "e2e"),
            ]
        )
        subprocess.run(
            [*tmux, "new-session", "-d", "-s", "dc", "-x", "80", "-y", "24"]
            + [f"cd {shlex.quote(str(REPO))} && {command}; sleep 60"],
            check=True,
        )
        shown = wait_for_words(tmux, "latest_from")  # the window, read before anything runs
        assert "earliest" in shown
        keys(tmux, *"2020-01-01T00:00:00Z")
        for _ in range(3):
            keys(tmux, "Enter")
            time.sleep(0.4)
        wait_for_words(tmux, "REFUSED: target_time: target 2020-01-01T00:00:00")
        assert "outside the recovery window" in flat(screen(tmux))
        assert not runs.exists() or not list(runs.iterdir())  # nothing started, nothing failed
        plan = load_plan(REPO / "plans" / "pitr-restore.yaml").plan
        assert plan is not None
        window = precheck(plan, "target_time", {}, load_targets(targets))
        assert window is not None
        assert not window.refused
        inside = window.outputs["latest"]
        # a target inside the window (given on the command line: the form starts filled in)
        # respawn the pane: killing the only session ends the tmux server, and a new-session
        # racing that exit fails with "server exited unexpectedly"
        subprocess.run(
            [*tmux, "respawn-pane", "-k", "-t", "dc"]
            + [f"cd {shlex.quote(str(REPO))} && {command} --input target_time={inside}; sleep 60"],
            check=True,
        )
        wait_for_words(tmux, "latest_from")
        for _ in range(3):
            keys(tmux, "Enter")
            time.sleep(0.4)
        wait_for_words(tmux, "Confirm the incident and the target time", within_s=60)
        [summary] = list_runs(runs)
        assert summary.state.inputs["target_time"].startswith(inside[:19])
