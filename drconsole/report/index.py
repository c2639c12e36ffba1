"""The history index: one summary per run directory, kept so that a thousand runs list in well
under a second, and never stale.

Each summary is kept with the key of the journal it was read from: the journal's size, inode,
modification and change times (the change time cannot be set back by hand) and the text of
``journal.head`` (its last sequence number and hash). A run whose key differs, or that is new,
is read again: its journal verified and replayed, its summary rebuilt. The index is a cache in
the operator's own cache directory (``$XDG_CACHE_HOME/drconsole/history/``, one file per runs
directory), never in the runs directory that an auditor receives; deleting it only costs time.
A cache that cannot be written (a read-only home) is simply not kept.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from drconsole.journal.files import write_private
from drconsole.journal.journal import HEAD, JOURNAL
from drconsole.report.build import build
from drconsole.runs.read import read_run
from drconsole.timeutil import format_timestamp

VERSION = 2  # 2: each run's injected faults


def cache_file(runs_dir: Path) -> Path:
    """Where the index of ``runs_dir`` is kept."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    digest = hashlib.sha256(str(runs_dir.resolve()).encode()).hexdigest()[:24]
    return Path(base) / "drconsole" / "history" / f"{digest}.json"


def key(run_dir: Path) -> list[Any] | None:
    """What must be unchanged for a summary to stand; None when there is no journal."""
    try:
        st = os.stat(run_dir / JOURNAL)
    except OSError:
        return None
    try:
        head = (run_dir / HEAD).read_bytes().strip().decode("utf-8", "replace")
    except OSError:
        head = ""
    return [st.st_size, st.st_ino, st.st_mtime_ns, st.st_ctime_ns, head]


def summarise(run_dir: Path) -> dict[str, Any]:
    """One run as the history lists it (from its journal, verified)."""
    run = read_run(run_dir)
    report = build(run)
    plan, rto, rpo, journal = report["plan"], report["rto"], report["rpo"], report["journal"]
    state = run.state
    end = state.ended_at or state.last_ts
    return {
        "name": run_dir.name,
        "run_dir": str(run_dir),
        "run_id": report["run_id"],
        "plan": plan.get("id"),
        "title": plan.get("title"),
        "kind": plan.get("kind"),
        "mode": report["mode"],
        "operator": report["operator"],
        "result": report["result"],
        "result_reason": report["result_reason"],
        "started_at": report["started_at"],
        "ended_at": report["ended_at"],
        "last_event_at": format_timestamp(end),
        "duration_s": round((end - state.started_at).total_seconds(), 3)
        if end and state.started_at
        else None,
        "rto": {k: rto[k] for k in ("achieved_s", "objective_s", "status")},
        "rpo": {k: rpo[k] for k in ("achieved_s", "objective_s", "status")},
        "steps": len(report["steps"]),
        "steps_failed": sum(s["status"] == "failed" for s in report["steps"]),
        "deviations": len(report["deviations"]),
        "injections": [
            {k: i[k] for k in ("fault", "site", "injected_at", "notice_s", "recover_s")}
            for i in report.get("injections") or []
        ],
        "journal": {k: journal[k] for k in ("events", "final_hash", "intact", "problem")},
    }


def load(runs_dir: Path, *, keep: bool = True) -> list[dict[str, Any]]:
    """Every run under ``runs_dir``, oldest first: summaries from the index where the journal
    is unchanged, read again where it changed or is new. ``keep``: save the index back."""
    if not runs_dir.is_dir():
        return []
    path = cache_file(runs_dir)
    cached = _read(path)
    fresh: dict[str, Any] = {}
    changed = False
    for child in runs_dir.iterdir():
        now = key(child)
        if now is None:
            continue
        entry = cached.get(child.name)
        if entry is None or entry.get("key") != now:
            try:
                entry = {"key": now, "run": summarise(child)}
            except (OSError, UnicodeDecodeError):
                continue  # unreadable (permissions, not UTF-8): not a run we can list
            changed = True
        fresh[child.name] = entry
    if keep and (changed or fresh.keys() != cached.keys()):
        _write(path, fresh)
    return sorted((e["run"] for e in fresh.values()), key=lambda r: (r["started_at"], r["name"]))


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return {}
    runs = data.get("runs")
    return runs if isinstance(runs, dict) else {}


def _write(path: Path, runs: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private(path, json.dumps({"version": VERSION, "runs": runs}, ensure_ascii=False))
    except OSError:
        pass  # a cache we cannot keep costs time, not truth
