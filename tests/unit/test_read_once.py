"""Each run's journal is read once where once is enough: the run lists (``drconsole runs``, the
console's every 3 s) read again only the journals that changed since the last listing; the
metrics, an audit pack and a resume open the journal once; and an audit pack of a run that is
still writing packs exactly the bytes it verified.

Reads are counted with an audit hook on ``open`` (every open of a ``journal.jsonl`` for reading,
whoever does it), so the count does not depend on how the code reads.
"""

from __future__ import annotations

import json
import os
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drconsole.engine.answers import AnswersOperator
from drconsole.engine.launch import prepare_new, prepare_resume
from drconsole.engine.modes import Mode
from drconsole.journal.journal import JOURNAL, JournalWriter, read_events, verify
from drconsole.report import formats, pack
from drconsole.runs.read import read_run
from drconsole.runs.rundir import list_runs, load_state
from tests.conftest import Cli
from tests.unit.test_full_disk import one_step_plan

_counting: list[Path] | None = None  # the journals opened for reading while counting


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and _counting is not None and isinstance(args[0], str | Path):
        path, _, flags = args
        if Path(path).name == JOURNAL and flags & os.O_ACCMODE == os.O_RDONLY:
            _counting.append(Path(path).parent)


sys.addaudithook(_hook)  # an audit hook cannot be removed: it counts only inside `reads`


@pytest.fixture
def reads() -> Iterator[list[Path]]:
    """The run directories whose journal was opened for reading, one entry per open."""
    global _counting
    _counting = []
    try:
        yield _counting
    finally:
        _counting = None


def _stopped_run(tmp_path: Path, runs: Path) -> Path:
    """A run stopped after run_started, as if killed (resumable)."""
    prepared = prepare_new(
        one_step_plan(tmp_path),
        runs_dir=runs,
        operator=AnswersOperator(None, name="tester"),
        mode=Mode.DRILL,
        given_inputs={},
    )
    prepared.engine.journal.close()
    return prepared.run_dir


def _append(run_dir: Path, reason: str = "appended meanwhile") -> None:
    """One more event, as a run still writing adds it (line, then head)."""
    writer = JournalWriter.reopen(run_dir)
    writer.append("run_interrupted", {"reason": reason})
    writer.close()


def test_list_runs_reads_again_only_the_journals_that_changed(
    cli: Cli, tmp_path: Path, reads: list[Path]
) -> None:
    runs = tmp_path / "runs"
    finished = cli.run(one_step_plan(tmp_path), runs=runs).run_dir
    running = _stopped_run(tmp_path, runs)
    listed = {r.path: r for r in list_runs(runs)}
    assert sorted(reads) == sorted([finished, running])
    assert listed[finished].state.finished
    events = listed[running].state.events

    reads.clear()
    assert {r.path for r in list_runs(runs)} == {finished, running}
    assert reads == []  # nothing changed: nothing read, nothing replayed

    _append(running)  # the running run writes on
    reads.clear()
    again = {r.path: r for r in list_runs(runs)}
    assert reads == [running]
    assert again[running].state.events == events + 1
    assert again[running].state.interruptions == 1
    assert again[finished] is listed[finished]  # the finished run's summary, kept
    assert again[finished].problem is None
    assert again[running].problem is None


def test_a_broken_or_unreadable_journal_is_listed_with_what_is_wrong(
    cli: Cli, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    broken = cli.run(one_step_plan(tmp_path), runs=runs).run_dir
    journal = broken / JOURNAL
    journal.write_text(journal.read_text().replace('"operator":"', '"operator":"x', 1))
    unreadable = runs / "20260101T000000Z-one-dead"
    (unreadable / JOURNAL).mkdir(parents=True)  # there, but no file to read
    found = {r.path: r for r in list_runs(runs)}
    assert (
        found[broken].problem
        == "journal line 1: its content does not match its hash: the line was edited"
    )
    assert found[broken].state.plan["id"] == "one"  # what it says is still shown
    assert found[unreadable].problem == "its journal cannot be read: Is a directory"

    said = cli("runs", "--runs-dir", runs)
    assert said.code == 0, said.err
    lines = said.out.splitlines()
    assert "  ! journal line 1: its content does not match its hash" in "\n".join(lines)
    assert f"{unreadable.name}" in said.out
    assert "  ! its journal cannot be read: Is a directory" in lines
    assert all(len(line) <= 80 for line in lines[1:])


def test_prom_metrics_read_the_run_once(cli: Cli, tmp_path: Path, reads: list[Path]) -> None:
    runs = tmp_path / "runs"
    run_dir = cli.run(one_step_plan(tmp_path), runs=runs).run_dir
    reads.clear()
    text = formats.render(read_run(run_dir), "prom")  # what `report --format prom` does
    assert reads == [run_dir]
    assert 'drconsole_runs_total{plan="one",result="succeeded"} 1' in text
    reads.clear()
    formats.render(read_run(run_dir), "prom")  # the history index kept it
    assert reads == [run_dir]


def test_export_reads_each_journal_once(cli: Cli, tmp_path: Path, reads: list[Path]) -> None:
    run_dir = cli.run(one_step_plan(tmp_path), runs=tmp_path / "runs").run_dir
    reads.clear()
    pack.export([run_dir], tmp_path / "pack.zip")
    assert reads == [run_dir]
    assert pack.check(tmp_path / "pack.zip").ok


def test_export_of_a_run_still_writing_packs_the_bytes_it_verified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = _stopped_run(tmp_path, tmp_path / "runs")
    real = pack.read_run

    def late(*args: Any) -> Any:
        _append(run_dir)  # the run writes a line after the pack read its journal
        return real(*args)

    monkeypatch.setattr(pack, "read_run", late)
    out = tmp_path / "pack.zip"
    pack.export([run_dir], out)
    found = pack.check(out)
    assert found.ok, found.problems
    with zipfile.ZipFile(out) as z:
        packed = z.read(f"runs/{run_dir.name}/{JOURNAL}")
        said = json.loads(z.read("verification.json"))[run_dir.name]
        report = json.loads(z.read(f"reports/{run_dir.name}/report.json"))
    assert said["events"] == packed.count(b"\n") == report["journal"]["events"]
    assert verify(run_dir).count == said["events"] + 1  # the line written meanwhile: not packed


def test_resume_reads_the_journal_once_and_replays_the_repair(
    tmp_path: Path, reads: list[Path]
) -> None:
    run_dir = _stopped_run(tmp_path, tmp_path / "runs")
    with (run_dir / JOURNAL).open("ab") as journal:
        journal.write(b'{"data":{"step":"one"},"mono":0.1,"prev":"')  # killed mid-line
    reads.clear()
    prepared = prepare_resume(run_dir, operator=AnswersOperator(None, name="tester"))
    try:
        assert reads == [run_dir]
        types = [e.type for e in read_events(run_dir)]
        assert types[-2:] == ["journal_repaired", "run_resumed"]
        assert prepared.engine.ctx.state == load_state(run_dir)  # as a replay sees it
    finally:
        prepared.engine.journal.close()


def test_verify_of_a_run_writing_meanwhile_never_counts_a_line_it_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = _stopped_run(tmp_path, tmp_path / "runs")
    real = Path.read_bytes
    appended: list[Path] = []

    def reading(self: Path) -> bytes:
        data = real(self)
        if self.parent == run_dir and not appended:  # the run writes on after the first read
            appended.append(self)
            _append(run_dir)
        return data

    monkeypatch.setattr(Path, "read_bytes", reading)
    check = verify(run_dir)
    assert appended, "the journal was not read"
    assert check.ok, check.describe()  # not 'lines were cut off the end'
