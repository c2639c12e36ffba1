"""Run state rebuilt from journal events. Live runs and replays use the same ``apply``.

Event types (``data`` fields):
- ``run_started``: run_id, plan {id, title, kind, sha256, file}, mode, operator, inputs,
  incident_at, objectives {rto_s, rpo_s}, targets_file.
- ``run_resumed``: operator, interrupted (step ids found interrupted).
- ``step_started``: step, kind, attempt, params (resolved), description.
- ``attempt_failed``: step, attempt, error, transient, retry_in_s (null when no retry follows).
- ``question_asked``: step, question, who, about (optional: what a ceremony step did and
  read, asked with its initials) (a question put to people; it waits until the next answer,
  refusal, or the end of its step or of the run).
- ``operator_answer``: step, question, by, answer (never a secret).
- ``refused``: step, question, reason, by (an answer the engine refused, asked again or
  failed; or a guard's refusal, question ``guard``, by ``drconsole``).
- ``step_finished``: step, status, outputs, error, reason, attempts.
- ``milestone``: step, name, at, recovery_point.
- ``clock``: rto_s, rpo_s, rto_met, rpo_met, reason.
- ``run_interrupted``: reason.
- ``run_finished``: result, reason.
- ``journal_repaired``: dropped_bytes, dropped_sha256.
- ``faults_recorded``: entries (a drill sandbox's fault-log entries that bear on the run, copied
  when it ends or is interrupted: ``drconsole/faultlog.py``).

Ceremonies add:
- ``participants``: participants [{name, role, affiliation, initials, holds}].
- ``presence``: initials, present (false: left the room), reason, by.
- ``initials``: step, actor, witness (initials; the event's time is the step's time).
- ``exception``: number, step, expected, happened, decision, by.
- ``bag``: step, event (inspect, open, seal), label, bag_id, contents, intact, previous.
- ``attestation``: initials, name, agree, reason, statement (the words agreed to).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from drconsole.journal.journal import Event
from drconsole.people import name_key
from drconsole.timeutil import parse_timestamp


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    MARKED_DONE = "marked_done"
    CANCELLED = "cancelled"
    SIMULATED = "simulated"


_STATUS = {status.value: status for status in StepStatus}
INCIDENT_MILESTONE = "incident"  # marks when the incident began, unless incident_at was given
DONE_OK = {StepStatus.SUCCEEDED, StepStatus.MARKED_DONE, StepStatus.SIMULATED, StepStatus.SKIPPED}
FINISHED = DONE_OK | {StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED}


class RunResult(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABORTED = "aborted"


@dataclass
class StepState:
    """What happened to one step."""

    id: str
    status: StepStatus = StepStatus.PENDING
    kind: str = ""  # the step's kind (action, check, manual, milestone, ...) once it started
    started_at: datetime | None = None
    ended_at: datetime | None = None
    attempts: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    reason: str | None = None
    answers: list[dict[str, Any]] = field(default_factory=list)
    initials: dict[str, Any] | None = None

    @property
    def duration_s(self) -> float | None:
        if self.started_at and self.ended_at:
            return (self.ended_at - self.started_at).total_seconds()
        return None


@dataclass
class RunState:
    """What happened in one run, as far as the journal tells."""

    run_id: str = ""
    plan: dict[str, Any] = field(default_factory=dict)
    mode: str = ""
    operator: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    incident_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    objectives: dict[str, float | None] = field(default_factory=dict)
    targets_file: str | None = None
    steps: dict[str, StepState] = field(default_factory=dict)
    milestones: dict[str, datetime] = field(default_factory=dict)
    recovery_point: datetime | None = None
    result: RunResult | None = None
    result_reason: str | None = None
    interruptions: int = 0
    resumes: int = 0
    resumed_by: list[str] = field(default_factory=list)  # who resumed it, in order
    events: int = 0
    last_hash: str = ""
    last_ts: datetime | None = None
    participants: list[dict[str, Any]] = field(default_factory=list)
    absent: set[str] = field(default_factory=set)
    presence: list[dict[str, Any]] = field(default_factory=list)
    exceptions: list[dict[str, Any]] = field(default_factory=list)
    bags: list[dict[str, Any]] = field(default_factory=list)
    attestations: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[dict[str, Any]] = field(default_factory=list)  # answers refused, and why
    faults: list[dict[str, Any]] = field(default_factory=list)  # the sandbox's fault-log
    # entries recorded in the journal (``faults_recorded``; see ``drconsole/faultlog.py``)
    faults_recorded: bool = False  # the journal says what was injected (perhaps nothing)
    asking: dict[str, Any] | None = None  # the question waiting for an answer: step, question,
    # who, at (one at a time: the engine asks one question at a time)

    @property
    def finished(self) -> bool:
        return self.result is not None

    def who(self, driving: str | None = None) -> str:
        """Who drives the run as a title names it: the one ``driving`` now (else whoever last
        resumed it, else who started it), and who started it when that was someone else."""
        now = driving or (self.resumed_by[-1] if self.resumed_by else self.operator)
        return f"operator {now}" + (
            f" (started by {self.operator})" if now != self.operator else ""
        )

    def step(self, step_id: str) -> StepState:
        if step_id not in self.steps:
            self.steps[step_id] = StepState(step_id)
        return self.steps[step_id]

    def interrupted_steps(self) -> list[str]:
        """Steps with a start and no end: the process stopped while they ran."""
        return [s.id for s in self.steps.values() if s.status is StepStatus.RUNNING]


def apply(state: RunState, event: Event) -> None:
    """Fold one event into ``state``."""
    data = event.data
    at = parse_timestamp(event.ts)
    state.events = event.seq
    state.last_hash = event.hash
    state.last_ts = at
    kind = event.type
    if state.asking is not None and _answers(state.asking, kind, data):
        state.asking = None
    if kind == "run_started":
        state.run_id = data["run_id"]
        state.plan = data["plan"]
        state.mode = data["mode"]
        state.operator = data["operator"]
        state.inputs = data.get("inputs", {})
        state.incident_at = parse_timestamp(data["incident_at"])
        state.started_at = at
        state.objectives = data.get("objectives", {})
        state.targets_file = data.get("targets_file")
        for step_id in data.get("steps", []):
            state.step(step_id)
    elif kind == "run_resumed":
        state.resumes += 1
        state.resumed_by.append(str(data.get("operator") or "?"))
    elif kind == "step_started":
        step = state.step(data["step"])
        step.status = StepStatus.RUNNING
        step.started_at = step.started_at or at
        step.ended_at = None
        step.attempts = max(step.attempts, int(data.get("attempt", 1)))
        step.params = data.get("params", {})
        step.description = data.get("description", "")
        step.kind = data.get("kind", step.kind)
    elif kind == "attempt_failed":
        step = state.step(data["step"])
        step.failures.append(data)
        step.attempts = max(step.attempts, int(data.get("attempt", 1)))
    elif kind == "question_asked":
        state.asking = {**data, "at": event.ts}
    elif kind == "operator_answer":
        state.step(data["step"]).answers.append(data)
    elif kind == "refused":
        state.refusals.append({**data, "at": event.ts})
    elif kind == "step_finished":
        step = state.step(data["step"])
        step.status = _STATUS[data["status"]]
        step.ended_at = at
        step.started_at = step.started_at or at
        step.outputs = data.get("outputs") or {}
        step.error = data.get("error")
        step.reason = data.get("reason")
        step.attempts = max(step.attempts, int(data.get("attempts", step.attempts)))
    elif kind == "milestone":
        state.milestones[data["name"]] = parse_timestamp(data["at"])
        if data["name"] == INCIDENT_MILESTONE and not state.inputs.get("incident_at"):
            state.incident_at = state.milestones[data["name"]]  # a drill's simulated failure
        if data.get("recovery_point"):
            state.recovery_point = parse_timestamp(data["recovery_point"])
    elif kind == "run_interrupted":
        state.interruptions += 1
    elif kind == "participants":
        state.participants = list(data["participants"])
    elif kind == "presence":
        key = name_key(str(data["initials"]))
        if data["present"]:
            state.absent.discard(key)
        else:
            state.absent.add(key)
        state.presence.append({**data, "at": event.ts})
    elif kind == "initials":
        state.step(data["step"]).initials = {
            "actor": data["actor"],
            "witness": data["witness"],
            "at": event.ts,
        }
    elif kind == "exception":
        state.exceptions.append({**data, "at": event.ts})
    elif kind == "bag":
        state.bags.append({**data, "at": event.ts})
    elif kind == "faults_recorded":
        state.faults.extend(data["entries"])
        state.faults_recorded = True
    elif kind == "attestation":
        state.attestations.append({**data, "at": event.ts})
    elif kind == "run_finished":
        state.result = RunResult(data["result"])
        state.result_reason = data.get("reason")
        state.ended_at = at


_RUN_ENDS = {"run_interrupted", "run_finished", "run_resumed", "participants", "attestation"}
_STEP_ENDS = {"operator_answer", "refused", "initials", "exception", "step_finished"}


def _answers(asking: dict[str, Any], kind: str, data: dict[str, Any]) -> bool:
    """Whether an event ends the wait for the pending question: its answer or refusal, the end
    of its step or of the run (sign-in and attestations are answered by their own events)."""
    if kind in _RUN_ENDS:
        return True
    return kind in _STEP_ENDS and data.get("step") == asking["step"]


def replay(events: Iterable[Event]) -> RunState:
    """The state a sequence of events describes."""
    state = RunState()
    for event in events:
        apply(state, event)
    return state
