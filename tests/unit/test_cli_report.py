"""Reports, the runs list, and the command line's handling of bad input."""

from __future__ import annotations

import getpass
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, Cli, drconsole_cmd

ANSWERS = {
    "operator": "op-1",
    "steps": {
        "brief": {"confirm": True},
        "approve": {
            "signoffs": [
                {"name": "so-1", "role": "security_officer"},
                {"name": "witness-1", "role": "witness"},
            ]
        },
    },
}


def hello_run(cli: Cli, tmp_path: Path, backup_file: Path) -> Path:
    answers = tmp_path / "answers.yaml"
    answers.write_text(yaml.safe_dump(ANSWERS))
    result = cli.run(
        REPO / "plans" / "hello-drill.yaml",
        "--input",
        f"file={backup_file}",
        "--input",
        "incident_at=2026-11-26T00:00:00Z",
        answers=answers,
        runs=tmp_path / "runs",
    )
    assert result.code == 0, result
    return result.run_dir


def test_the_markdown_report_tells_the_story(cli: Cli, tmp_path: Path, backup_file: Path) -> None:
    run_dir = hello_run(cli, tmp_path, backup_file)
    result = cli("report", run_dir)
    text = result.out
    assert result.code == 0
    assert "# Run report: Hello drill (hello-drill)" in text
    assert "- Mode: **DRILL**" in text
    assert "- Operator: op-1" in text
    assert "so-1 (security_officer); witness-1 (witness)" in text
    assert "| RTO |" in text
    assert "| 10m00s | missed |" in text
    final = cli("journal", "verify", run_dir).out.split("final hash ")[1].strip()
    assert f"- Final hash: `{final}`" in text
    for title, step in (
        ("Brief the participants", "brief"),
        ("Let the writers settle", "settle"),
        ("Check the backup file", "checksum"),
        ("Security officer and witness approve", "approve"),
        ("Service restored", "restored"),
    ):
        assert f"| {title} ({step}) | succeeded |" in text
    assert "### Check the backup file (checksum)" in text


def test_the_json_report_has_every_step_and_the_clocks(
    cli: Cli, tmp_path: Path, backup_file: Path
) -> None:
    run_dir = hello_run(cli, tmp_path, backup_file)
    out = tmp_path / "report.json"
    assert cli("report", run_dir, "--format", "json", "--output", out).code == 0
    report = json.loads(out.read_text())
    assert [s["id"] for s in report["steps"]] == [
        "brief",
        "settle",
        "checksum",
        "approve",
        "restored",
    ]
    assert report["steps"][3]["title"] == "Security officer and witness approve"
    assert report["result"] == "succeeded"
    assert report["rto"]["status"] == "missed"
    assert report["rto"]["objective_s"] == 600
    assert report["rto"]["achieved_s"] > 3 * 3600  # the incident was at midnight
    assert report["rpo"]["status"] == "not measured"
    assert report["journal"]["intact"] is True


def test_runs_lists_past_runs(cli: Cli, tmp_path: Path, backup_file: Path) -> None:
    run_dir = hello_run(cli, tmp_path, backup_file)
    result = cli("runs", "--runs-dir", tmp_path / "runs")
    assert "hello-drill" in result.out
    assert "succeeded" in result.out
    assert run_dir.name in result.out  # one line a run, within 80 columns
    assert all(len(line) <= 80 for line in result.out.splitlines()[1:])
    assert "no runs in" in cli("runs", "--runs-dir", tmp_path / "empty").out


def test_report_of_a_tampered_journal_says_so(cli: Cli, tmp_path: Path, backup_file: Path) -> None:
    run_dir = hello_run(cli, tmp_path, backup_file)
    journal = run_dir / "journal.jsonl"
    journal.write_text(journal.read_text().replace("so-1", "so-2"))
    result = cli("report", run_dir)
    assert result.code == 1
    assert "Chain: BROKEN: line" in result.out


@pytest.mark.parametrize(
    ("line", "edit"),
    [(3, lambda text: '{"x": 1}'), (4, lambda text: text.replace('"step":', '"stp":'))],
)
def test_report_of_a_journal_with_lines_that_are_not_events_says_where_without_a_traceback(
    cli: Cli,
    tmp_path: Path,
    backup_file: Path,
    line: int,
    edit: Callable[[str], str],
) -> None:
    run_dir = hello_run(cli, tmp_path, backup_file)
    journal = run_dir / "journal.jsonl"
    lines = journal.read_text().splitlines()
    lines[line - 1] = edit(lines[line - 1])
    journal.write_text("\n".join(lines) + "\n")
    for fmt in ("md", "json"):
        result = cli("report", run_dir, "--format", fmt)
        assert result.code == 1
        assert f"line {line}: " in result.out
        assert "Traceback" not in result.out + result.err


