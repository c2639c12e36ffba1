"""The drill sandbox's fault log: where it lies and how it reads.

A sandbox keeps its injected faults in ``DIR/faults.jsonl`` (``drconsole.sandbox.faults`` writes
it): one JSON object a line, ``{"at", "action": "inject"|"heal", "fault", "site", "who",
"done"}``, UTC times. A run finds it through the targets file it ran with: a sandbox's targets
file lies beside its ``faults.jsonl`` and its ``sandbox.json``.

The log belongs to the sandbox, which a later drill resets or destroys; so the engine copies the
entries that concern a run into the run's own journal when the run ends or is interrupted
(``faults_recorded``), and the run's report reads them from there (``report/injections.py``).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from drconsole.timeutil import parse_timestamp

LOG = "faults.jsonl"


def sandbox_of(targets_file: str | Path | None) -> Path | None:
    """The sandbox whose targets file a run used (None: not a sandbox's)."""
    if not targets_file:
        return None
    folder = Path(targets_file).parent
    return folder if (folder / "sandbox.json").exists() else None


def log_for(targets_file: str | Path | None) -> Path | None:
    """The fault log of the sandbox whose targets file a run used (None: not a sandbox)."""
    folder = sandbox_of(targets_file)
    return folder / LOG if folder is not None else None


def read_log(path: Path) -> list[dict[str, Any]]:
    """The log's entries in order, each with ``_at`` (its time, parsed); a line that does not
    read (one being written) is skipped."""
    try:
        text = path.read_text("utf-8")
    except OSError:
        return []
    return parse(text.splitlines())


def parse(lines: list[str] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries from JSON lines (or from already decoded entries, as a journal holds them), each
    with ``_at``; one that does not read is skipped."""
    entries = []
    for line in lines:
        try:
            entry = dict(json.loads(line) if isinstance(line, str) else line)
            entry["_at"] = parse_timestamp(entry["at"])
        except (ValueError, KeyError, TypeError):
            continue
        entries.append(entry)
    return entries


def concerning(
    entries: list[dict[str, Any]], start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """The entries that bear on a run from ``start`` to ``end``: every entry within the span, and
    an injection made before it that was not healed before it began (still in force). Returned
    without ``_at``, as they are journaled."""
    healed_before: dict[tuple[str, str], datetime] = {}
    for entry in entries:
        if entry.get("action") == "heal" and entry["_at"] < start:
            healed_before[(str(entry.get("fault")), str(entry.get("site")))] = entry["_at"]
    kept = []
    for entry in entries:
        at: datetime = entry["_at"]
        if at > end:
            continue
        if at < start:
            key = (str(entry.get("fault")), str(entry.get("site")))
            if entry.get("action") != "inject" or healed_before.get(key, at) > at:
                continue
        kept.append({k: v for k, v in entry.items() if k != "_at"})
    return kept
