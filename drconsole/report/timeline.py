"""Where the time went: a run's steps on one time axis, read from its journal.

Each step that started is a bar from its first start to its end (the last event when it never
ended). A bar carries its failed attempts (retries) and its waits for people: a wait runs from
the step's previous event to the answer, refusal or initials that ended it; that previous event
is the ``question_asked`` the engine journals when it puts the question (older journals have
none: the step's start, a failed attempt or an earlier answer stands for it). Time in systems
is the rest of the step. Totals are wall-clock time (unions of intervals), so parallel steps
are not counted twice. The critical path runs back from the step that reached
``service_restored`` (else the step that ended last) through, at each step, the need that
finished last (by the plan copy's ``needs``; by time alone when the plan copy is missing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from drconsole.engine import clocks
from drconsole.report.injections import Injection, describe, for_run
from drconsole.runs.read import ReadRun
from drconsole.timeutil import parse_timestamp

PEOPLE_EVENTS = ("operator_answer", "refused", "initials")  # each ends a wait for a person


@dataclass(frozen=True)
class Span:
    """An interval in seconds from the timeline's origin."""

    start: float
    end: float


@dataclass
class Bar:
    """One step that ran."""

    step: str
    name: str
    status: str
    start: float
    end: float
    attempts: int = 1
    retries: list[tuple[float, str]] = field(default_factory=list)  # (when, the error)
    waits: list[Span] = field(default_factory=list)  # waiting for people
    critical: bool = False

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def people_s(self) -> float:
        return union_length(self.waits)

    @property
    def systems_s(self) -> float:
        return max(self.duration - self.people_s, 0.0)


@dataclass
class Timeline:
    """Every bar, the milestones and the RTO deadline, in seconds from ``origin``."""

    origin: datetime
    end: float
    bars: list[Bar]
    milestones: list[tuple[str, float]]
    incident: float | None  # negative when the incident began before the run
    rto_deadline: float | None  # the incident plus the RTO objective
    not_run: list[str]  # steps that never started (skipped, not reached)
    injections: list[tuple[str, float]] = field(default_factory=list)  # a facilitator's faults

    @property
    def critical(self) -> list[Bar]:
        return [b for b in self.bars if b.critical]

    @property
    def people_s(self) -> float:
        """Wall-clock time during which some step waited for a person."""
        return union_length([w for b in self.bars for w in b.waits])

    @property
    def systems_s(self) -> float:
        """Wall-clock time during which steps ran and none waited for a person."""
        busy = union_length([Span(b.start, b.end) for b in self.bars])
        return max(busy - self.people_s, 0.0)

    @property
    def idle_s(self) -> float:
        """Time in the run when no step ran (interruptions, the engine between steps)."""
        return max(self.end - union_length([Span(b.start, b.end) for b in self.bars]), 0.0)


def union_length(spans: list[Span]) -> float:
    """The length of the union of ``spans`` (overlaps counted once)."""
    total, reach = 0.0, float("-inf")
    for span in sorted(spans, key=lambda s: s.start):
        start = max(span.start, reach)
        if span.end > start:
            total += span.end - start
            reach = span.end
    return total


def timeline(run: ReadRun) -> Timeline:
    """The timeline of a run read by :func:`drconsole.runs.read.read_run`."""
    state = run.state
    origin = state.started_at or (parse_timestamp(run.events[0].ts) if run.events else None)
    if origin is None:
        return Timeline(
            datetime.min.replace(tzinfo=UTC), 0.0, [], [], None, None, list(state.steps)
        )
    last = state.ended_at or state.last_ts or origin

    def at(ts: str | datetime) -> float:
        return (parse_timestamp(ts) - origin).total_seconds()

    bars: dict[str, Bar] = {}
    mark: dict[str, float] = {}  # each step's previous event: where a wait for a person starts
    restored_by: str | None = None
    for event in run.events:
        step_id = event.data.get("step")
        if not isinstance(step_id, str):
            continue
        now = at(event.ts)
        if event.type == "step_started":
            status = state.steps[step_id].status.value if step_id in state.steps else "running"
            bars.setdefault(step_id, Bar(step_id, run.name(step_id), status, now, now))
        elif step_id not in bars:
            continue
        bar = bars[step_id]
        if event.type == "attempt_failed":
            bar.retries.append((now, str(event.data.get("error"))))
        elif event.type in PEOPLE_EVENTS and now > mark.get(step_id, now):
            bar.waits.append(Span(mark[step_id], now))
        elif event.type == "milestone" and event.data.get("name") == clocks.SERVICE_RESTORED:
            restored_by = step_id
        mark[step_id] = now
    for bar in bars.values():
        step = state.steps.get(bar.step)
        bar.attempts = max(step.attempts if step else 1, 1)
        bar.end = at(step.ended_at) if step and step.ended_at else at(last)
    _mark_critical(run, bars, restored_by)
    objective = state.objectives.get("rto_s")
    incident = at(state.incident_at) if state.incident_at else None
    return Timeline(
        origin=origin,
        end=max([at(last), *(b.end for b in bars.values())]),
        bars=sorted(bars.values(), key=lambda b: (b.start, b.end)),
        milestones=sorted(((name, at(when)) for name, when in state.milestones.items()), key=_t),
        incident=incident,
        rto_deadline=incident + objective if incident is not None and objective else None,
        not_run=[s for s in state.steps if s not in bars],
        injections=[(_injected(i), at(i.injected_at)) for i in for_run(list(run.events), run.plan)],
    )


def _injected(i: Injection) -> str:
    """An injection's label: when the run noticed it and recovered, from the injection."""
    noticed = (
        f"noticed after {describe(i.notice_s)} by {i.noticed_by}" if i.noticed_by else "not noticed"
    )
    recovered = (
        f"recovered after {describe(i.recover_s)} ({i.recovered_how})"
        if i.recovered_how
        else "not recovered"
    )
    return f"⚡ {i.fault}@{i.site} injected; {noticed}; {recovered}"


def _t(item: tuple[str, float]) -> float:
    return item[1]


def _mark_critical(run: ReadRun, bars: dict[str, Bar], last: str | None) -> None:
    """Mark the chain of steps that decided when ``last`` (else the last to end) could end."""
    if not bars:
        return
    needs = {s.id: s.needs for s in run.plan.steps} if run.plan else None
    current: Bar | None = bars[last] if last in bars else max(bars.values(), key=lambda b: b.end)
    while current is not None and not current.critical:
        current.critical = True
        if needs is not None:
            before = [bars[n] for n in needs.get(current.step, []) if n in bars]
        else:  # by time alone: what ended last before this one started
            before = [b for b in bars.values() if b.end <= current.start and b is not current]
        current = max(before, key=lambda b: b.end) if before else None
