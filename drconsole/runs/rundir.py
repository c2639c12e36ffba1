"""Run directories: where they live, how they are named, what they hold, how they are listed.

A run directory holds ``journal.jsonl`` (and ``journal.head``), ``plan.yaml`` (the exact plan
that ran, whose SHA-256 the journal records), ``targets.yaml`` when a targets file was given,
``artefacts/`` and ``driver.lock`` (who drives it, see ``runs/lock.py``). It is private to the
operator: the directory and everything drconsole puts in it are 0700/0600, whatever the umask.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from drconsole.journal.journal import is_run_dir, read_events
from drconsole.runs.state import RunState, replay
from drconsole.timeutil import utcnow

PLAN_COPY = "plan.yaml"
TARGETS_COPY = "targets.yaml"


def default_runs_dir() -> Path:
    """``$DRCONSOLE_RUNS_DIR``, else ``$XDG_DATA_HOME/drconsole/runs``, else
    ``~/.local/share/drconsole/runs``."""
    explicit = os.environ.get("DRCONSOLE_RUNS_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "drconsole" / "runs"


def new_run_dir(runs_dir: Path, plan_id: str, now: datetime | None = None) -> Path:
    """Create a fresh, uniquely named, private (0700) run directory."""
    stamp = (now or utcnow()).strftime("%Y%m%dT%H%M%SZ")
    runs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    while True:
        path = runs_dir / f"{stamp}-{plan_id}-{secrets.token_hex(2)}"
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue
        path.chmod(0o700)  # exactly, whatever the umask took away
        return path


def load_state(run_dir: Path) -> RunState:
    """The state of a run, replayed from its journal."""
    return replay(read_events(run_dir))


@dataclass(frozen=True)
class RunSummary:
    """One line of ``drconsole runs``."""

    path: Path
    state: RunState


def list_runs(runs_dir: Path) -> list[RunSummary]:
    """Every run under ``runs_dir``, newest first. Unreadable ones are skipped."""
    if not runs_dir.is_dir():
        return []
    found = []
    for child in runs_dir.iterdir():
        if child.is_dir() and is_run_dir(child):
            try:
                state = load_state(child)
            except (OSError, KeyError, ValueError):
                continue
            found.append(RunSummary(child, state))
    found.sort(key=lambda r: r.state.started_at or utcnow(), reverse=True)
    return found
