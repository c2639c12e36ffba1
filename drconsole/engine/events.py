"""The journal's event types, and the one way an event becomes a line of text.

The CLI's live output, the console's log and the report's timeline all call :func:`describe`,
so an event type added here is shown the same everywhere (a test walks every type). Values are
rendered for people: lists of people as "Kim (security_officer)", never a Python repr.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    FAULTS_RECORDED = "faults_recorded"


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


def question_asked(step: str, question: str, who: str, about: str | None = None) -> NewEvent:
    """A question put to ``who``; ``about``: what it asks them to attest (the values a step
    read, shown with its initials)."""
    data = {"step": step, "question": question, "who": who}
    return NewEvent(EventType.QUESTION_ASKED, data | ({"about": about} if about else {}))


def operator_answer(step: str, question: str, answer: Any, by: str) -> NewEvent:
    return NewEvent(
        EventType.OPERATOR_ANSWER, {"step": step, "question": question, "answer": answer, "by": by}
    )


def refused(step: str, question: str, reason: str, by: str) -> NewEvent:
    return NewEvent(
        EventType.REFUSED, {"step": step, "question": question, "reason": reason, "by": by}
    )


def faults_recorded(entries: list[dict[str, Any]]) -> NewEvent:
    """The drill sandbox's fault-log entries that bear on the run (``faultlog.concerning``),
    copied into the journal so that the run's record does not depend on the sandbox."""
    return NewEvent(EventType.FAULTS_RECORDED, {"entries": entries})


ATTESTATION_TEXT = (
    "I was present throughout, and the script was followed except as noted in the exceptions."
)
"""What a participant agrees to at a ceremony's close: shown where they answer, journaled with
their attestation, printed on the record (the same words in all three)."""


def attestation(initials: str, name: str, agree: bool, reason: str | None) -> NewEvent:
    """A participant's closing attestation, with the words they were shown."""
    data = {"initials": initials, "name": name, "agree": agree, "reason": reason}
    return NewEvent(EventType.ATTESTATION, {**data, "statement": ATTESTATION_TEXT})


def attestation_text(attested: Mapping[str, Any] | None) -> str:
    """An attestation (an ``attestation``'s fields, None: not given) in words."""
    if attested is None:
        return "NOT GIVEN"
    return "agrees" if attested["agree"] else f"DOES NOT AGREE: {attested.get('reason')}"


_SIZES = ("size", "bytes")  # output names (and their *_size, *_bytes) counted in bytes


