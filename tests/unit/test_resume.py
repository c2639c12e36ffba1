"""A run killed with SIGKILL at any moment resumes: finished steps are not repeated, an
interrupted idempotent step reruns, an interrupted non-idempotent one asks; nothing is lost or
duplicated."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import yaml

from drconsole.journal.journal import read_events, verify
from drconsole.runs.rundir import load_state
from tests.conftest import Cli, kill_run, start_run

PLAN = """
id: killme
title: Kill me
kind: drill
objectives: {rto: 10m}
steps:
  - {id: brief, manual: Brief everyone.}
  - id: long
    action: KIND
    with: WITH
    needs: [brief]
  - {id: done, milestone: service_restored, needs: [long]}
"""


def start_until(
    step: str, plan: Path, answers: Path, runs: Path
) -> tuple[subprocess.Popen[str], Path]:
    """Start a headless run in its own session and wait until ``step`` has started."""
    args = [str(plan), "--headless", "--answers", str(answers), "--runs-dir", str(runs)]
    return start_run(args, step, within_s=30)


def start_and_kill_in(step: str, plan: Path, answers: Path, runs: Path) -> Path:
    """Start a headless run and SIGKILL it (and its children) once ``step`` has started."""
    proc, run_dir = start_until(step, plan, answers, runs)
    kill_run(proc)
    return run_dir


def write(tmp_path: Path, kind: str, with_: str, answers: dict[str, object]) -> tuple[Path, Path]:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.replace("KIND", kind).replace("WITH", with_))
    answers_path = tmp_path / "answers.yaml"
    answers_path.write_text(yaml.safe_dump(answers))
    return plan, answers_path


def check_no_loss_or_duplicates(run_dir: Path) -> list[str]:
    assert verify(run_dir).ok
    events = list(read_events(run_dir))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    return [f"{e.type}:{e.data.get('step', '')}" for e in events]


def assert_resumed_by(cli: Cli, run_dir: Path, said: str, resumer: str) -> None:
    """Who drives now and who started it, alike in the title and in every report."""
    starter = load_state(run_dir).operator
    assert f"operator {resumer} (started by {starter})" in said
    assert f"- Operator: {starter}; resumed by {resumer}" in cli("report", run_dir).out
    assert json.loads(cli("report", run_dir, "--format", "json").out)["resumed_by"] == [resumer]
    page = cli("report", run_dir, "--format", "html").out
    assert f"operator {starter}; resumed by {resumer} · started" in page


def test_an_interrupted_idempotent_step_reruns_and_nothing_repeats(
    tmp_path: Path, cli: Cli
) -> None:
    plan, answers = write(
        tmp_path, "local.sleep", "{seconds: 2}", {"steps": {"brief": {"confirm": True}}}
    )
    run_dir = start_and_kill_in("long", plan, answers, tmp_path / "runs")
    result = cli("resume", run_dir, "--headless", "--answers", answers, "--operator", "day-shift")
    assert result.code == 0, result
    assert_resumed_by(cli, run_dir, result.out, "day-shift")
    lines = result.out.splitlines()  # as a run prints: its directory, the title, then events
    assert lines[0] == str(run_dir)
    assert "RUN RESUMED by day-shift" in lines[3]
    kinds = check_no_loss_or_duplicates(run_dir)
    assert kinds.count("step_started:brief") == 1
    assert kinds.count("step_finished:brief") == 1
    assert kinds.count("step_started:long") == 2
    assert kinds.count("step_finished:long") == 1
    assert "run_resumed:" in kinds
    assert kinds[-1] == "run_finished:"
    answers_given = [
        e.data
        for e in read_events(run_dir)
        if e.type == "operator_answer" and e.data["step"] == "long"
    ]
    assert answers_given[0]["answer"] == "rerun (safe to repeat)"


def test_ctrl_c_leaves_the_run_resumable(tmp_path: Path) -> None:
    plan, answers = write(
        tmp_path, "local.sleep", "{seconds: 30}", {"steps": {"brief": {"confirm": True}}}
    )
    proc, run_dir = start_until("long", plan, answers, tmp_path / "runs")
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert f"resume with: drconsole resume {run_dir}" in out
    kinds = check_no_loss_or_duplicates(run_dir)
    assert kinds[-1] == "run_interrupted:"
    assert "step_finished:long" not in kinds


def test_an_interrupted_non_idempotent_step_asks_and_can_be_marked_done(
    tmp_path: Path, cli: Cli
) -> None:
    plan, answers = write(
        tmp_path,
        "local.command",
        "{argv: [sleep, '30']}",
        {
            "operator": "night-shift",
            "steps": {
                "brief": {"confirm": True},
                "long": {"on_interrupted": "mark_done", "reason": "checked by hand: it ran"},
            },
        },
    )
    run_dir = start_and_kill_in("long", plan, answers, tmp_path / "runs")
    result = cli("resume", run_dir, "--headless", "--answers", answers, "--operator", "day-shift")
    assert result.code == 0, result
    assert_resumed_by(cli, run_dir, result.out, "day-shift")
    lines = result.out.splitlines()  # as a run prints: its directory, the title, then events
    assert lines[0] == str(run_dir)
    assert "RUN RESUMED by day-shift" in lines[3]
    kinds = check_no_loss_or_duplicates(run_dir)
    assert kinds.count("step_started:brief") == 1
    assert kinds.count("step_started:long") == 1
    events = list(read_events(run_dir))
    long_end = [e.data for e in events if e.type == "step_finished" and e.data["step"] == "long"]
    assert long_end == [{**long_end[0], "status": "marked_done"}]
    assert "checked by hand" in long_end[0]["reason"]
    report = cli("report", run_dir)
    assert "long: marked done by hand" in report.out
    assert "interrupted 0 time(s) and resumed 1" not in report.out


def test_without_a_decision_the_run_stops_resumable_until_one_is_given(
    tmp_path: Path, cli: Cli
) -> None:
    plan, answers = write(
        tmp_path, "local.command", "{argv: [sleep, '30']}", {"steps": {"brief": {"confirm": True}}}
    )
    run_dir = start_and_kill_in("long", plan, answers, tmp_path / "runs")
    result = cli("resume", run_dir, "--headless", "--answers", answers)
    assert result.code == 1
    assert "on_interrupted: rerun|mark_done|abort" in result.out
    assert f"resume with: drconsole resume {run_dir}" in result.out
    answers.write_text(
        yaml.safe_dump(
            {
                "steps": {
                    "brief": {"confirm": True},
                    "long": {"on_interrupted": "mark_done", "reason": "ran"},
                }
            }
        )
    )
    again = cli("resume", run_dir, "--headless", "--answers", answers)
    assert again.code == 0, again
    kinds = check_no_loss_or_duplicates(run_dir)
    assert kinds.count("run_resumed:") == 2
    assert kinds.count("step_started:long") == 1


def test_resume_of_a_finished_run_is_refused(tmp_path: Path, cli: Cli) -> None:
    plan, answers = write(
        tmp_path, "local.sleep", "{seconds: 0}", {"steps": {"brief": {"confirm": True}}}
    )
    first = cli.run(plan, answers=answers, runs=tmp_path / "r")
    run_dir = first.out.splitlines()[0]
    before = (Path(run_dir) / "journal.jsonl").read_bytes()
    result = cli("resume", run_dir, "--headless")
    assert (Path(run_dir) / "journal.jsonl").read_bytes() == before
    assert result.code == 2
    assert "finished already" in result.err


def test_resume_of_something_that_is_not_a_run(tmp_path: Path, cli: Cli) -> None:
    result = cli("resume", tmp_path, "--headless")
    assert result.code == 2
    assert "not a run directory" in result.err


def test_resume_of_a_tampered_journal_is_refused(tmp_path: Path, cli: Cli) -> None:
    plan, answers = write(
        tmp_path, "local.command", "{argv: [sleep, '30']}", {"steps": {"brief": {"confirm": True}}}
    )
    run_dir = start_and_kill_in("long", plan, answers, tmp_path / "runs")
    journal = run_dir / "journal.jsonl"
    journal.write_text(journal.read_text().replace("Brief everyone", "Brief nobody"))
    result = cli("resume", run_dir, "--headless", "--answers", answers)
    assert result.code == 2
    assert "does not verify" in result.err


def test_resume_yes_of_a_real_mode_run_is_refused_before_anything_is_written(
    tmp_path: Path, cli: Cli
) -> None:
    plan, answers = write(
        tmp_path, "local.command", "{argv: [sleep, '30']}", {"steps": {"brief": {"confirm": True}}}
    )
    args = [str(plan), "--headless", "--answers", str(answers), "--runs-dir", str(tmp_path / "r")]
    proc, run_dir = start_run([*args, "--mode", "real"], "long", within_s=30)
    kill_run(proc)
    record = {name: (run_dir / name).read_bytes() for name in ("journal.jsonl", "journal.head")}
    result = cli("resume", run_dir, "--headless", "--answers", answers, "--yes")
    assert result.code == 2
    assert "--yes is refused" in result.err
    assert "real mode" in result.err
    assert {name: (run_dir / name).read_bytes() for name in record} == record
    assert "run_resumed:" not in check_no_loss_or_duplicates(run_dir)
