"""RTO and RPO, measured from the run state against the plan's objectives.

RTO runs from the incident time (an input; the run's start by default) to the
``service_restored`` milestone. RPO is the distance from the recovery point actually reached
(reported by the step that restored data) back to the incident time; an RPO left unmeasured
always carries the reason.

An incident's severity (the ``severity`` input, P1-P4 from the operations guide) adds two
clocks with that severity's targets: the response clock, from the incident to the first step
that does something (not a milestone or a wait), and the resolution clock, from the incident to
``service_restored``; and the notification cadence: who hears, and when the next update is due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from drconsole.runs.state import FINISHED, RunState, StepStatus
from drconsole.timeutil import format_duration

SERVICE_RESTORED = "service_restored"
DATA_RECOVERED = "data_recovered"
SEVERITY_INPUT = "severity"
NOT_ACTIONS = {"milestone", "wait"}  # step kinds that are not a response


@dataclass(frozen=True)
class Severity:
    """One incident severity from the operations guide: what it means, its response and
    resolution targets, who is told, when first and how often after (our reading of the
    guide's "immediate", "1 hour", "4 hours", "daily summary")."""

    name: str
    meaning: str
    respond: timedelta
    resolve: timedelta
    audience: str
    first_notice: timedelta
    update_every: timedelta

    def describe(self) -> str:
        """One line: the severity, its meaning and targets, and the notification cadence."""
        first = (
            "at once" if not self.first_notice else f"within {format_duration(self.first_notice)}"
        )
        return (
            f"{self.name} ({self.meaning}): respond within {format_duration(self.respond)}, "
            f"resolve within {format_duration(self.resolve)}; notify {self.audience} {first}, "
            f"then every {format_duration(self.update_every)}"
        )


_M, _H = timedelta(minutes=1), timedelta(hours=1)
# name, meaning, respond, resolve, who hears, first notice, then every
SEVERITIES = {
    row[0]: Severity(*row)
    for row in (
        ("P1", "full outage", 15 * _M, 4 * _H, "all stakeholders", 0 * _M, 15 * _M),
        ("P2", "major function failed", 30 * _M, 8 * _H, "the ops team and management", _H, _H),
        ("P3", "partly degraded", 2 * _H, 24 * _H, "the ops team", 4 * _H, 4 * _H),
        ("P4", "minor problem", 8 * _H, 168 * _H, "the daily summary", 24 * _H, 24 * _H),
    )
}


@dataclass(frozen=True)
class IncidentClocks:
    """The response and resolution clocks against a severity's targets, at one moment.

    ``response_status``: waiting (no action yet, within target) | overdue | met | missed.
    ``resolution_status``: running | overdue | met | missed | stopped (ended unresolved).
    ``next_update`` is None once the incident is resolved or the run has ended.
    """

    severity: Severity
    incident_at: datetime
    first_action: str | None
    first_action_at: datetime | None
    response: timedelta
    response_status: str
    resolution: timedelta
    resolution_status: str
    resolved_at: datetime | None
    next_update: datetime | None

    def summary(self) -> str:
        """One line for the console and the CLI (status words in capitals when late)."""
        s = self.severity

        def status(word: str) -> str:
            return word.upper() if word in ("missed", "overdue") else word

        first = f", first action {self.first_action}" if self.first_action else ""
        line = (
            f"{s.name} {s.meaning}: response {format_duration(self.response)} of "
            f"{format_duration(s.respond)}: {status(self.response_status)}{first}; "
            f"resolution {format_duration(self.resolution)} of {format_duration(s.resolve)}: "
            f"{status(self.resolution_status)}"
        )
        if self.next_update is not None:
            line += f"; next update to {s.audience} {self.next_update.strftime('%H:%M')}Z"
        return line

    def reminder(self) -> str:
        """The line that says an update is due now, and how often they are due."""
        s = self.severity
        return (
            f"NOTIFY    {s.name}: an update to {s.audience} is due now "
            f"(every {format_duration(s.update_every)} until service is restored)"
        )

    def announcement(self, last: datetime | None) -> str | None:
        """What the run screen's log and a headless run say now, given the update that was
        due when they last looked (``last``): the severity and its cadence the first time, the
        reminder when a new update has fallen due, else nothing."""
        if self.next_update is None:
            return None
        if last is None:
            return f"SEVERITY  {self.severity.describe()}"
        return self.reminder() if self.next_update > last else None


def severity_of(state: RunState) -> Severity | None:
    """The run's severity (its ``severity`` input), or None when it has none."""
    return SEVERITIES.get(str(state.inputs.get(SEVERITY_INPUT, "")).upper())


def incident(state: RunState, now: datetime, *, finishing: bool = False) -> IncidentClocks | None:
    """Response and resolution clocks for ``state`` at ``now``; None without a severity, an
    incident time, or in a dry run (which measures nothing)."""
    severity = severity_of(state)
    start = state.incident_at
    if severity is None or start is None or state.mode == "dry-run":
        return None
    finished = finishing or state.finished
    end = state.ended_at or now
    acted = sorted(
        (s.started_at, s.id)
        for s in state.steps.values()
        if s.started_at is not None and s.started_at >= start and s.kind not in NOT_ACTIONS
    )
    first_at, first = acted[0] if acted else (None, None)
    response = (first_at or end) - start
    response_status = _judge(first_at is not None, response, severity.respond, "waiting")
    resolved = state.milestones.get(SERVICE_RESTORED)
    resolution = (resolved or end) - start
    resolution_status = _judge(
        resolved is not None, resolution, severity.resolve, "stopped" if finished else "running"
    )
    next_update = None
    if resolved is None and not finished:
        due = start + severity.first_notice
        if now > due:
            due += severity.update_every * (1 + (now - due) // severity.update_every)
        next_update = due
    return IncidentClocks(
        severity, start, first, first_at, response, response_status, resolution,
        resolution_status, resolved, next_update,
    )  # fmt: skip


def _judge(reached: bool, took: timedelta, target: timedelta, otherwise: str) -> str:
    """met or missed once reached; before that OVERDUE past the target, else ``otherwise``."""
    if reached:
        return "met" if took <= target else "missed"
    return "overdue" if took > target else otherwise


@dataclass(frozen=True)
class Clocks:
    """The two clocks at one moment. Status words never rely on colour."""

    rto_elapsed: timedelta | None
    rto_objective: timedelta | None
    rto_status: str  # running | met | missed | over budget | stopped | not measured
    rto_left: timedelta | None
    projected_finish: datetime | None
    rpo_achieved: timedelta | None
    rpo_objective: timedelta | None
    rpo_status: str  # pending | met | missed | not measured
    rpo_reason: str | None = None  # why the RPO is not measured (never None then)

    def fields(self) -> dict[str, Any]:
        """The clocks as journaled (``clock`` and ``run_finished`` events)."""

        def seconds(value: timedelta | None) -> float | None:
            return round(value.total_seconds(), 3) if value is not None else None

        return {
            "rto_s": seconds(self.rto_elapsed),
            "rto_status": self.rto_status,
            "rpo_s": seconds(self.rpo_achieved),
            "rpo_status": self.rpo_status,
        }


def _objective(state: RunState, key: str) -> timedelta | None:
    value = state.objectives.get(key)
    return timedelta(seconds=value) if value is not None else None


def measure(
    state: RunState,
    now: datetime,
    remaining_estimate: timedelta | None = None,
    *,
    finishing: bool = False,
) -> Clocks:
    """Both clocks for ``state`` at ``now``.

    Args:
        state: the run so far.
        now: the current time (UTC).
        remaining_estimate: the estimated time left on the critical path, for the projection.
        finishing: the run ends at ``now`` (for the figures written with ``run_finished``).
    """
    rto_obj = _objective(state, "rto_s")
    rpo_obj = _objective(state, "rpo_s")
    restored = state.milestones.get(SERVICE_RESTORED)
    incident = state.incident_at
    if incident is None or state.mode == "dry-run":
        why = "a dry run measures nothing" if state.mode == "dry-run" else "no incident time"
        return Clocks(None, rto_obj, "not measured", None, None, None, rpo_obj, "not measured", why)
    finished = finishing or state.finished
    end = restored or state.ended_at or now
    elapsed = end - incident
    left = rto_obj - elapsed if rto_obj is not None else None
    if restored is not None:
        rto_status = "met" if rto_obj is None or elapsed <= rto_obj else "missed"
    elif finished:
        # the run ended without the milestone (a failback has none; a failure never got there)
        rto_status = "no service_restored"
    else:
        rto_status = "over budget" if left is not None and left < timedelta(0) else "running"
    projected = None
    if restored is None and not finished and remaining_estimate is not None:
        projected = now + remaining_estimate
    rpo = None
    rpo_status = "pending"
    rpo_reason = None
    if state.recovery_point is not None:
        rpo = max(incident - state.recovery_point, timedelta(0))
        rpo_status = "met" if rpo_obj is None or rpo <= rpo_obj else "missed"
    elif finished:
        rpo_status = "not measured"
        rpo_reason = (
            f"the {DATA_RECOVERED} milestone was reached without a recovery point: the step "
            "that recovered the data reported none (its outputs say why)"
            if DATA_RECOVERED in state.milestones
            else "no recovery point was reached: no milestone with a recovery_point finished"
        )
    return Clocks(
        elapsed, rto_obj, rto_status, left, projected, rpo, rpo_obj, rpo_status, rpo_reason
    )


def remaining_critical_path(
    needs: dict[str, list[str]], estimates: dict[str, timedelta], state: RunState, now: datetime
) -> tuple[timedelta, list[str]]:
    """The longest chain of estimated time left among steps not yet finished (ignoring parallel
    slack), and that chain's unfinished steps in order (its first is the one holding it up).

    A running step counts what is left of its estimate at ``now`` (nothing once past it, or
    without one), so the projected finish holds still while steps keep to their estimates and
    moves only when one runs over, has no estimate, or finishes early.
    """
    memo: dict[str, tuple[timedelta, list[str]]] = {}

    def longest(step_id: str) -> tuple[timedelta, list[str]]:
        if step_id in memo:
            return memo[step_id]
        memo[step_id] = (timedelta(0), [])
        before = max(
            (longest(dep) for dep in needs.get(step_id, [])),
            key=_length,
            default=(timedelta(0), []),
        )
        record = state.steps.get(step_id)
        if record is not None and record.status in FINISHED:
            memo[step_id] = before
            return before
        own = estimates.get(step_id, timedelta(0))
        if record is not None and record.status is StepStatus.RUNNING and record.started_at:
            own = max(own - (now - record.started_at), timedelta(0))
        memo[step_id] = (before[0] + own, [*before[1], step_id])
        return memo[step_id]

    return max((longest(step_id) for step_id in needs), key=_length, default=(timedelta(0), []))


def _length(chain: tuple[timedelta, list[str]]) -> tuple[timedelta, int]:
    """How long a chain takes; of two as long, the one with more steps left (a step past its
    estimate counts nothing, yet it is what the chain waits for)."""
    return chain[0], len(chain[1])
