"""Running a program as the operating-system user that owns a service.

PostgreSQL refuses to run as root, and pgBackRest must write its repository as the database's
owner, so commands for a cluster run as that user: directly when we are that user, through
``subprocess``'s ``user=`` when we are root, and otherwise not at all (a clear error).
``free_port`` finds a port for a server started here (a test restore, the sandbox's services).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import random
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from drconsole.adapters.base import PermanentError, TransientError


def current_user() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody uses now at ``host``, for a server to listen on (the sandbox's and the
    tests'), chosen below the kernel's ephemeral range: a port from that range (what binding
    port 0 gives) can be taken, before the server binds it, as the local port of any outgoing
    connection, and then the server cannot start (seen as "moto did not answer" with two test
    processes busy connecting)."""
    low = _ephemeral_low()
    for _ in range(200):
        port = random.randrange(LISTEN_FROM, low)
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue  # in use: another
            return port
    with socket.socket() as sock:  # all tried in use: whatever the kernel gives
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


LISTEN_FROM = 20000  # free_port's range starts here and ends where the ephemeral range begins


def _ephemeral_low() -> int:
    """Where the kernel's range for outgoing connections' local ports begins (32768 when it
    cannot be read)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768
    return low if low > LISTEN_FROM + 1000 else 32768


@dataclass(frozen=True)
class Result:
    """What a finished command gave."""

    argv: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    def tail(self, lines: int = 5) -> str:
        text = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return "\n".join(text[-lines:])


def run_as(
    argv: Sequence[str],
    *,
    user: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 600.0,
    cwd: str | None = None,
) -> Result:
    """Run ``argv`` (no shell) as ``user`` and wait for it.

    Raises:
        PermanentError: the program is missing, or we cannot act as ``user``.
        TransientError: it did not finish within ``timeout`` seconds.
    """
    uid: int | None = None
    gid: int | None = None
    if user and user != current_user():
        if os.geteuid() != 0:
            raise PermanentError(
                f"cannot run {argv[0]} as {user}: drconsole runs as {current_user()}",
                hint=f"run drconsole as {user} or as root",
            )
        entry = pwd.getpwnam(user)
        uid, gid = entry.pw_uid, entry.pw_gid
        env = {"HOME": entry.pw_dir, "USER": user, "LOGNAME": user, **(env or {})}
    full_env = {**os.environ, **(env or {})}
    try:
        done = subprocess.run(
            list(argv),
            env=full_env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
            user=uid,
            group=gid,
            extra_groups=[] if uid is not None else None,
        )
    except FileNotFoundError:
        raise PermanentError(
            f"program not found: {argv[0]}",
            hint="install it (make setup installs the system packages)",
        ) from None
    except subprocess.TimeoutExpired:
        raise TransientError(f"{argv[0]} did not finish within {timeout:g} s") from None
    return Result(tuple(argv), done.returncode, done.stdout, done.stderr)


def terminate(pid: int, within_s: float = 10.0) -> None:
    """Send SIGTERM to ``pid`` and wait until it is gone (or ``within_s`` passes)."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if _gone(pid):
            return
        time.sleep(0.05)


def _gone(pid: int) -> bool:
    """The process has exited. A child of ours is reaped; an exited process nobody reaped (a
    zombie, such as a server started earlier by this same process) counts as gone."""
    with contextlib.suppress(ChildProcessError):  # not our child
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except OSError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


@dataclass(frozen=True)
class Background:
    """A program that runs on its own (a server, the sandbox's writer), found by its pid
    file, its output appended to a log file."""

    pidfile: Path
    log_file: Path

    def pid(self) -> int | None:
        """Its pid while it runs, else None."""
        try:
            pid = int(self.pidfile.read_text())
        except (OSError, ValueError):
            return None
        return None if _gone(pid) else pid

    def start(self, argv: Sequence[str]) -> int:
        """Start it in a session of its own (so a Ctrl-C at the console does not reach it)."""
        with open(self.log_file, "ab") as log:  # the child keeps its own copy
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self.pidfile.write_text(str(proc.pid))
        return proc.pid

    def stop(self, within_s: float = 10.0) -> int | None:
        """Stop it; the pid it had, or None when it was not running."""
        pid = self.pid()
        if pid is not None:
            terminate(pid, within_s)
        self.pidfile.unlink(missing_ok=True)
        return pid
