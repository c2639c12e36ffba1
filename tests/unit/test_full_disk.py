"""A full disk (ENOSPC) is a clear error, never a traceback or a torn record: a run stops
resumable with its journal verifying, a resume on a still-full disk changes nothing, a repair is
always journaled, and outputs are written whole or not at all.

The disk is a 1 MiB tmpfs mounted for the test (root only; skipped with the reason otherwise).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest
import yaml

from drconsole.engine.answers import AnswersOperator
from drconsole.engine.launch import prepare_new
from drconsole.engine.modes import Mode
from drconsole.journal.journal import JournalError, JournalWriter, read_events, verify
from tests.conftest import Cli


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
            capture_output=True,
            text=True,
        )
    except FileNotFoundError:
        pytest.skip("no mount command here: a small tmpfs is needed to fill a disk")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of ``disk`` (big writes, then single bytes for the last page)."""
    filler = disk / "filler"
    with filler.open("ab", buffering=0) as handle:
        for size in (65536, 4096, 1):
            with pytest.raises(OSError, match="No space left on device"):
                write_forever(handle, size)
    return filler


def write_forever(handle: BinaryIO, size: int) -> None:
    while True:
        handle.write(b"\0" * size)


def test_a_full_disk_fails_the_append_undone_and_refuses_the_next(small_disk: Path) -> None:
    run_dir = small_disk / "run"
    run_dir.mkdir()
    writer = JournalWriter.create(run_dir)
    writer.append("note", {"i": 0})
    fill(small_disk)
    with pytest.raises(JournalError, match=f"the disk holding {run_dir} is full") as failed:
        append_until_it_fails(writer)
    written = verify(run_dir)
    assert written.ok, written.describe()  # no torn line: the failed write was undone
    (small_disk / "filler").unlink()
    with pytest.raises(JournalError) as again:
        writer.append("note", {"after": "space was freed"})
    assert str(again.value) == str(failed.value)  # nothing after a gap in the record
    writer.close()
    assert verify(run_dir).count == written.count


def one_step_plan(tmp_path: Path) -> Path:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "id: one\ntitle: One step\nkind: drill\n"
        "steps:\n  - {id: one, action: local.sleep, with: {seconds: 0}}\n"
    )
    return plan


def append_until_it_fails(writer: JournalWriter) -> None:
    for i in range(1, 1000):  # the journal's last page has room for a few lines
        writer.append("note", {"i": i, "text": "x" * 200})


FILL_PLAN = """
id: fill
title: Fill the disk
kind: drill
steps:
  - id: fill
    action: local.command
    with: {argv: [sh, -c, "cat /dev/zero > DISK/filler 2>/dev/null; true"]}
STEPS
"""


def test_a_run_that_fills_the_disk_stops_resumable_with_a_clear_message(
    tmp_path: Path, small_disk: Path, cli: Cli
) -> None:
    steps = "\n".join(
        f"  - {{id: s{i}, action: local.sleep, with: {{seconds: 0}}, needs: [{'fill' if i == 0 else f's{i - 1}'}]}}"
        for i in range(20)
    )
    plan = tmp_path / "plan.yaml"
    plan.write_text(FILL_PLAN.replace("DISK", str(small_disk)).replace("STEPS", steps))
    answers = tmp_path / "answers.yaml"
    answers.write_text(
        yaml.safe_dump({"steps": {"fill": {"on_interrupted": "mark_done", "reason": "it ran"}}})
    )
    runs = small_disk / "runs"
    first = cli.run(plan, answers=answers, runs=runs)
    run_dir = first.run_dir
    assert first.code == 1, first
    assert f"the disk holding {run_dir} is full" in first.err
    assert f"drconsole resume {run_dir}" in first.err
    assert "Traceback" not in first.err + first.out
    assert verify(run_dir).ok
    assert "run_finished" not in {e.type for e in read_events(run_dir)}

    still_full = cli("resume", run_dir, "--headless", "--answers", answers)
    assert still_full.code in (1, 2), still_full  # refused, or ran on until the next line
    assert f"the disk holding {run_dir} is full" in still_full.err
    assert verify(run_dir).ok

    (small_disk / "filler").unlink()
    resumed = cli("resume", run_dir, "--headless", "--answers", answers)
    assert resumed.code == 0, resumed
    assert verify(run_dir).ok
    events = list(read_events(run_dir))
    assert events[-1].type == "run_finished"
    assert events[-1].data["result"] == "succeeded"
    assert [e.data["step"] for e in events if e.type == "step_started"].count("s19") == 1


def test_a_torn_line_on_a_full_disk_is_left_alone_then_repaired_and_journaled(
    tmp_path: Path, small_disk: Path, cli: Cli
) -> None:
    prepared = prepare_new(
        one_step_plan(tmp_path),
        runs_dir=small_disk / "runs",
        operator=AnswersOperator(None, name="tester"),
        mode=Mode.DRILL,
        given_inputs={},
    )
    prepared.engine.journal.close()  # stopped after run_started, as if killed
    run_dir = prepared.run_dir
    torn = b'{"data":{"step":"one"},"mono":0.1,"prev":"'
    with (run_dir / "journal.jsonl").open("ab") as journal:
        journal.write(torn)
    before = (run_dir / "journal.jsonl").read_bytes()
    filler = fill(small_disk)

    refused = cli("resume", run_dir, "--headless")
    assert refused.code == 2, refused
    assert f"the disk holding {run_dir} is full" in refused.err
    assert "Traceback" not in refused.err
    assert (run_dir / "journal.jsonl").read_bytes() == before  # the torn line is still there
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith(".")) == []
    assert not (run_dir / "journal.partial").exists()

    filler.unlink()
    resumed = cli("resume", run_dir, "--headless")
    assert resumed.code == 0, resumed
    assert verify(run_dir).ok
    repaired = [e for e in read_events(run_dir) if e.type == "journal_repaired"]
    assert [e.data["dropped_bytes"] for e in repaired] == [len(torn)]
    assert (run_dir / "journal.partial").read_bytes() == torn


def test_report_output_on_a_full_disk_leaves_the_old_file_and_says_why(
    tmp_path: Path, small_disk: Path, cli: Cli
) -> None:
    ran = cli.run(one_step_plan(tmp_path))
    run_dir = ran.out.splitlines()[0]
    output = small_disk / "report.md"
    output.write_text("the previous report\n")
    fresh = small_disk / "fresh.md"
    fill(small_disk)
    for target in (fresh, output):
        result = cli("report", run_dir, "--output", target)
        assert result.code == 1, result
        assert f"the disk holding {small_disk} is full" in result.err
        assert f"nothing was written to {target}" in result.err
    assert output.read_text() == "the previous report\n"
    assert not fresh.exists()
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "report.md"]
