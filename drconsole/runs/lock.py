"""The driver's lock: one process at a time drives a run.

A process that writes a run's journal (a new run, a resume, the console driving either) holds an
exclusive ``flock`` on ``RUN_DIR/driver.lock``, taken before it writes anything and held until it
closes the journal. The kernel drops the lock when the process ends, however it ends, so a
``kill -9`` never leaves a stale lock behind. The file says who holds it (operator, host, pid,
since when) so that a second driver is refused with those facts and writes nothing. Readers
(report, verify, runs, record) never take it.

``flock`` locks hold between processes on one machine (and on NFS only as far as the server
maps them to its own locks): two hosts sharing a run directory are not covered, see
docs/threat-model.md.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from drconsole.timeutil import format_timestamp, parse_timestamp, utcnow

LOCK_FILE = "driver.lock"
_WIDTH = 512  # rewritten in place at this width, so taking the lock on a full disk still works
_SETTLE_S = 1.0  # how long a refused driver waits for the holder to write who it is


@dataclass(frozen=True)
class Holder:
    """Who drives a run."""

    operator: str
    host: str
    pid: int
    since: str  # ISO 8601 UTC

    def describe(self) -> str:
        """``alice on host h, pid 123, since 10:02:11 UTC`` (the date too when not today)."""
        try:
            when = parse_timestamp(self.since)
            since = when.strftime(
                "%H:%M:%S UTC" if when.date() == utcnow().date() else "%Y-%m-%d %H:%M:%S UTC"
            )
        except ValueError:
            since = self.since
        return f"{self.operator} on host {self.host}, pid {self.pid}, since {since}"

    def is_live(self) -> bool:
        """The holder's process still runs (always assumed for another host's)."""
        if self.host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


class RunLocked(Exception):
    """Another process drives the run; the message names it and says what to do."""

    def __init__(self, run_dir: Path, holder: Holder | None) -> None:
        self.holder = holder
        who = holder.describe() if holder else "another process (it has not said who yet)"
        super().__init__(
            f"run {run_dir.name} is being driven by {who}; watch it with: "
            f"drconsole report {run_dir} (reading needs no lock), or wait until it stops "
            "and resume it then"
        )


class RunLock:
    """An exclusive hold on one run directory; ``release`` (or the process's end) frees it."""

    def __init__(self, fd: int, run_dir: Path) -> None:
        self._fd: int | None = fd
        self.run_dir = run_dir

    @classmethod
    def acquire(cls, run_dir: Path, operator: str) -> RunLock:
        """Take the run's lock and write who holds it.

        Raises:
            RunLocked: another process holds it (nothing was written).
            OSError: the lock file cannot be opened or written.
        """
        path = Path(run_dir) / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunLocked(Path(run_dir), _wait_for_holder(path)) from None
        try:
            os.fchmod(fd, 0o600)
            me = {
                "operator": operator[:200],
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "since": format_timestamp(utcnow()),
            }
            record = json.dumps(me, ensure_ascii=False).encode("utf-8")
            os.pwrite(fd, record.ljust(_WIDTH) + b"\n", 0)
        except BaseException:
            os.close(fd)
            raise
        return cls(fd, Path(run_dir))

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None


def read_holder(run_dir: Path) -> Holder | None:
    """Who last took the run's lock (it may have let go since), or None when unknown."""
    try:
        text = (Path(run_dir) / LOCK_FILE).read_bytes().decode("utf-8", "replace").strip()
        raw, _ = json.JSONDecoder().raw_decode(text)
        return Holder(str(raw["operator"]), str(raw["host"]), int(raw["pid"]), str(raw["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _wait_for_holder(path: Path) -> Holder | None:
    # The holder writes its name just after taking the lock: until then the file may still
    # name an earlier driver that has ended, so wait briefly for a live one.
    deadline = time.monotonic() + _SETTLE_S
    while True:
        holder = read_holder(path.parent)
        if holder is not None and holder.is_live():
            return holder
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)
