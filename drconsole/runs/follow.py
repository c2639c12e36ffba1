"""Following a run from outside: the journal as it grows, and whether its driver still drives.

A watcher never writes to a run directory and never takes its lock. :class:`Follower` reads
the journal's complete lines from where it stopped; a last line still being written (no end of
line yet) is left for the next read, which starts again at the end of the last complete line
(so a torn line that a resume later overwrites with its repair is read as it ends up). It waits
for the journal to change with inotify (Linux, through the C library) or, where that is not
available or not wanted, by polling. Nothing the driver does depends on it.

:func:`driver` says who drives the run and whether they still do: on Linux the kernel's list of
locks (``/proc/locks``) says whether anyone holds ``driver.lock``, without touching it (a probe
that took the lock, even shared, could make a driver starting at that instant fail); elsewhere
the holder's pid is checked.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from drconsole.journal.journal import JOURNAL, Event, parse_line
from drconsole.runs.lock import LOCK_FILE, Holder, read_holder

POLL_S = 0.25  # how often polling looks at the journal's size
GATHER_S = 0.25  # after inotify says the journal changed, how long to let more changes come
_IN_MODIFY, _IN_CLOSE_WRITE, _IN_CREATE, _IN_MOVED_TO = 0x2, 0x8, 0x100, 0x80


class Follower:
    """Reads a run's journal as it grows; ``close`` it when done (or use ``with``)."""

    def __init__(self, run_dir: Path, *, poll: bool = False) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / JOURNAL
        self.offset = 0  # the end of the last complete line read
        self._size = -1
        self._inotify = None if poll else _Inotify.watch(self.run_dir)

    @property
    def uses_inotify(self) -> bool:
        return self._inotify is not None

    def read(self) -> list[Event]:
        """The complete events written since the last read (none when there are none)."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        self._size = self.offset + len(data)
        events = []
        for line in _complete_lines(data):
            event = parse_line(line.decode("utf-8", "replace"))
            if event is None:  # not an event: leave it (and what follows) for the report
                break
            events.append(event)
            self.offset += len(line)
        return events

    def wait(self, timeout: float) -> None:
        """Return when the run directory may have changed, or after ``timeout`` seconds."""
        if self._inotify is not None:
            self._inotify.wait(timeout)
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.path.stat().st_size != self._size:
                    return
            except FileNotFoundError:
                pass
            time.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))

    def close(self) -> None:
        if self._inotify is not None:
            self._inotify.close()
            self._inotify = None

    def __enter__(self) -> Follower:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _complete_lines(data: bytes) -> Iterator[bytes]:
    start = 0
    while (end := data.find(b"\n", start)) != -1:
        yield data[start : end + 1]
        start = end + 1


@dataclass(frozen=True)
class Driver:
    """Who drives a run (or drove it last) and whether they still do."""

    holder: Holder | None
    driving: bool

    def describe(self) -> str:
        who = self.holder.describe() if self.holder else "an unknown process"
        return f"driven by {who}" if self.driving else f"last driven by {who}"


def driver(run_dir: Path) -> Driver:
    """Who drives ``run_dir`` now, without touching its lock."""
    holder = read_holder(run_dir)
    held = _lock_held(Path(run_dir) / LOCK_FILE)
    if held is None:  # no /proc/locks: the holder's process tells
        held = holder is not None and holder.is_live()
    return Driver(holder, held)


def _lock_held(path: Path) -> bool | None:
    """Whether a process holds an exclusive flock on ``path`` (None when the kernel's lock
    list cannot be read)."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return False
    try:
        table = Path("/proc/locks").read_text()
    except OSError:
        return None
    inode = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    # "1: FLOCK  ADVISORY  WRITE 12345 fe:00:2204082 0 EOF" (blocked waiters start with "->")
    return any(
        fields[1:3] == ["FLOCK", "ADVISORY"] and fields[3] == "WRITE" and fields[5] == inode
        for fields in (line.split() for line in table.splitlines())
        if len(fields) >= 6
    )


class _Inotify:
    """Changes in one directory through the C library's inotify (Linux)."""

    def __init__(self, fd: int) -> None:
        self.fd: int | None = fd

    @classmethod
    def watch(cls, directory: Path) -> _Inotify | None:
        """Watch ``directory`` for written, closed and new files; None where inotify is not
        available (another system, or no watches left)."""
        import ctypes.util  # only a watcher needs it: the console that drives a run does not

        name = ctypes.util.find_library("c")
        if name is None:
            return None
        try:
            libc = ctypes.CDLL(name, use_errno=True)
            init, add = libc.inotify_init1, libc.inotify_add_watch
        except (OSError, AttributeError):
            return None
        fd = init(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            return None
        mask = _IN_MODIFY | _IN_CLOSE_WRITE | _IN_CREATE | _IN_MOVED_TO
        if add(fd, str(directory).encode(), mask) < 0:
            os.close(fd)
            return None
        return cls(fd)

    def wait(self, timeout: float) -> None:
        """Until something changed in the directory, or ``timeout`` seconds."""
        if self.fd is None:
            time.sleep(timeout)
            return
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            time.sleep(GATHER_S)  # let a burst of writes land: one read and redraw for all
            try:  # drain: the caller reads what changed itself
                while os.read(self.fd, 65536):
                    pass
            except BlockingIOError:
                pass

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
