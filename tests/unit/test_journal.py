"""The journal: hash chain, fsync'd appends, tamper detection, redaction, torn-tail repair."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drconsole.journal.journal import JournalError, JournalWriter, read_events, verify
from drconsole.journal.redact import Redactor
from drconsole.secrets import Secret
from tests.conftest import Cli


def make_journal(run_dir: Path, count: int = 5) -> list[str]:
    writer = JournalWriter.create(run_dir)
    for i in range(count):
        writer.append("note", {"i": i, "text": f"event {i}"})
    writer.close()
    return (run_dir / "journal.jsonl").read_text().splitlines(keepends=True)


def rewrite(run_dir: Path, lines: list[str]) -> None:
    (run_dir / "journal.jsonl").write_text("".join(lines))


def test_an_intact_journal_verifies(tmp_path: Path, cli: Cli) -> None:
    make_journal(tmp_path)
    report = verify(tmp_path)
    assert report.ok
    assert report.count == 5
    events = list(read_events(tmp_path))
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[-1].hash == report.final_hash
    assert events[1].prev == events[0].hash
    result = cli("journal", "verify", tmp_path)
    assert result.code == 0
    assert "intact: 5 events" in result.out


def test_an_edited_line_is_named(tmp_path: Path, cli: Cli) -> None:
    lines = make_journal(tmp_path)
    lines[2] = lines[2].replace("event 2", "event 9")
    rewrite(tmp_path, lines)
    result = cli("journal", "verify", tmp_path)
    assert result.code == 1
    assert "line 3: its content does not match its hash: the line was edited" in result.err


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(tmp_path: Path) -> None:
    import hashlib

    lines = make_journal(tmp_path)
    obj = json.loads(lines[1])
    obj["data"]["text"] = "forged"
    body = {k: v for k, v in obj.items() if k != "hash"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(text.encode()).hexdigest()
    lines[1] = text[:-1] + f',"hash":"{digest}"}}\n'
    rewrite(tmp_path, lines)
    report = verify(tmp_path)
    assert not report.ok
    assert report.bad_line == 3
    assert "does not chain" in report.reason


def test_a_removed_line_is_named(tmp_path: Path) -> None:
    lines = make_journal(tmp_path)
    del lines[1]
    rewrite(tmp_path, lines)
    report = verify(tmp_path)
    assert (report.ok, report.bad_line) == (False, 2)
    assert "removed or reordered" in report.reason


def test_reordered_lines_are_named(tmp_path: Path) -> None:
    lines = make_journal(tmp_path)
    lines[2], lines[3] = lines[3], lines[2]
    rewrite(tmp_path, lines)
    report = verify(tmp_path)
    assert (report.ok, report.bad_line) == (False, 3)


def test_lines_cut_off_the_end_are_noticed(tmp_path: Path) -> None:
    lines = make_journal(tmp_path)
    rewrite(tmp_path, lines[:3])
    report = verify(tmp_path)
    assert (report.ok, report.bad_line) == (False, 4)
    assert "records 5 events" in report.reason


def test_a_torn_last_line_is_named_and_repaired_on_reopen(tmp_path: Path) -> None:
    lines = make_journal(tmp_path)
    torn = lines[-1][:30]
    rewrite(tmp_path, [*lines[:-1], torn])
    (tmp_path / "journal.head").write_text(
        json.dumps({"seq": 4, "hash": json.loads(lines[3])["hash"]})
    )
    report = verify(tmp_path)
    assert (report.ok, report.bad_line) == (False, 5)
    assert "cut short" in report.reason
    writer = JournalWriter.reopen(tmp_path)
    writer.append("note", {"after": "repair"})
    writer.close()
    assert verify(tmp_path).ok
    events = list(read_events(tmp_path))
    assert [e.type for e in events[-2:]] == ["journal_repaired", "note"]
    assert (tmp_path / "journal.partial").read_text() == torn


def test_a_broken_journal_is_not_extended(tmp_path: Path) -> None:
    lines = make_journal(tmp_path)
    lines[0] = lines[0].replace("event 0", "tampered")
    rewrite(tmp_path, lines)
    with pytest.raises(JournalError, match="does not verify"):
        JournalWriter.reopen(tmp_path)


def test_not_a_run_directory(tmp_path: Path, cli: Cli) -> None:
    result = cli("journal", "verify", tmp_path)
    assert result.code == 1
    assert "not a run directory" in result.err


def test_secrets_are_redacted_before_they_reach_disk(tmp_path: Path) -> None:
    redactor = Redactor()
    share = Secret("s3cr3t-unseal-share-value")  # registered for masking as it is made
    writer = JournalWriter.create(tmp_path, redactor=redactor)
    writer.append(
        "note",
        {
            "given": share,
            "echo": "server said s3cr3t-unseal-share-value!",
            "db_password": "hunter22",
            "nested": [{"token": "abcd1234"}],
        },
    )
    writer.close()
    text = (tmp_path / "journal.jsonl").read_text()
    for secret in ("s3cr3t-unseal-share-value", "hunter22", "abcd1234"):
        assert secret not in text
    assert text.count("[redacted]") == 4


def test_an_acknowledged_line_cut_short_is_loss_not_a_crash(tmp_path: Path, cli: Cli) -> None:
    """The head counted line 5, so it was written in full once: cut short now, it is tampering
    or loss, and it is neither dropped as torn nor extended."""
    lines = make_journal(tmp_path)
    rewrite(tmp_path, [*lines[:-1], lines[-1][:30]])
    report = verify(tmp_path)
    assert (report.ok, report.bad_line, report.torn_tail) == (False, 5, None)
    assert "records 5 events" in report.reason
    assert "tampering or loss" in report.reason
    before = (tmp_path / "journal.jsonl").read_bytes()
    with pytest.raises(JournalError, match="does not verify"):
        JournalWriter.reopen(tmp_path)
    assert (tmp_path / "journal.jsonl").read_bytes() == before
    assert not (tmp_path / "journal.partial").exists()
    checked = cli("journal", "verify", tmp_path)
    assert checked.code == 1
    assert "tampering or loss" in checked.err
