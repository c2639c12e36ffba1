"""Run directories: where they live, how they are named, what they hold, how they are listed.

Listing keeps each run's replayed state in memory with its journal's key (``runs/index.py``):
the console lists every 3 s, and only a journal that changed since (a running run's) is read
again. A journal that does not verify or cannot be read is listed with what is wrong with it.

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

from drconsole.journal.journal import read_events
from drconsole.runs import index
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
    """One line of ``drconsole runs``: the state its journal replays to (shared with the next
    listing: read it, do not change it), and what is wrong with the journal (None: it
    verifies)."""

    path: Path
    state: RunState
    problem: str | None = None
    repairable: bool = False  # the problem is a last line torn by a crash: a resume repairs it


_last: tuple[Path, dict[str, tuple[index.Key, RunSummary]]] | None = None  # the last listing


def list_runs(runs_dir: Path) -> list[RunSummary]:
    """Every run under ``runs_dir``, newest first (an unreadable one first of all); only those
    whose journal changed since the last listing of the same directory are read again."""
    global _last
    last = _last
    kept = index.refresh(runs_dir, last[1] if last and last[0] == runs_dir else {}, _summary)
    _last = (runs_dir, kept)
    found = [summary for _, summary in kept.values()]
    found.sort(key=lambda r: r.state.started_at or utcnow(), reverse=True)
    return found


def _summary(run_dir: Path) -> RunSummary:
    try:
        snap = index.Snapshot.read(run_dir)
    except OSError as exc:
        return RunSummary(run_dir, RunState(), f"its journal cannot be read: {exc.strerror}")
    check = snap.verify()
    _, state = snap.replay()
    problem = None if check.ok else f"journal {check.describe()}"
    return RunSummary(run_dir, state, problem, repairable=check.torn_tail is not None)
