"""A headless run or resume whose answers cannot give a destructive step's typed confirmation
(no ``typed`` answer, no ``--yes``) is refused before anything is written. Found only at the
step, a run failed there after the steps before it had run (the point-in-time restore stopped
the writers and the database, then left them so), and a run started with ``--yes`` and killed
mid-way ended FAILED, for good, at the first destructive step of a resume without it."""

from __future__ import annotations

from pathlib import Path

import yaml

from drconsole.runs.rundir import load_state
from tests.conftest import Cli, kill_run, start_run

PLAN = """
id: wipe-later
title: Wipe later
kind: restore
steps:
  - id: before
    action: local.command
    with: {argv: [touch, "BEFORE"]}
  - {id: long, action: local.sleep, with: {seconds: 30}, needs: [before]}
  - id: wipe
    action: local.command
    with: {argv: [touch, "WIPED"]}
    site: sandbox
    destructive: true
    confirm: wipe it
    needs: [long]
  - id: maybe
    action: local.command
    with: {argv: [touch, "MAYBE"]}
    site: sandbox
    destructive: true
    confirm: maybe
    when: "${inputs.simulate}"
    needs: [wipe]
inputs:
  simulate: {type: bool, default: false}
"""


def files(tmp_path: Path, seconds: int = 30) -> tuple[Path, Path]:
    plan = tmp_path / "plan.yaml"
    text = PLAN.replace("BEFORE", str(tmp_path / "before")).replace(
        "WIPED", str(tmp_path / "wiped")
    )
    text = text.replace("MAYBE", str(tmp_path / "maybe"))
    plan.write_text(text.replace("seconds: 30", f"seconds: {seconds}"))
    targets = tmp_path / "targets.yaml"
    targets.write_text(yaml.safe_dump({"sites": {"sandbox": {"drill": True}}}))
    return plan, targets


def test_a_run_without_the_typed_answer_is_refused_before_its_first_step(
    cli: Cli, tmp_path: Path
) -> None:
    plan, targets = files(tmp_path, seconds=0)
    answers = tmp_path / "answers.yaml"
    answers.write_text(yaml.safe_dump({"operator": "op"}))
    result = cli.run(plan, answers=answers, targets=targets)
    assert result.code == 2
    assert "no typed confirmation for destructive step(s) wipe (" in result.err  # not maybe
    assert "steps: {wipe: {typed: 'wipe it'}}, or in a drill pass --yes" in result.err
    assert not (tmp_path / "before").exists()  # nothing ran
    assert not cli.runs.exists() or not any(cli.runs.iterdir())
    # with the answer, or --yes, it runs; a step with a condition asks at the step (skipped)
    answers.write_text(yaml.safe_dump({"operator": "op", "steps": {"wipe": {"typed": "wipe it"}}}))
    assert cli.run(plan, answers=answers, targets=targets).code == 0
    assert (tmp_path / "wiped").exists()
    assert cli.run(plan, "--yes", targets=targets).code == 0
    # a dry run asks nothing
    assert cli.run(plan, "--mode", "dry-run", targets=targets).code == 0


def test_a_killed_yes_run_resumed_without_yes_is_refused_and_stays_resumable(
    cli: Cli, tmp_path: Path
) -> None:
    plan, targets = files(tmp_path, seconds=3)
    args = [str(plan), "--headless", "--yes", "--targets", str(targets)]
    proc, run_dir = start_run([*args, "--runs-dir", str(tmp_path / "runs")], "long")
    kill_run(proc)
    journal = (run_dir / "journal.jsonl").read_bytes()

    refused = cli("resume", run_dir, "--headless")
    assert refused.code == 2
    assert "no typed confirmation for destructive step(s) wipe" in refused.err
    assert (run_dir / "journal.jsonl").read_bytes() == journal  # nothing written
    assert not load_state(run_dir).finished

    resumed = cli("resume", run_dir, "--headless", "--yes")
    assert resumed.code == 0, resumed.out
    assert (tmp_path / "wiped").exists()


STANDBY = """
id: rebuild-when-there
title: Rebuild the standby when the targets have one
kind: restore
steps:
  - id: rebuild
    action: local.command
    with: {argv: [touch, "REBUILT"]}
    site: dr
    when: "${targets.dr.drill}"
    destructive: true
    confirm: rebuild dr
"""


def test_a_step_whose_condition_reads_only_the_targets_needs_its_answer_up_front(
    cli: Cli, tmp_path: Path
) -> None:
    """The PITR's standby rebuild: its condition is known before the run. With a dr site the
    answer is required up front (the run would fail at the step, after the restore); without
    one the run starts (dr is not required) and skips it, saying why."""
    plan = tmp_path / "plan.yaml"
    plan.write_text(STANDBY.replace("REBUILT", str(tmp_path / "rebuilt")))
    answers = tmp_path / "answers.yaml"
    answers.write_text(yaml.safe_dump({"operator": "op"}))
    with_dr = tmp_path / "with-dr.yaml"
    with_dr.write_text(yaml.safe_dump({"sites": {"dr": {"drill": True}}}))
    refused = cli.run(plan, answers=answers, targets=with_dr)
    assert refused.code == 2
    assert "no typed confirmation for destructive step(s) rebuild (" in refused.err
    without = tmp_path / "without-dr.yaml"
    without.write_text(yaml.safe_dump({"sites": {"primary": {"drill": True}}}))
    skipped = cli.run(plan, answers=answers, targets=without)
    assert skipped.code == 0, skipped.out + skipped.err
    rebuild = load_state(skipped.run_dir).steps["rebuild"]
    assert rebuild.status == "skipped"
    assert "unknown site 'dr'" in str(rebuild.reason)
    assert not (tmp_path / "rebuilt").exists()