def test_report_and_verify_of_a_directory_that_is_not_a_run(cli: Cli, tmp_path: Path) -> None:
    assert "not a run directory" in cli("report", tmp_path).err


def test_bad_command_lines_exit_2_without_a_traceback(cli: Cli, tmp_path: Path) -> None:
    plan = REPO / "plans" / "hello-drill.yaml"
    cases = [
        (["run", plan, "--headless", "--input", "novalue"], "write KEY=VALUE"),
        (
            ["run", plan, "--headless", "--input", "file=x", "--answers", tmp_path / "nope.yaml"],
            "cannot read answers file",
        ),
        (["run", tmp_path / "absent.yaml", "--headless"], "no such file"),
        (
            ["run", plan, "--headless", "--input", "file=x", "--input", "colour=red"],
            "has no input 'colour'",
        ),
    ]
    for args, message in cases:
        result = cli(*args)
        assert result.code == 2, (args, result)
        assert message in result.err
        assert "Traceback" not in result.err


def test_a_malformed_answers_file_is_named(cli: Cli, tmp_path: Path) -> None:
    answers = tmp_path / "a.yaml"
    answers.write_text("steps:\n  brief: {confrim: true}\n")
    result = cli.run(REPO / "plans" / "hello-drill.yaml", "--input", "file=x", answers=answers)
    assert result.code == 2
    assert "steps.brief.confrim" in result.err


def test_module_entry_point_and_help() -> None:
    out = subprocess.run([*drconsole_cmd(), "--help"], capture_output=True, text=True, check=True)
    for command in ("validate", "schema", "run", "resume", "journal", "report", "runs"):
        assert command in out.stdout


GUARDED = """
id: guarded
title: Guarded
kind: failover
steps:
  - id: promote
    title: Promote the DR database
    action: local.command
    with: {argv: ["true"]}
    guard:
      refuse_when: "true"
      because: the primary still accepts writes
      override: PROMOTE ANYWAY
"""


def guarded_run(cli: Cli, tmp_path: Path, override: dict[str, str]) -> Path:
    plan, answers = tmp_path / "guarded.yaml", tmp_path / "answers.yaml"
    plan.write_text(GUARDED)
    answers.write_text(yaml.safe_dump({"steps": {"promote": {"override": override}}}))
    result = cli.run(plan, answers=answers, runs=tmp_path / "runs")
    return result.run_dir


def test_a_guard_refusal_and_a_wrong_override_are_listed_as_refusals(
    cli: Cli, tmp_path: Path
) -> None:
    run_dir = guarded_run(cli, tmp_path, {"typed": "promote", "reason": "x"})
    md = cli("report", run_dir).out
    report = json.loads(cli("report", run_dir, "--format", "json").out)
    guard, typed = report["refusals"]
    assert guard | {"at": None} == {
        "at": None,
        "step": "promote",
        "title": "Promote the DR database",
        "question": "guard",
        "reason": "the primary still accepts writes",
        "by": "drconsole",
    }
    assert typed["question"] == "typed confirmation"
    assert "that was not 'PROMOTE ANYWAY'" in typed["reason"]
    for r in (guard, typed):
        assert f"| {r['at']} | Promote the DR database (promote) | {r['question']} |" in md
    assert (
        "Promote the DR database (promote): guard refused: the primary still accepts writes "
        "(by drconsole)" in report["deviations"]
    )
    assert "## Deviations\n\n- none" not in md


def test_a_guard_override_is_a_deviation(cli: Cli, tmp_path: Path) -> None:
    run_dir = guarded_run(
        cli, tmp_path, {"typed": "PROMOTE ANYWAY", "reason": "fenced at the switch"}
    )
    report = json.loads(cli("report", run_dir, "--format", "json").out)
    assert report["result"] == "succeeded"
    assert (
        f"Promote the DR database (promote): guard overridden by {getpass.getuser()}: "
        "fenced at the switch"
    ) in report["deviations"]
