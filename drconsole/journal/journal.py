"""Writing, reading and verifying ``journal.jsonl``.

Each line is canonical JSON (sorted keys, no spaces) of ``seq``, ``ts`` (UTC), ``mono`` (seconds
since the run began), ``type``, ``data`` and ``prev`` (the previous line's hash), followed by
``hash``: the SHA-256 of the line's bytes without the hash field. Every line is fsynced before
the caller goes on (and so before anything is shown). ``journal.head`` records the last sequence
number and hash, so that lines cut off the end are noticed too.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drconsole.journal.redact import Redactor
from drconsole.timeutil import format_timestamp, monotonic, parse_timestamp, utcnow

JOURNAL = "journal.jsonl"
HEAD = "journal.head"
GENESIS = "0" * 64
_SUFFIX_LEN = len(',"hash":"') + 64 + len('"}')


class JournalError(Exception):
    """The journal cannot be opened or written; the message says why and what to do."""


@dataclass(frozen=True)
class Event:
    """One journal line."""

    seq: int
    ts: str
    mono: float
    type: str
    data: dict[str, Any]
    prev: str
    hash: str


def _canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _seal(body: dict[str, Any]) -> tuple[str, str]:
    text = _canonical(body)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return text[:-1] + ',"hash":"' + digest + '"}\n', digest


def is_run_dir(path: str | Path) -> bool:
    return (Path(path) / JOURNAL).is_file()


class JournalWriter:
    """Appends events, fsyncing each one. Not shared between processes."""

    def __init__(self, run_dir: Path, *, redactor: Redactor | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / JOURNAL
        self.redactor = redactor or Redactor()
        self.seq = 0
        self.last_hash = GENESIS
        self._mono_base = 0.0
        self._mono_start = monotonic()
        self._fd: int | None = None

    @classmethod
    def create(cls, run_dir: Path, *, redactor: Redactor | None = None) -> JournalWriter:
        """Start a new journal in an existing, empty run directory."""
        writer = cls(run_dir, redactor=redactor)
        if writer.path.exists():
            raise JournalError(f"{writer.path} exists already; a run directory holds one run")
        writer._open()
        return writer

    @classmethod
    def reopen(cls, run_dir: Path, *, redactor: Redactor | None = None) -> JournalWriter:
        """Open an existing journal to append after its last intact line.

        A line cut short by a crash (no newline, or not JSON) was never acknowledged: it is moved
        to ``journal.partial`` and a ``journal_repaired`` event records its hash.

        Raises:
            JournalError: the journal does not verify; it must not be extended.
        """
        writer = cls(run_dir, redactor=redactor)
        report = verify(run_dir)
        partial: bytes | None = None
        if not report.ok:
            if report.torn_tail is None:
                raise JournalError(f"the journal does not verify: {report.describe()}")
            partial = report.torn_tail
            with writer.path.open("r+b") as handle:
                handle.truncate(report.good_bytes)
                os.fsync(handle.fileno())
            (writer.run_dir / "journal.partial").write_bytes(partial)
        writer.seq = report.count
        writer.last_hash = report.final_hash
        if report.last is not None:
            elapsed = (utcnow() - parse_timestamp(report.last.ts)).total_seconds()
            writer._mono_base = report.last.mono + max(0.0, elapsed)
        writer._open()
        if partial is not None:
            writer.append(
                "journal_repaired",
                {
                    "dropped_bytes": len(partial),
                    "dropped_sha256": hashlib.sha256(partial).hexdigest(),
                    "kept_in": "journal.partial",
                },
            )
        return writer

    def _open(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def append(self, event_type: str, data: dict[str, Any]) -> Event:
        """Append one event and fsync it; returns the event as written."""
        if self._fd is None:
            raise JournalError("the journal is closed")
        body = {
            "seq": self.seq + 1,
            "ts": format_timestamp(utcnow()),
            "mono": round(self._mono_base + monotonic() - self._mono_start, 6),
            "type": event_type,
            "data": self.redactor.clean(data),
            "prev": self.last_hash,
        }
        line, digest = _seal(body)
        payload = line.encode("utf-8")
        written = os.write(self._fd, payload)
        if written != len(payload):
            raise JournalError(f"short write to {self.path}: disk full?")
        os.fsync(self._fd)
        self.seq += 1
        self.last_hash = digest
        self._write_head()
        return Event(hash=digest, **body)

    def _write_head(self) -> None:
        tmp = self.run_dir / (HEAD + ".tmp")
        tmp.write_text(json.dumps({"seq": self.seq, "hash": self.last_hash}) + "\n")
        os.replace(tmp, self.run_dir / HEAD)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass
class VerifyReport:
    """The outcome of checking a journal's chain."""

    ok: bool
    count: int
    final_hash: str
    bad_line: int | None = None
    reason: str = ""
    good_bytes: int = 0
    torn_tail: bytes | None = None
    last: Event | None = None

    def describe(self) -> str:
        if self.ok:
            return f"intact: {self.count} events, final hash {self.final_hash}"
        return f"line {self.bad_line}: {self.reason}"


