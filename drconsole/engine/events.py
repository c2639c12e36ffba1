"""The journal's event types, and the one way an event becomes a line of text.

The CLI's live output, the console's log and the report's timeline all call :func:`describe`,
so an event type added here is shown the same everywhere (a test walks every type). Values are
rendered for people: lists of people as "Kim (security_officer)", never a Python repr.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from drconsole.journal.journal import Event
from drconsole.timeutil import format_duration


class EventType(StrEnum):
    """Every event type the engine writes (fields: see ``runs/state.py``)."""

    RUN_STARTED = "run_started"
    RUN_RESUMED = "run_resumed"
    STEP_STARTED = "step_started"
    ATTEMPT_FAILED = "attempt_failed"
    QUESTION_ASKED = "question_asked"
    OPERATOR_ANSWER = "operator_answer"
    REFUSED = "refused"
    STEP_FINISHED = "step_finished"
    MILESTONE = "milestone"
    CLOCK = "clock"
    RUN_INTERRUPTED = "run_interrupted"
    RUN_FINISHED = "run_finished"
    JOURNAL_REPAIRED = "journal_repaired"
    PARTICIPANTS = "participants"
    PRESENCE = "presence"
    INITIALS = "initials"
    EXCEPTION = "exception"
    BAG = "bag"
    ATTESTATION = "attestation"


@dataclass(frozen=True)
class NewEvent:
    """An event about to be journaled: its type and its fields."""

    type: EventType
    data: dict[str, Any]


def step_started(
    step: str, kind: str, attempt: int, params: dict[str, Any], description: str
) -> NewEvent:
    return NewEvent(
        EventType.STEP_STARTED,
        {
            "step": step,
            "kind": kind,
            "attempt": attempt,
            "params": params,
            "description": description,
        },
    )


def step_finished(
    step: str,
    status: str,
    attempts: int,
    *,
    outputs: dict[str, Any] | None = None,
    error: str | None = None,
    reason: str | None = None,
) -> NewEvent:
    """The end of a step (every ``step_finished`` is built here)."""
    data: dict[str, Any] = {"step": step, "status": status, "outputs": outputs or {}}
    data.update({"error": error, "reason": reason, "attempts": attempts})
    return NewEvent(EventType.STEP_FINISHED, data)


def question_asked(step: str, question: str, who: str) -> NewEvent:
    return NewEvent(EventType.QUESTION_ASKED, {"step": step, "question": question, "who": who})


def operator_answer(step: str, question: str, answer: Any, by: str) -> NewEvent:
    return NewEvent(
        EventType.OPERATOR_ANSWER, {"step": step, "question": question, "answer": answer, "by": by}
    )


def refused(step: str, question: str, reason: str, by: str) -> NewEvent:
    return NewEvent(
        EventType.REFUSED, {"step": step, "question": question, "reason": reason, "by": by}
    )


def show(value: Any) -> str:
    """A recorded value as a person reads it."""
    if isinstance(value, dict):
        if "name" in value and "role" in value:
            return f"{value['name']} ({value['role']})"
        if "initials" in value:
            rest = ", ".join(f"{k} {v}" for k, v in value.items() if k != "initials")
            return f"{value['initials']}" + (f": {rest}" if rest else "")
        return ", ".join(f"{k}={show(v)}" for k, v in value.items())
    if isinstance(value, list):
        if all(isinstance(v, str | int | float) for v in value):
            return " ".join(str(v) for v in value) or "none"  # an argv, a list of names
        return "; ".join(show(v) for v in value) or "none"
    if value is None:
        return "-"
    return str(value)


def describe(event: Event) -> str:
    """One line for an event (without its time)."""
    d = event.data
    try:
        kind = EventType(event.type)
    except ValueError:
        return f"{event.type}: {show(d)}"
    match kind:
        case EventType.RUN_STARTED:
            return f"RUN STARTED {d['plan']['id']} in {d['mode']} mode by {d['operator']}"
        case EventType.RUN_RESUMED:
            found = ", ".join(d.get("interrupted") or []) or "none"
            return f"RUN RESUMED by {d['operator']} (interrupted steps: {found})"
        case EventType.STEP_STARTED:
            attempt = f" (attempt {d['attempt']})" if d.get("attempt", 1) > 1 else ""
            return f"start     {d['step']}{attempt}: {d.get('description', '')}"
        case EventType.ATTEMPT_FAILED:
            if d.get("transient") is False:  # a retry would not help: none is counted
                return f"FAIL      {d['step']}: {d['error']} (not retried: it would not help)"
            retry = (
                f"; retry in {format_duration(d['retry_in_s'])}"
                if d.get("retry_in_s") is not None
                else ""
            )
            return (
                f"FAIL      {d['step']} attempt {d['attempt']}/{d.get('of', '?')}: "
                f"{d['error']}{retry}"
            )
        case EventType.QUESTION_ASKED:
            return f"asking    {d['step']}: {d['question']} (waiting for {d['who']})"
        case EventType.OPERATOR_ANSWER:
            return f"answer    {d['step']}: {d['question']}: {show(d['answer'])} (by {d['by']})"
        case EventType.REFUSED:
            return f"REFUSED   {d['step']}: {d['question']}: {d['reason']} (typed by {d['by']})"
        case EventType.STEP_FINISHED:
            extra = d.get("error") or d.get("reason") or ""
            return f"{str(d['status']).upper():<9} {d['step']}" + (f": {extra}" if extra else "")
        case EventType.MILESTONE:
            point = d.get("recovery_point")
            return f"MILESTONE {d['name']}" + (f" (recovery point {point})" if point else "")
        case EventType.CLOCK:
            return (
                f"clock     RTO {format_duration(d['rto_s'])} ({d['rto_status']}), "
                f"RPO {format_duration(d['rpo_s'])} ({d['rpo_status']})"
            )
        case EventType.RUN_INTERRUPTED:
            return f"RUN INTERRUPTED (resumable): {d['reason']}"
        case EventType.RUN_FINISHED:
            return f"RUN FINISHED {str(d['result']).upper()}: {d.get('reason', '')}"
        case EventType.JOURNAL_REPAIRED:
            kept = d.get("kept_in") or "journal.partial"
            return (
                f"JOURNAL REPAIRED: a torn last line of {d.get('dropped_bytes')} bytes was "
                f"set aside in {kept}"
            )
        case EventType.PARTICIPANTS:
            people = ", ".join(
                f"{p['name']} {p['initials']} ({p['role']})" for p in d["participants"]
            )
            return f"SIGNED IN {people}"
        case EventType.PRESENCE:
            what = "back in the room" if d["present"] else f"LEFT the room: {d.get('reason')}"
            return f"{d['name']} ({d['initials']}) {what}"
        case EventType.INITIALS:
            return f"initials  {d['step']}: actor {d['actor']}, witness {d['witness']}"
        case EventType.EXCEPTION:
            return f"EXCEPTION #{d['number']} at {d.get('step') or '-'}: {d['happened']}"
        case EventType.BAG:
            return f"bag {d['event']} {d['label']}: {d['bag_id']}"
        case EventType.ATTESTATION:
            word = "agrees" if d["agree"] else f"DOES NOT AGREE: {d.get('reason')}"
            return f"attestation {d['name']} ({d['initials']}): {word}"
