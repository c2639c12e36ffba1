"""The sandbox's background programs (the writer, the Vault snapshot schedule, the audit-log
shipping): each a pid file and a log file in the sandbox's directory, started and stopped the
same way, and said the same way."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from drconsole.adapters.oscmd import Background


@dataclass(frozen=True)
class Program:
    """One background program: ``name`` names its files, ``what`` is how it is said."""

    name: str
    what: str

    def background(self, root: Path) -> Background:
        return Background(Path(root) / f"{self.name}.pid", Path(root) / f"{self.name}.log")

    def pid(self, root: Path) -> int | None:
        return self.background(root).pid()

    def start(self, root: Path, argv: Sequence[str], detail: str = "") -> str:
        """Start it unless it runs; ``detail`` is added to what is said (its interval)."""
        if self.pid(root):
            return f"{self.what} is running already"
        pid = self.background(root).start(list(argv))
        return f"{self.what} started{detail} (pid {pid})"

    def stop(self, root: Path) -> str:
        pid = self.background(root).stop(within_s=5)
        return f"{self.what} is not running" if pid is None else f"{self.what} stopped (pid {pid})"


WRITER = Program("writer", "the writer")
SNAPSHOTS = Program("snapshotter", "the Vault snapshot schedule")
AUDIT_LOGS = Program("auditlog", "audit-log shipping")