def _parse_line(raw: bytes) -> tuple[dict[str, Any], str] | None:
    try:
        text = raw.decode("utf-8")
        obj = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(obj, dict) or len(text) < _SUFFIX_LEN:
        return None
    body = text[:-_SUFFIX_LEN] + "}"
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    return obj, digest


def verify(run_dir: str | Path) -> VerifyReport:
    """Check every line's hash and chain, and the head record; name the first bad line."""
    path = Path(run_dir) / JOURNAL
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return VerifyReport(False, 0, GENESIS, 1, f"no {JOURNAL} here: not a run directory")
    prev = GENESIS
    count = 0
    offset = 0
    last: Event | None = None
    lines = data.split(b"\n")
    for index, raw in enumerate(lines):
        number = index + 1
        is_last = index == len(lines) - 1
        if is_last and raw == b"":
            break
        parsed = _parse_line(raw)
        if parsed is None or is_last:
            reason = (
                "cut short (no end of line): the process stopped while writing it"
                if is_last
                else "not a journal line (not JSON, or no hash)"
            )
            torn = data[offset:] if is_last else None
            return VerifyReport(False, count, prev, number, reason, offset, torn, last)
        obj, digest = parsed
        if obj.get("hash") != digest:
            return VerifyReport(
                False,
                count,
                prev,
                number,
                "its content does not match its hash: the line was edited",
                offset,
                None,
                last,
            )
        if obj.get("seq") != number:
            return VerifyReport(
                False,
                count,
                prev,
                number,
                f"sequence number {obj.get('seq')} where {number} was expected: "
                "lines were removed or reordered",
                offset,
                None,
                last,
            )
        if obj.get("prev") != prev:
            return VerifyReport(
                False,
                count,
                prev,
                number,
                "it does not chain to the line before: a line before it was "
                "changed, removed or reordered",
                offset,
                None,
                last,
            )
        prev = digest
        count += 1
        offset += len(raw) + 1
        last = Event(
            obj["seq"], obj["ts"], obj["mono"], obj["type"], obj["data"], obj["prev"], digest
        )
    head_path = Path(run_dir) / HEAD
    if head_path.exists():
        try:
            head = json.loads(head_path.read_text())
            head_seq, head_hash = int(head["seq"]), str(head["hash"])
        except (ValueError, KeyError, TypeError):
            return VerifyReport(
                False, count, prev, count + 1, f"{HEAD} is unreadable", offset, None, last
            )
        if head_seq > count:
            return VerifyReport(
                False,
                count,
                prev,
                count + 1,
                f"missing: the journal ends at line {count} but {HEAD} records "
                f"{head_seq} events; lines were cut off the end",
                offset,
                None,
                last,
            )
        if head_seq == count and head_hash != prev:
            return VerifyReport(
                False,
                count,
                prev,
                count,
                f"the last line's hash differs from the one in {HEAD}",
                offset,
                None,
                last,
            )
    return VerifyReport(True, count, prev, None, "", offset, None, last)


def read_events(run_dir: str | Path) -> Iterator[Event]:
    """Every complete event of a journal, in order (a torn last line is left out)."""
    path = Path(run_dir) / JOURNAL
    with path.open("rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                return
            try:
                obj = json.loads(raw)
            except ValueError:
                return
            yield Event(
                obj["seq"],
                obj["ts"],
                obj["mono"],
                obj["type"],
                obj["data"],
                obj["prev"],
                obj["hash"],
            )
