"""One driver per run: a second process that would write a run's journal (two resumes at once, a
resume while the original still runs, the console) is refused, names who drives it and writes
nothing; the kernel drops the lock when its holder dies, so a kill -9 leaves none behind."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from pathlib import Path

import yaml

from drconsole.journal.journal import read_events, verify
from drconsole.runs.lock import RunLock, read_holder
from tests.conftest import Cli, drconsole_cmd, kill_run, start_run

PLAN = """
id: once
title: Once only
kind: drill
steps:
  - id: hold
    action: local.command
    with: {argv: [sleep, "HOLD"]}
  - id: append
    action: local.command
    with: {argv: [sh, -c, "echo ran >> LOG"]}
    needs: [hold]
  - {id: tail, action: local.sleep, with: {seconds: TAIL}, needs: [append]}
"""


def write(tmp_path: Path, hold_s: int, tail_s: int = 0) -> tuple[Path, Path, Path]:
    """A plan whose second step is not idempotent (it appends a line to LOG), and answers that
    mark the interrupted first step done on resume."""
    log = tmp_path / "appended.log"
    plan = tmp_path / "plan.yaml"
    text = PLAN.replace("HOLD", str(hold_s)).replace("TAIL", str(tail_s))
    plan.write_text(text.replace("LOG", str(log)))
    answers = tmp_path / "answers.yaml"
    answers.write_text(
        yaml.safe_dump({"steps": {"hold": {"on_interrupted": "mark_done", "reason": "it ran"}}})
    )
    return plan, answers, log


def killed_run(tmp_path: Path, plan: Path, answers: Path) -> Path:
    args = [str(plan), "--headless", "--answers", str(answers), "--runs-dir", str(tmp_path / "r")]
    proc, run_dir = start_run(args, "hold", within_s=30)
    kill_run(proc)
    return run_dir


def kinds(run_dir: Path) -> list[str]:
    return [f"{e.type}:{e.data.get('step', '')}" for e in read_events(run_dir)]


def test_two_resumes_at_once_one_drives_the_other_is_refused(tmp_path: Path) -> None:
    plan, answers, log = write(tmp_path, hold_s=30, tail_s=3)  # the winner drives for 3 s
    run_dir = killed_run(tmp_path, plan, answers)
    before = (run_dir / "journal.jsonl").read_bytes()
    procs = {
        name: subprocess.Popen(
            [*drconsole_cmd(), "resume", str(run_dir), "--headless"]
            + ["--answers", str(answers), "--operator", name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("alice", "bob")
    }
    outcomes = {
        name: (p.pid, *p.communicate(timeout=60), p.returncode) for name, p in procs.items()
    }
    codes = sorted(code for _, _, _, code in outcomes.values())
    assert codes == [0, 2], outcomes
    winner = next(name for name, o in outcomes.items() if o[3] == 0)
    loser = next(name for name, o in outcomes.items() if o[3] == 2)
    refusal = outcomes[loser][2]
    assert (
        f"run {run_dir.name} is being driven by {winner} on host {socket.gethostname()}, "
        f"pid {outcomes[winner][0]}, since " in refusal
    ), refusal
    assert "Traceback" not in refusal
    assert verify(run_dir).ok
    events = list(read_events(run_dir))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert (run_dir / "journal.jsonl").read_bytes().startswith(before)
    seen = kinds(run_dir)
    assert seen.count("run_resumed:") == 1
    assert seen.count("run_finished:") == 1
    assert seen.count("step_started:append") == 1
    assert [e.data["operator"] for e in events if e.type == "run_resumed"] == [winner]
    assert log.read_text() == "ran\n"  # the non-idempotent step ran exactly once


def test_a_resume_while_the_original_runs_is_refused_and_after_kill_9_it_resumes_at_once(
    tmp_path: Path, cli: Cli
) -> None:
    plan, answers, log = write(tmp_path, hold_s=30)
    args = [str(plan), "--headless", "--answers", str(answers), "--runs-dir", str(tmp_path / "r")]
    proc, run_dir = start_run([*args, "--operator", "carol"], "hold", within_s=30)
    try:
        before = (run_dir / "journal.jsonl").read_bytes()
        refused = cli("resume", run_dir, "--headless", "--answers", answers, "--operator", "dave")
        assert refused.code == 2
        assert f"being driven by carol on host {socket.gethostname()}, pid {proc.pid}" in (
            refused.err
        )
        assert f"watch it with: drconsole report {run_dir}" in refused.err
        assert (run_dir / "journal.jsonl").read_bytes() == before
        holder = read_holder(run_dir)
        assert holder is not None
        assert holder.pid == proc.pid  # the refusal wrote nothing
    finally:
        kill_run(proc)
    started = time.monotonic()
    resumed = cli("resume", run_dir, "--headless", "--answers", answers, "--operator", "dave")
    assert resumed.code == 0, resumed
    assert time.monotonic() - started < 10  # no stale lock to wait out
    assert verify(run_dir).ok
    assert kinds(run_dir).count("step_started:append") == 1
    assert log.read_text() == "ran\n"


def test_readers_never_need_the_lock(tmp_path: Path, cli: Cli) -> None:
    plan, answers, _ = write(tmp_path, hold_s=0)
    run_dir = finished_run(tmp_path, plan, answers, cli)
    lock = RunLock.acquire(run_dir, "someone")
    try:
        assert cli("journal", "verify", run_dir).code == 0
        assert cli("report", run_dir).code == 0
        assert run_dir.name in cli("runs", "--runs-dir", tmp_path / "r").out
    finally:
        lock.release()


def finished_run(tmp_path: Path, plan: Path, answers: Path, cli: Cli) -> Path:
    result = cli.run(plan, answers=answers, runs=tmp_path / "r")
    assert result.code == 0, result
    return result.run_dir


def test_the_console_shows_who_drives_a_run_instead_of_driving_it(tmp_path: Path) -> None:
    from drconsole.tui.run_screen import RunScreen
    from tests.console.pilot import make_app, setup, until

    plans, plan, targets = setup(
        tmp_path, PLAN.replace("HOLD", "30").replace("TAIL", "0").replace("LOG", "/dev/null")
    )
    proc, run_dir = start_run([str(plan), "--headless", "--runs-dir", str(tmp_path / "runs")])
    kill_run(proc)
    before = (run_dir / "journal.jsonl").read_bytes()
    lock = RunLock.acquire(run_dir, "erin")  # another driver, as far as the console can tell

    async def scenario() -> None:
        app = make_app(tmp_path, plans, targets)
        async with app.run_test(size=(80, 24)) as pilot:
            app.resume_run(run_dir)
            await until(pilot, lambda: bool(app._notifications))
            shown = " ".join(str(n.message) for n in app._notifications)
            assert f"being driven by erin on host {socket.gethostname()}, pid {os.getpid()}" in (
                shown
            )
            assert not any(isinstance(s, RunScreen) for s in app.screen_stack)

    try:
        asyncio.run(scenario())
    finally:
        lock.release()
    assert (run_dir / "journal.jsonl").read_bytes() == before


def test_the_report_says_whether_anyone_drives_an_unfinished_run_and_how_to_go_on(
    tmp_path: Path, cli: Cli
) -> None:
    """A run killed mid-step reads as running in its journal: its report said 'unfinished (-)'
    with the step 'running' and nothing on who drives it or what to do."""
    plan, answers, _ = write(tmp_path, hold_s=30)
    args = [str(plan), "--headless", "--answers", str(answers), "--runs-dir", str(tmp_path / "r")]
    proc, run_dir = start_run([*args, "--operator", "carol"], "hold", within_s=30)
    try:
        said = cli("report", run_dir).out
        assert f"- Now: driven by carol on host {socket.gethostname()}, pid {proc.pid}" in said
    finally:
        kill_run(proc)
    said = cli("report", run_dir).out
    assert (
        f"- Now: NOT DRIVEN: last driven by carol on host {socket.gethostname()}, pid {proc.pid}"
    ) in said
    assert "which stopped without a word (killed, or its machine stopped); cut short mid-way: " \
        f"hold. Continue it with: drconsole resume {run_dir}" in said  # fmt: skip
    page = cli("report", run_dir, "--format", "html").out
    assert "NOT DRIVEN: last driven by carol" in page
    assert cli("resume", run_dir, "--headless").code == 1  # no decision on 'hold': it stops
    assert "- Now: NOT DRIVEN: interrupted: interrupted step 'hold' needs a decision" in (
        cli("report", run_dir).out
    )
    assert cli("resume", run_dir, "--headless", "--answers", answers).code == 0
    assert "- Now:" not in cli("report", run_dir).out
