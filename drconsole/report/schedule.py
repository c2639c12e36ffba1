"""The guide's schedule of drills and checks, and what is overdue by it.

The QSIGN guide asks for a full DR drill every quarter, a database recovery test every month, a
backup verification every week and an automatic backup check every day (and the HSM backup to
be test-restored every quarter). Each duty is met by a run of its shipped plan (matched by plan
id) that succeeded, was not a dry run, and whose journal verifies. A duty is due one interval
after the last such run, and overdue once a short grace has passed too (a daily check that ran
at 06:00:40 yesterday is not late at 06:00:41 today).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from drconsole.timeutil import format_duration, format_timestamp, parse_timestamp


@dataclass(frozen=True)
class Duty:
    plan: str
    what: str
    every: timedelta
    grace: timedelta


DAY = timedelta(days=1)
SCHEDULE = (
    Duty("quarterly-full-dr-drill", "quarterly full DR drill", 92 * DAY, 7 * DAY),
    Duty("hsm-quarterly-test-restore", "quarterly HSM test restore", 92 * DAY, 7 * DAY),
    Duty("monthly-db-recovery-test", "monthly database recovery test", 31 * DAY, 3 * DAY),
    Duty("weekly-backup-verification", "weekly backup verification", 7 * DAY, DAY),
    Duty("daily-backup-check", "daily backup check", DAY, timedelta(hours=2)),
)


def counts(run: dict[str, Any]) -> bool:
    """Whether a run (an index summary) meets its plan's duty."""
    return bool(
        run["result"] == "succeeded" and run["mode"] != "dry-run" and run["journal"]["intact"]
    )


def duties(runs: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Each duty with its last qualifying run, when it is due, and its state in words:
    ``overdue`` (by how long), ``due`` (within the grace), ``ok`` or ``never done``."""
    found = []
    for duty in SCHEDULE:
        done = [r for r in runs if r["plan"] == duty.plan and counts(r)]
        last = max(done, key=lambda r: r["last_event_at"]) if done else None
        entry: dict[str, Any] = {
            "plan": duty.plan,
            "what": duty.what,
            "every_s": duty.every.total_seconds(),
            "last_success": last["last_event_at"] if last else None,
            "last_run_dir": last["run_dir"] if last else None,
        }
        if last is None:
            entry.update(due_at=None, state="never done", says=f"{duty.what}: never done")
        else:
            due = parse_timestamp(last["last_event_at"]) + duty.every
            entry["due_at"] = format_timestamp(due)
            if now > due + duty.grace:
                entry["state"] = "overdue"
                entry["says"] = f"{duty.what}: OVERDUE by {format_duration(now - due)}"
            elif now > due:
                entry["state"] = "due"
                entry["says"] = f"{duty.what}: due now (was due {format_duration(now - due)} ago)"
            else:
                entry["state"] = "ok"
                entry["says"] = f"{duty.what}: ok, next due in {format_duration(due - now)}"
        found.append(entry)
    return found
