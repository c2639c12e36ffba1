"""RTO and RPO, measured from the run state against the plan's objectives.

RTO runs from the incident time (an input; the run's start by default) to the
``service_restored`` milestone. RPO is the distance from the recovery point actually reached
(reported by the step that restored data) back to the incident time; an RPO left unmeasured
always carries the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from drconsole.engine.state import FINISHED, RunState

SERVICE_RESTORED = "service_restored"
DATA_RECOVERED = "data_recovered"


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
        rto_status = "stopped"
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
    needs: dict[str, list[str]], estimates: dict[str, timedelta], state: RunState
) -> timedelta:
    """The longest chain of estimates among steps not yet finished (ignoring parallel slack)."""
    memo: dict[str, timedelta] = {}

    def longest(step_id: str) -> timedelta:
        if step_id in memo:
            return memo[step_id]
        memo[step_id] = timedelta(0)
        status = state.steps.get(step_id)
        own = (
            timedelta(0)
            if status and status.status in FINISHED
            else estimates.get(step_id, timedelta(0))
        )
        before = max((longest(dep) for dep in needs.get(step_id, [])), default=timedelta(0))
        memo[step_id] = before + own
        return memo[step_id]

    return max((longest(step_id) for step_id in needs), default=timedelta(0))
