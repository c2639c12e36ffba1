"""An OpenBao server process on this machine (a targets ``vault`` section with ``host_kind:
local``: the sandbox's servers): stopped, killed and started through its pid file, and where it
is in a snapshot restore, read from its own log.

What OpenBao's raft storage logs (at INFO, its default level) around a snapshot restore: after
"restored user snapshot" the data is in place (raft's snapshot store and the FSM's database,
both written and synced); the server then sleeps a fixed 5 s (restoreOpDelayDuration: "let the
standbys apply the restore callback") before it reloads its keys, and after a force restore
seals itself, holding its state lock (every API call waits) throughout. The restore call itself
answers before the data is in place: only the log (or, after a force restore, the seal) says it
was applied. A server that dies on the way (its process gone) never logs it.

The log is read from where the last read stopped: a wait reads each line once, not the log's
tail on every poll.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
import time
from pathlib import Path

from drconsole.adapters.base import PermanentError, wait_until
from drconsole.adapters.oscmd import Background

_STARTED = b"OpenBao server started"
_RESTORE_BEGUN = b"shutting down prior to restoring snapshot"
_RESTORE_APPLIED = b"restored user snapshot"
_RESTORE_DONE = b"running post snapshot restore invalidations"
_RESTORE_FAILED = (b"failed to restore snapshot", b"error while restoring raft snapshot")
_RAFT_PATH = re.compile(r'storage\s+"raft"\s*\{[^}]*?\bpath\s*=\s*"([^"]+)"', re.S)
_LOG_TAIL = 256 * 1024  # the first read starts this far before the log's end


def _after(state: str | None, line: bytes) -> str | None:
    """The restore state once ``line`` is logged, ``state`` before it."""
    if _STARTED in line:
        return None  # a new process: only its own lines count
    if _RESTORE_BEGUN in line:
        return "begun"
    if any(words in line for words in _RESTORE_FAILED):
        return "failed"
    if _RESTORE_DONE in line:
        return "done" if state == "applied" else None
    if _RESTORE_APPLIED in line and state == "begun":
        return "applied"
    return state


class LocalBaoHost:
    """An OpenBao server process on this machine, restarted through its pid file."""

    def __init__(self, binary: str, config: str, pidfile: str, log_file: str) -> None:
        self.binary, self.config = binary, config
        self.log_file = Path(log_file)
        self.process = Background(Path(pidfile), self.log_file)
        self._read_to: int | None = None  # how far the log is read (None: not yet)
        self._state: str | None = None  # the restore state after the whole lines read
        self._partial = b""  # the last line while it is unfinished, read again when it is

    def pid(self) -> int | None:
        return self.process.pid()

    def stop(self) -> None:
        self.process.stop()

    def kill(self) -> None:
        """SIGKILL, for a server whose data is already in place (see ``restore_state``)."""
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.stop()  # waits until it is gone, removes the pid file

    def start(self) -> None:
        if not self.pid():
            self.process.start([self.binary, "server", f"-config={self.config}"])

    def data_dir(self) -> Path | None:
        """The raft data directory its configuration names (``storage "raft" { path = ... }``)."""
        try:
            found = _RAFT_PATH.search(Path(self.config).read_text())
        except OSError:
            return None
        return Path(found.group(1)) if found else None

    def empty_data(self) -> Path:
        """Stop the server and move its raft data aside (``data.before-rerun-STAMP``, kept, not
        deleted), an empty directory in its place: a new, empty node again. Returns where the
        data went."""
        data = self.data_dir()
        if data is None or not data.is_dir():
            raise PermanentError(
                f"no raft data directory found in {self.config}",
                hint="empty the node's raft data directory by hand, then run the step again",
            )
        self.stop()
        aside = data.with_name(f"{data.name}.before-rerun-{time.strftime('%Y%m%dT%H%M%S')}")
        data.rename(aside)
        data.mkdir(mode=0o700)
        return aside

    def log_size(self) -> int:
        """How long its log is now (a mark to read from later with ``read_from``)."""
        try:
            return self.log_file.stat().st_size
        except OSError:
            return 0

    def read_from(self, mark: int) -> None:
        """Read the log from ``mark`` on (a ``log_size`` taken earlier): only what the server
        logged since counts."""
        self._read_to, self._state, self._partial = mark, None, b""

    def restore_state(self) -> str | None:
        """Where the running server is in its last snapshot restore, from its own log: "begun",
        "applied" (the data is in place; what is left is the server's fixed delay, then its key
        reload), "done" (applied, and the key reload ran: after a force restore the node sealed
        itself), "failed" (the server logged the restore failed), or None (no restore since it
        started, or the log says nothing).
        Reads what the log gained since the last call (the first: its last 256 KB)."""
        try:
            with self.log_file.open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if self._read_to is None or size < self._read_to:  # the first read, or a new log
                    self._read_to, self._state = max(0, size - _LOG_TAIL), None
                    self._partial = b""
                handle.seek(self._read_to)
                new = handle.read()
        except OSError:
            return None
        self._read_to += len(new)
        *lines, self._partial = (self._partial + new).split(b"\n")
        for line in lines:
            self._state = _after(self._state, line)
        return _after(self._state, self._partial)

    def wait_applied(
        self, within_s: float, appear_s: float, cancel: threading.Event | None = None
    ) -> str | None:
        """Wait until a restore the server was just given is applied, done or failed, or the
        server's process is gone ("gone"). ``appear_s``: how long its first log line may take
        to appear (a log level above INFO never shows it: None then, and the caller knows
        nothing more than before). After ``within_s`` the state the log last showed."""
        start = time.monotonic()
        seen = False
        state: str | None = None

        def settled() -> bool:
            nonlocal seen, state
            state = self.restore_state()
            if state in ("applied", "done", "failed") or (
                state is None and (seen or time.monotonic() - start > appear_s)
            ):
                return True
            if self.pid() is None:
                state = "gone"
                return True
            seen = seen or state == "begun"
            return False

        wait_until(settled, within_s, interval_s=0.02, cancel=cancel)
        return state