def with_unit(key: str, value: Any) -> str | None:
    """A number as a person reads it when its name says its unit: ``size``, ``bytes``,
    ``*_size``, ``*_bytes`` in bytes (``1,572,864 bytes (1.5 MiB)``); ``*_s`` and ``ttl`` in
    seconds (``5400 s (1h30m)``), ``*_ms`` in milliseconds, ``mb_per_s`` in MB/s, ``change``
    a fraction (``+12.5%``). None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if key in _SIZES or key.endswith(tuple(f"_{k}" for k in _SIZES)):
        shown, scaled = f"{value:,} bytes", float(value)
        for unit in ("KiB", "MiB", "GiB", "TiB"):
            if scaled < 1024:
                break
            scaled /= 1024
            shown = f"{value:,} bytes ({scaled:.1f} {unit})"
        return shown
    if key == "mb_per_s":
        return f"{value:g} MB/s"
    if key.endswith("_ms"):
        return f"{value:g} ms"
    if key.endswith("_s") or key == "ttl":
        return f"{value:g} s" + (f" ({format_duration(value)})" if abs(value) >= 60 else "")
    if key == "change":
        return f"{value:+.1%}"
    return None


def show(value: Any, key: str = "") -> str:
    """A recorded value as a person reads it; a number with the unit its name (``key``) says
    (:func:`with_unit`)."""
    unit = with_unit(key, value)
    if unit is not None:
        return unit
    if isinstance(value, dict):
        if "name" in value and "role" in value:
            return f"{value['name']} ({value['role']})"
        if "initials" in value:
            rest = ", ".join(f"{k} {v}" for k, v in value.items() if k != "initials")
            return f"{value['initials']}" + (f": {rest}" if rest else "")
        return ", ".join(f"{k}={show(v, str(k))}" for k, v in value.items())
    if isinstance(value, list):
        if all(isinstance(v, str | int | float) for v in value):
            return " ".join(show(v) for v in value) or "none"  # an argv, a list of names
        return "; ".join(show(v) for v in value) or "none"
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def answer_text(answer: Mapping[str, Any]) -> str:
    """An answer (an ``operator_answer``'s fields) in words: ``question: answer (by kim)``."""
    by = answer.get("by")
    return f"{answer.get('question')}: {show(answer.get('answer'))}" + (f" (by {by})" if by else "")


def attempt_text(failure: Mapping[str, Any]) -> str:
    """A failed attempt (an ``attempt_failed``'s fields): ``attempt 1/3: error; retry in 2s``."""
    if failure.get("transient") is False:  # a retry would not help: none is counted
        return f"attempt {failure['attempt']}: {failure['error']} (not retried: it would not help)"
    of = f"/{failure['of']}" if failure.get("of") is not None else ""
    retry = failure.get("retry_in_s")
    again = f"; retry in {format_duration(retry)}" if retry is not None else ""
    return f"attempt {failure['attempt']}{of}: {failure['error']}{again}"


def refusal_text(refusal: Mapping[str, Any]) -> str:
    """A refused answer (a ``refused``'s fields): ``question refused: reason (by kim)``; a
    guard's refusal is by drconsole."""
    by = refusal.get("by")
    return f"{refusal['question']} refused: {refusal['reason']}" + (f" (by {by})" if by else "")


def exception_text(exception: Mapping[str, Any], at: str) -> str:
    """A ceremony exception (an ``exception``'s fields) at the step named ``at``:
    ``exception #1 at seal: expected ...; happened: ...; decision: ...``."""
    said = [f"expected {exception['expected']}"] if exception.get("expected") else []
    said.append(f"happened: {exception.get('happened')}")
    said += [f"decision: {exception['decision']}"] if exception.get("decision") else []
    return f"exception #{exception.get('number')} at {at}: " + "; ".join(said)


def presence_text(presence: Mapping[str, Any]) -> str:
    """What a ``presence`` event says of its person: ``left the room: a call``."""
    return "back in the room" if presence["present"] else f"left the room: {presence.get('reason')}"


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
            return f"FAIL      {d['step']} {attempt_text(d)}"
        case EventType.QUESTION_ASKED:
            about = f" of: {'; '.join(d['about'].splitlines())}" if d.get("about") else ""
            return f"asking    {d['step']}: {d['question']}{about} (waiting for {d['who']})"
        case EventType.OPERATOR_ANSWER:
            return f"answer    {d['step']}: {answer_text(d)}"
        case EventType.REFUSED:
            return f"REFUSED   {d['step']}: {refusal_text(d)}"
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
            return f"{d['name']} ({d['initials']}) {presence_text(d)}"
        case EventType.INITIALS:
            return f"initials  {d['step']}: actor {d['actor']}, witness {d['witness']}"
        case EventType.EXCEPTION:
            return "EXCEPTION" + exception_text(d, d.get("step") or "-").removeprefix("exception")
        case EventType.BAG:
            return f"bag {d['event']} {d['label']}: {d['bag_id']}"
        case EventType.ATTESTATION:
            return f"attestation {d['name']} ({d['initials']}): {attestation_text(d)}"
        case EventType.FAULTS_RECORDED:
            faults = sorted({f"{e.get('fault')} ({e.get('site')})" for e in d["entries"]})
            if not faults:
                return "FAULTS    none injected by the facilitator on this plan's sites"
            return (
                f"FAULTS    {len(d['entries'])} injection(s) and heal(s) by the facilitator "
                f"recorded from the sandbox's fault log: {', '.join(faults)}"
            )
