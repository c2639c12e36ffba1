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
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from drconsole.journal.redact import Redactor
from drconsole.timeutil import format_timestamp, monotonic, parse_timestamp, utcnow

JOURNAL = "journal.jsonl"
HEAD = "journal.head"
GENESIS = "0" * 64
_SUFFIX_LEN = len(',"hash":"') + 64 + len('"}')
_HEAD_WIDTH = 120
_DECODER = json.JSONDecoder()
# The fields after "data" in a canonical line, anchored at its end: keys are sorted, so these
# always come last, and a JSON string cannot hold an unescaped quote, so nothing in "data" can
# match them. Verify reads only these; the hash covers every byte of the line.
_TAIL = re.compile(
    rb',"mono":(-?[0-9.eE+-]+),"prev":"([0-9a-f]{64})","seq":([0-9]+),"ts":"([^"]*)",'
    rb'"type":"([a-z_]+)","hash":"([0-9a-f]{64})"}$'
)


class JournalError(Exception):
    """The journal cannot be opened or written; the message says why and what to do."""


class Event(NamedTuple):
    """One journal line (a tuple: replaying 100,000 of them must stay cheap)."""

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
        self._head_fd: int | None = None

    @classmethod
    def create(cls, run_dir: Path, *, redactor: Redactor | None = None) -> JournalWriter:
        """Start a new journal in an existing, empty run directory."""
        writer = cls(run_dir, redactor=redactor)
        if writer.path.exists():
            raise JournalError(f"{writer.path} exists already; a run directory holds one run")
        writer._open()
        return writer

    @classmethod
    def reopen(
        cls,
        run_dir: Path,
        *,
        redactor: Redactor | None = None,
        checked: VerifyReport | None = None,
    ) -> JournalWriter:
        """Open an existing journal to append after its last intact line.

        A line cut short by a crash (no newline, or not JSON) was never acknowledged: it is moved
        to ``journal.partial`` and a ``journal_repaired`` event records its hash.

        Args:
            checked: the result of ``verify(run_dir)`` when the caller has it already.

        Raises:
            JournalError: the journal does not verify; it must not be extended.
        """
        writer = cls(run_dir, redactor=redactor)
        report = checked or verify(run_dir)
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
        if report.last_ts is not None:
            elapsed = (utcnow() - parse_timestamp(report.last_ts)).total_seconds()
            writer._mono_base = report.last_mono + max(0.0, elapsed)
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
        self._head_fd = os.open(self.run_dir / HEAD, os.O_WRONLY | os.O_CREAT, 0o600)

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
        # One fixed-width record rewritten in place (a single small write, after the line's
        # fsync, so the head can lag the journal after a crash but never run ahead of it).
        assert self._head_fd is not None
        record = json.dumps({"seq": self.seq, "hash": self.last_hash})
        os.pwrite(self._head_fd, record.ljust(_HEAD_WIDTH).encode() + b"\n", 0)

    def close(self) -> None:
        for fd in (self._fd, self._head_fd):
            if fd is not None:
                os.close(fd)
        self._fd = self._head_fd = None


@dataclass
class VerifyReport:
    """The outcome of checking a journal's chain.

    Attributes:
        ok: every line hashes and chains, and the head record agrees.
        count: intact lines before the first bad one (all of them when ok).
        final_hash: the hash of the last intact line.
        bad_line: the first bad line's number (1-based), when not ok.
        reason: what is wrong with it.
        good_bytes: the length of the intact part of the file.
        torn_tail: the bytes of a last line cut short by a crash (the one repairable fault).
        last_ts, last_mono: time and monotonic offset of the last intact line.
    """

    ok: bool
    count: int
    final_hash: str
    bad_line: int | None = None
    reason: str = ""
    good_bytes: int = 0
    torn_tail: bytes | None = None
    last_ts: str | None = None
    last_mono: float = 0.0

    def describe(self) -> str:
        if self.ok:
            return f"intact: {self.count} events, final hash {self.final_hash}"
        return f"line {self.bad_line}: {self.reason}"


def verify(run_dir: str | Path) -> VerifyReport:
    """Check every line's hash and chain, and the head record; name the first bad line."""
    path = Path(run_dir) / JOURNAL
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return VerifyReport(False, 0, GENESIS, 1, f"no {JOURNAL} here: not a run directory")
    report = VerifyReport(True, 0, GENESIS)

    def fail(number: int, reason: str, torn: bytes | None = None) -> VerifyReport:
        report.ok, report.bad_line, report.reason, report.torn_tail = False, number, reason, torn
        return report

    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline, else a line cut short
    for number, raw in enumerate(lines, start=1):
        match = _TAIL.search(raw)
        if match is None:
            return fail(number, "not a journal line (not canonical JSON with a hash)")
        mono, prev, seq, ts, _kind, stored = match.groups()
        if hashlib.sha256(raw[:-_SUFFIX_LEN] + b"}").hexdigest().encode() != stored:
            return fail(number, "its content does not match its hash: the line was edited")
        if int(seq) != number:
            return fail(
                number,
                f"sequence number {int(seq)} where {number} was expected: "
                "lines were removed or reordered",
            )
        if prev.decode() != report.final_hash:
            return fail(
                number,
                "it does not chain to the line before: a line before it was "
                "changed, removed or reordered",
            )
        report.final_hash = stored.decode()
        report.count = number
        report.good_bytes += len(raw) + 1
        report.last_ts, report.last_mono = ts.decode(), float(mono)
    if tail:
        return fail(
            len(lines) + 1, "cut short (no end of line): the process stopped while writing it", tail
        )
    return _check_head(Path(run_dir) / HEAD, report, fail)


def _check_head(
    head_path: Path, report: VerifyReport, fail: Callable[[int, str], VerifyReport]
) -> VerifyReport:
    if not head_path.exists():
        return report
    try:
        head = json.loads(head_path.read_text())
        head_seq, head_hash = int(head["seq"]), str(head["hash"])
    except (ValueError, KeyError, TypeError):
        return fail(report.count + 1, f"{HEAD} is unreadable")
    if head_seq > report.count:
        return fail(
            report.count + 1,
            f"missing: the journal ends at line {report.count} but "
            f"{HEAD} records {head_seq} events; lines were cut off the end",
        )
    if head_seq == report.count and head_hash != report.final_hash:
        return fail(report.count, f"the last line's hash differs from the one in {HEAD}")
    return report


def read_events(run_dir: str | Path) -> Iterator[Event]:
    """Every complete event of a journal, in order (a torn last line is left out)."""
    path = Path(run_dir) / JOURNAL
    decode = _DECODER.raw_decode  # skips json.loads' wrappers: a third of replay's time
    with path.open("r", encoding="utf-8", newline="\n") as handle:
        for line in handle:
            if not line.endswith("\n"):
                return
            try:
                obj = decode(line)[0]
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
