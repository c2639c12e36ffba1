"""The history index: one summary per run directory, kept so that a thousand runs list in well
under a second, and never stale.

Each summary is kept with the key of the journal it was read from (:mod:`drconsole.runs.index`:
the journal's size, inode, modification and change times and ``journal.head``). A run whose
key differs, or that is new, is read again: its journal verified and replayed, its summary
rebuilt. The index is a cache in the operator's own cache directory
(``$XDG_CACHE_HOME/drconsole/history/``, one file per runs directory), never in the runs
directory that an auditor receives; deleting it only costs time. A cache that cannot be written
(a read-only home) is simply not kept.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from drconsole.journal.files import write_private
from drconsole.report.build import build
from drconsole.runs.index import Key, refresh
from drconsole.runs.read import ReadRun, read_run
from drconsole.timeutil import format_timestamp

VERSION = 3  # 2: each run's injected faults; 3: [key, summary] per run


def cache_file(runs_dir: Path) -> Path:
    """Where the index of ``runs_dir`` is kept."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    digest = hashlib.sha256(str(runs_dir.resolve()).encode()).hexdigest()[:24]
    return Path(base) / "drconsole" / "history" / f"{digest}.json"


def summarise(run_dir: Path) -> dict[str, Any]:
    """One run as the history lists it (its journal read, verified and replayed)."""
    run = read_run(run_dir)
    return summary(run, build(run))


def summary(run: ReadRun, report: dict[str, Any]) -> dict[str, Any]:
    """One run as the history lists it, from the run read and its report built already."""
    run_dir = run.run_dir
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


def load(
    runs_dir: Path, *, keep: bool = True, known: tuple[ReadRun, dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Every run under ``runs_dir``, oldest first: summaries from the index where the journal
    is unchanged, read again where it changed or is new (unreadable ones, for permissions or
    not UTF-8, are left out). ``keep``: save the index back. ``known``: a run of ``runs_dir``
    read already and its report, summarised from those while its journal's key stands."""
    cached = _read(cache_file(runs_dir))
    kept = dict(cached)
    if known is not None and (given := known[0].key) is not None:
        kept[known[0].run_dir.name] = (given, summary(*known))
    fresh = refresh(runs_dir, kept, summarise)
    if keep and fresh != cached:
        _write(cache_file(runs_dir), fresh)
    return sorted((run for _, run in fresh.values()), key=lambda r: (r["started_at"], r["name"]))


def _read(path: Path) -> dict[str, tuple[Key, dict[str, Any]]]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return {}
    runs = data.get("runs")
    if not isinstance(runs, dict):
        return {}
    return {
        name: (entry[0], entry[1])
        for name, entry in runs.items()
        if isinstance(entry, list) and len(entry) == 2
    }


def _write(path: Path, runs: dict[str, tuple[Key, dict[str, Any]]]) -> None:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private(path, json.dumps({"version": VERSION, "runs": runs}, ensure_ascii=False))
    except OSError:
        pass  # a cache we cannot keep costs time, not truth
