"""Writing, reading and verifying ``journal.jsonl``.

Each line is canonical JSON (sorted keys, no spaces) of ``seq``, ``ts`` (UTC), ``mono`` (seconds
since the run began), ``type``, ``data`` and ``prev`` (the previous line's hash), followed by
``hash``: the SHA-256 of the line's bytes without the hash field. Every line is fsynced before
the caller goes on (and so before anything is shown). ``journal.head`` records the last sequence
number and hash, so that lines cut off the end are noticed too.

A write that fails (a full disk) is undone before the error is raised: the file is left as it
was, it still verifies, and the writer refuses every later append. Only a line cut short by a
crash, which the head never counted, is repaired on reopen, and the repair is itself an event.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from drconsole.journal.files import describe_write_error, write_private
from drconsole.journal.redact import Redactor
from drconsole.timeutil import format_timestamp, monotonic, parse_timestamp, utcnow

JOURNAL = "journal.jsonl"
HEAD = "journal.head"
PARTIAL = "journal.partial"
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


class Lock(Protocol):
    """What the writer holds while it writes (the run's driver lock, ``runs.lock``)."""

    def release(self) -> None: ...


class JournalWriter:
    """Appends events, fsyncing each one. One writer per run: the caller holds the run's driver
    lock and hands it over (``lock``); ``close`` releases it."""

    def __init__(
        self, run_dir: Path, *, redactor: Redactor | None = None, lock: Lock | None = None
    ) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / JOURNAL
        self.redactor = redactor or Redactor()
        self.seq = 0
        self.last_hash = GENESIS
        self._size = 0  # bytes of intact lines: where the next one goes
        self._broken: str | None = None  # why appending stopped (a write failed)
        self._mono_base = 0.0
        self._mono_start = monotonic()
        self._fd: int | None = None
        self._head_fd: int | None = None
        self._lock = lock
        self.repaired: Event | None = None  # the journal_repaired event reopen wrote, if any

    @classmethod
    def create(
        cls, run_dir: Path, *, redactor: Redactor | None = None, lock: Lock | None = None
    ) -> JournalWriter:
        """Start a new journal in an existing, empty run directory."""
        writer = cls(run_dir, redactor=redactor, lock=lock)
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
        lock: Lock | None = None,
    ) -> JournalWriter:
        """Open an existing journal to append after its last intact line.

        A line cut short by a crash (no newline, or not JSON) and never counted by the head was
        never acknowledged: its bytes are kept in ``journal.partial`` (``.2``, ``.3`` for later
        ones) and a ``journal_repaired`` event, recording their hash, is written over them.

        Args:
            checked: the result of ``verify(run_dir)`` when the caller has it already.

        Raises:
            JournalError: the journal does not verify (it must not be extended), or the repair
                cannot be written (a full disk; the journal is left as it was).
        """
        writer = cls(run_dir, redactor=redactor, lock=lock)
        report = checked or verify(run_dir)
        if not report.ok and report.torn_tail is None:
            raise JournalError(f"the journal does not verify: {report.describe()}")
        writer.seq = report.count
        writer.last_hash = report.final_hash
        writer._size = report.good_bytes
        if report.last_ts is not None:
            elapsed = (utcnow() - parse_timestamp(report.last_ts)).total_seconds()
            writer._mono_base = report.last_mono + max(0.0, elapsed)
        writer._open()
        if report.torn_tail is not None:
            try:
                writer.repaired = writer._repair(report.torn_tail)
            except JournalError:
                writer.close()
                raise
        return writer

    def _open(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
        self._head_fd = os.open(self.run_dir / HEAD, os.O_WRONLY | os.O_CREAT, 0o600)

    def _repair(self, torn: bytes) -> Event:
        partial = self.run_dir / PARTIAL
        number = 1
        while partial.exists():
            number += 1
            partial = self.run_dir / f"{PARTIAL}.{number}"
        try:
            write_private(partial, torn)
        except OSError as exc:
            raise JournalError(describe_write_error(exc, partial)) from None
        data = {
            "dropped_bytes": len(torn),
            "dropped_sha256": hashlib.sha256(torn).hexdigest(),
            "kept_in": partial.name,
        }
        return self._write("journal_repaired", data, replacing=torn)

    def append(self, event_type: str, data: dict[str, Any]) -> Event:
        """Append one event and fsync it; returns the event as written.

        Raises:
            JournalError: the journal is closed, or the line could not be written (the file is
                as it was before, and every later append is refused with the same reason).
        """
        return self._write(event_type, data)

    def _write(self, event_type: str, data: dict[str, Any], replacing: bytes = b"") -> Event:
        """Write the next line at the end of the intact lines, over ``replacing`` (a torn
        line's bytes) if any; on failure put back what was there."""
        if self._fd is None or self._head_fd is None:
            raise JournalError("the journal is closed")
        if self._broken is not None:
            raise JournalError(self._broken)
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
        try:
            _write_at(self._fd, payload, self._size)
            if len(replacing) > len(payload):
                os.ftruncate(self._fd, self._size + len(payload))
            os.fsync(self._fd)
        except OSError as exc:
            try:  # in place first: rewriting bytes the file had needs no new space
                _write_at(self._fd, replacing, self._size)
                os.ftruncate(self._fd, self._size + len(replacing))
                os.fsync(self._fd)
            except OSError:
                pass
            self._broken = describe_write_error(exc, self.path)
            raise JournalError(self._broken) from None
        self.seq += 1
        self.last_hash = digest
        self._size += len(payload)
        try:
            self._write_head()
        except OSError as exc:  # the line is written; the head lags it, which verify allows
            self._broken = describe_write_error(exc, self.run_dir / HEAD)
            raise JournalError(self._broken) from None
        return Event(hash=digest, **body)

    def _write_head(self) -> None:
        # One fixed-width record rewritten in place (a single small write, after the line's
        # fsync, so the head can lag the journal after a crash but never run ahead of it).
        assert self._head_fd is not None
        record = json.dumps({"seq": self.seq, "hash": self.last_hash})
        os.pwrite(self._head_fd, record.ljust(_HEAD_WIDTH).encode() + b"\n", 0)

    def close(self) -> None:
        """Close the files and release the driver lock (another process may then drive)."""
        for fd in (self._fd, self._head_fd):
            if fd is not None:
                os.close(fd)
        self._fd = self._head_fd = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def _write_at(fd: int, data: bytes, offset: int) -> None:
    done = 0
    while done < len(data):
        written = os.pwrite(fd, data[done:], offset + done)
        if written == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        done += written


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
    """Check every line's hash and chain, and the head record; name the first bad line. The head
    is read before the journal: a line written meanwhile is then one the head does not count
    yet, never one it counts and the bytes lack."""
    run_dir = Path(run_dir)
    try:
        head: bytes | None = (run_dir / HEAD).read_bytes()
    except FileNotFoundError:
        head = None
    try:
        data = (run_dir / JOURNAL).read_bytes()
    except FileNotFoundError:
        return VerifyReport(False, 0, GENESIS, 1, f"no {JOURNAL} here: not a run directory")
    return verify_bytes(data, head)


def verify_bytes(data: bytes, head: bytes | None) -> VerifyReport:
    """:func:`verify` of a journal's bytes and its head's (None: no head file), read by the
    caller, so that what is verified is exactly what it replays or packs."""
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
        # A crash mid-write leaves a line the head never counted. A line the head counted was
        # written in full and fsynced: if it is cut short now, that is tampering or loss.
        checked = _check_head(head, report, fail)
        if not checked.ok:
            return checked
        return fail(
            len(lines) + 1, "cut short (no end of line): the process stopped while writing it", tail
        )
    return _check_head(head, report, fail)


def _check_head(
    head_bytes: bytes | None, report: VerifyReport, fail: Callable[[int, str], VerifyReport]
) -> VerifyReport:
    if head_bytes is None:
        return report
    try:
        head = json.loads(head_bytes)
        head_seq, head_hash = int(head["seq"]), str(head["hash"])
    except (ValueError, KeyError, TypeError):
        return fail(report.count + 1, f"{HEAD} is unreadable")
    if head_seq > report.count:
        return fail(
            report.count + 1,
            f"missing: the journal ends at line {report.count} but "
            f"{HEAD} records {head_seq} events; lines were cut off the end after they "
            "were acknowledged (tampering or loss, not a crash)",
        )
    if head_seq == report.count and head_hash != report.final_hash:
        return fail(report.count, f"the last line's hash differs from the one in {HEAD}")
    return report


def read_events(run_dir: str | Path) -> Iterator[Event]:
    """Every complete event of a journal, in order (a torn last line is left out)."""
    path = Path(run_dir) / JOURNAL
    with path.open("r", encoding="utf-8", newline="\n") as handle:
        for line in handle:
            event = parse_line(line)
            if event is None:
                return
            yield event


def parse_line(line: str) -> Event | None:
    """The event of one complete journal line, or None when it is cut short or not JSON."""
    if not line.endswith("\n"):
        return None
    try:
        obj = _DECODER.raw_decode(line)[0]  # skips json.loads' wrappers: a third of replay's time
    except ValueError:
        return None
    return Event(
        obj["seq"], obj["ts"], obj["mono"], obj["type"], obj["data"], obj["prev"], obj["hash"]
    )
