"""A drill facilitator's injected faults beside a run: the sandbox's fault log read for the run's
time span, and for each injection the time the run took to notice it and to recover.

The log is the sandbox's (``drconsole/faultlog.py``). A run that ended or was interrupted holds
the entries that bear on it in its own journal (``faults_recorded``), and those are what its
report reads, whatever became of the sandbox since; only a run still being driven (or killed
before it could record them) is read against the sandbox's live log.

*Noticed*: the first event after the injection (and before its heal) that fails or refuses and
names it: an ``attempt_failed``, a failed ``step_finished`` or a ``refused`` whose text holds
one of the fault's clues, or which comes from a step whose action is one of the fault's
(``CLUES``). *Recovered*: that step later succeeded, or the fault was healed, whichever came
first. A run that never noticed an injection recovers from it only by its heal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from drconsole.faultlog import log_for, parse, read_log
from drconsole.journal.journal import Event
from drconsole.plans.model import Plan
from drconsole.plans.refs import Ref, RefError, resolve
from drconsole.timeutil import format_duration, format_timestamp, parse_timestamp

# fault -> (action prefixes whose failures name it, words in an error or refusal that name it)
CLUES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "crashloop": (("k8s.",), ("crashloopbackoff", "not ready", "ready pods")),
    "seal-vault": (("vault.",), ("sealed",)),
    "lag-standby": (("postgres.replication",), ("lag", "replay", "past the rpo")),
    "s3-errors": (("s3.",), ("503", "serviceunavailable", "slowdown", "slow down")),
    "corrupt-backup": ((), ("checksum", "does not match")),
    "stale-backup": ((), ("no backups under", "h old", "newest backup")),
    "dns-drift": (("dns.",), ("api.qsign.example", "cname", "points at", "points to")),
}
FAULTS = tuple(CLUES)
_FAILING = {"attempt_failed", "refused"}
# fault -> (action prefix, output, value): a check that succeeds and reports the fault still
# notices it (vault.status reading sealed: true); the same output reading otherwise later, from
# an action of that prefix, is the recovery (the unseal plan's last status check)
SEEN: dict[str, tuple[str, str, object]] = {
    "seal-vault": ("vault.", "sealed", True),
    "lag-standby": ("postgres.replication", "past_rpo", True),
}


@dataclass
class Injection:
    """One injection and what the run made of it (times are UTC; seconds from the injection)."""

    fault: str
    site: str
    injected_at: datetime
    who: str
    healed_at: datetime | None = None
    noticed_at: datetime | None = None
    noticed_by: str | None = None  # the step that noticed
    noticed_how: str | None = None  # its error or refusal
    recovered_at: datetime | None = None
    recovered_how: str | None = None  # "step succeeded" or "healed"

    @property
    def notice_s(self) -> float | None:
        return _seconds(self.injected_at, self.noticed_at)

    @property
    def recover_s(self) -> float | None:
        return _seconds(self.injected_at, self.recovered_at)

    def as_dict(self) -> dict[str, Any]:
        return {
            "fault": self.fault,
            "site": self.site,
            "injected_at": format_timestamp(self.injected_at),
            "who": self.who,
            "healed_at": format_timestamp(self.healed_at) if self.healed_at else None,
            "noticed_at": format_timestamp(self.noticed_at) if self.noticed_at else None,
            "noticed_by": self.noticed_by,
            "noticed_how": self.noticed_how,
            "notice_s": self.notice_s,
            "recovered_at": format_timestamp(self.recovered_at) if self.recovered_at else None,
            "recovered_how": self.recovered_how,
            "recover_s": self.recover_s,
        }


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return round((end - start).total_seconds(), 1) if end is not None else None


def pair(
    entries: Iterable[dict[str, Any]], start: datetime | None, end: datetime | None
) -> list[Injection]:
    """Each injection with its heal, those overlapping [start, end] (either may be None)."""
    found: list[Injection] = []
    open_: dict[tuple[str, str], Injection] = {}
    for entry in entries:
        key = (str(entry.get("fault")), str(entry.get("site")))
        if entry.get("action") == "inject":
            who = entry.get("who") or {}
            name = f"{who.get('operator', '?')}@{who.get('host', '?')}"
            open_[key] = Injection(key[0], key[1], entry["_at"], name)
            found.append(open_[key])
        elif entry.get("action") == "heal" and key in open_:
            open_.pop(key).healed_at = entry["_at"]
    return [
        i
        for i in found
        if (end is None or i.injected_at <= end)
        and (start is None or i.healed_at is None or i.healed_at >= start)
    ]


def _text(event: Event) -> str:
    d = event.data
    return " ".join(str(d.get(k) or "") for k in ("error", "reason", "question")).lower()


def _failing(event: Event) -> bool:
    if event.type in _FAILING:
        return True
    return event.type == "step_finished" and event.data.get("status") == "failed"


def _seen(fault: str, event: Event, action: str) -> bool | None:
    """What a finished step's outputs say of the fault: True (it is there), False (it is not),
    None (they do not say)."""
    if fault not in SEEN or event.type != "step_finished":
        return None
    prefix, output, value = SEEN[fault]
    outputs = event.data.get("outputs") or {}
    if not action.startswith(prefix) or output not in outputs:
        return None
    return bool(outputs[output] == value)


def measure(
    injection: Injection,
    events: Iterable[Event],
    actions: dict[str, str],
    sites: dict[str, str] | None = None,
) -> None:
    """Fill in when the run noticed the injection and recovered (``actions``: step -> its
    action or check name, from the plan; ``sites``: step -> its site, where known: what a step
    on another site reads says nothing of this injection)."""
    prefixes, words = CLUES.get(injection.fault, ((), ()))
    sites = sites or {}

    def seen(event: Event, step: str) -> bool | None:
        if sites.get(step, injection.site) != injection.site:
            return None
        return _seen(injection.fault, event, actions.get(step, ""))

    overridden = False  # the noticing step's guard was overridden: going ahead is no recovery
    for event in events:
        at = parse_timestamp(event.ts)
        if at < injection.injected_at:
            continue
        step = str(event.data.get("step") or "")
        if injection.noticed_at is None:
            if injection.healed_at is not None and at > injection.healed_at:
                break
            if _failing(event) and (
                any(w in _text(event) for w in words)
                or any(actions.get(step, "").startswith(p) for p in prefixes)
            ):
                injection.noticed_at, injection.noticed_by = at, step
                injection.noticed_how = str(
                    event.data.get("error") or event.data.get("reason") or ""
                )[:200]
            elif seen(event, step):
                _, output, value = SEEN[injection.fault]
                injection.noticed_at, injection.noticed_by = at, step
                injection.noticed_how = f"{output}: {value} ({actions.get(step)})"
        elif seen(event, step) is False:
            _, output, value = SEEN[injection.fault]
            injection.recovered_at = at
            injection.recovered_how = f"{step} no longer reads {output}: {value}"
            break
        elif step != injection.noticed_by:
            continue
        elif event.type == "operator_answer" and event.data.get("question") == "guard override":
            overridden = True
        elif event.type == "step_finished" and event.data.get("status") in (
            "succeeded",
            "marked_done",
        ):
            if overridden:
                injection.recovered_how = "went ahead by a guard override, the fault in force"
            else:
                injection.recovered_at, injection.recovered_how = at, "step succeeded"
            break
    if injection.healed_at is not None and (
        injection.recovered_at is None or injection.healed_at < injection.recovered_at
    ):
        injection.recovered_at, injection.recovered_how = injection.healed_at, "healed"


def actions(plan: Plan | None) -> dict[str, str]:
    """Each step's action or check name (what ``measure`` matches a fault's prefixes with)."""
    return {s.id: s.action or s.check or "" for s in plan.steps} if plan else {}


def step_sites(plan: Plan | None, inputs: dict[str, Any]) -> dict[str, str]:
    """Each step's site as the run knew it (a reference to an input resolved from the run's
    inputs; one that refers to anything else is left out: unknown)."""

    def lookup(ref: Ref) -> Any:
        if ref.root != "inputs" or ref.parts[0] not in inputs:
            raise RefError(f"{ref.text}: not known to the report")
        return inputs[ref.parts[0]]

    found: dict[str, str] = {}
    for step in plan.steps if plan else []:
        try:
            site = resolve(step.site, lookup)
        except RefError:
            continue
        if isinstance(site, str):
            found[step.id] = site
    return found


def for_run(events: list[Event], plan: Plan | None, log: Path | None = None) -> list[Injection]:
    """The injections during a run (its events, first ``run_started``), measured."""
    if not events or events[0].type != "run_started":
        return []
    sites = step_sites(plan, events[0].data.get("inputs") or {})
    # as the engine records them: only faults on sites the plan's steps act on
    entries = [e for e in _entries(events, log) if not sites or e.get("site") in sites.values()]
    start = parse_timestamp(events[0].ts)
    finished = [e for e in events if e.type == "run_finished"]
    end = parse_timestamp(finished[-1].ts) if finished else None
    found = pair(entries, start, end)
    for injection in found:
        measure(injection, events, actions(plan), sites)
    return found


def _entries(events: list[Event], log: Path | None) -> list[dict[str, Any]]:
    """The fault-log entries for a run: those its journal recorded when it stopped; while it is
    being driven (or when it stopped before this was recorded), the sandbox's live log too."""
    records = [ev for ev in events if ev.type == "faults_recorded"]
    recorded = parse([e for ev in records for e in ev.data["entries"]])
    if records and events[-1].type in ("run_finished", "run_interrupted"):
        return recorded  # the record, whatever became of the sandbox (perhaps nothing)
    log = log or log_for(events[0].data.get("targets_file"))
    live = read_log(log) if log is not None else []
    seen = {(e["at"], e.get("action"), e.get("fault"), e.get("site")) for e in live}
    missing = [
        e for e in recorded if (e["at"], e.get("action"), e.get("fault"), e.get("site")) not in seen
    ]
    return sorted([*missing, *live], key=lambda e: e["_at"])


def describe(seconds: float | None, pending: str = "not yet") -> str:
    """A clock as a person reads it."""
    return pending if seconds is None else format_duration(seconds)


def to_markdown(found: list[dict[str, Any]]) -> list[str]:
    """The report's section (from ``Injection.as_dict``); nothing when there were none."""
    if not found:
        return []
    lines = [
        "## Injected faults (drill facilitator)",
        "",
        "| fault | site | injected (UTC) | by | noticed by | time to notice | time to recover |",
        "|---|---|---|---|---|---|---|",
    ]
    for i in found:
        recovered = describe(i["recover_s"], "not recovered")
        if i["recovered_how"]:
            recovered += f" ({i['recovered_how']})"
        lines.append(
            f"| {i['fault']} | {i['site']} | {i['injected_at'][11:19]} | {i['who']} | "
            f"{i['noticed_by'] or '-'} | {describe(i['notice_s'], 'not noticed')} | {recovered} |"
        )
    return [*lines, ""]
