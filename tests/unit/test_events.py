"""Every event type has one text, used by the CLI, the console and the report; the engine
writes no event type that is not declared."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from drconsole.engine.events import EventType, describe
from drconsole.journal.journal import Event

PEOPLE = [{"name": "Kim Ha", "role": "security_officer"}, {"name": "Bob Lee", "role": "witness"}]
SAMPLES: dict[EventType, dict[str, Any]] = {
    EventType.RUN_STARTED: {"plan": {"id": "p"}, "mode": "drill", "operator": "kim"},
    EventType.RUN_RESUMED: {"operator": "kim", "interrupted": ["restore"]},
    EventType.STEP_STARTED: {"step": "restore", "attempt": 2, "description": "restore it"},
    EventType.ATTEMPT_FAILED: {
        "step": "restore",
        "attempt": 1,
        "of": 3,
        "error": "connection refused",
        "retry_in_s": 2.0,
    },
    EventType.QUESTION_ASKED: {"step": "approve", "question": "sign-off", "who": "2 signers"},
    EventType.OPERATOR_ANSWER: {
        "step": "approve",
        "question": "sign-off",
        "answer": PEOPLE,
        "by": "kim",
    },
    EventType.REFUSED: {
        "step": "wipe",
        "question": "typed confirmation",
        "reason": "that was not 'wipe-it'",
        "by": "kim",
    },
    EventType.STEP_FINISHED: {"step": "restore", "status": "failed", "error": "disk full"},
    EventType.MILESTONE: {"name": "service_restored", "recovery_point": "2026-11-30T08:00:00Z"},
    EventType.CLOCK: {"rto_s": 61.0, "rto_status": "met", "rpo_s": None, "rpo_status": "-"},
    EventType.RUN_INTERRUPTED: {"reason": "signal SIGTERM"},
    EventType.RUN_FINISHED: {"result": "succeeded", "reason": "every step finished"},
    EventType.JOURNAL_REPAIRED: {"dropped_bytes": 12, "kept_in": "journal.partial"},
    EventType.PARTICIPANTS: {
        "participants": [{"name": "Kim Ha", "initials": "KH", "role": "administrator"}]
    },
    EventType.PRESENCE: {"name": "Kim Ha", "initials": "KH", "present": False, "reason": "call"},
    EventType.INITIALS: {"step": "open", "actor": "KH", "witness": "BL"},
    EventType.EXCEPTION: {"number": 1, "step": "seal", "happened": "bag torn"},
    EventType.BAG: {"event": "seal", "label": "A", "bag_id": "TE-1"},
    EventType.ATTESTATION: {"name": "Kim Ha", "initials": "KH", "agree": False, "reason": "no"},
    EventType.FAULTS_RECORDED: {
        "entries": [
            {
                "at": "2026-11-30T08:01:00Z",
                "action": "inject",
                "fault": "seal-vault",
                "site": "dr",
                "who": {"operator": "fac", "host": "room"},
                "done": [],
            }
        ]
    },  # fmt: skip
}


def _step(data: Mapping[str, Any]) -> list[str]:
    return [str(data["step"])] if data.get("step") else []


ABOUT: dict[EventType, Callable[[Mapping[str, Any]], list[str]]] = {
    EventType.RUN_STARTED: lambda d: [d["plan"]["id"]],
    EventType.RUN_RESUMED: lambda d: [d["operator"]],
    EventType.STEP_STARTED: _step,
    EventType.ATTEMPT_FAILED: _step,
    EventType.QUESTION_ASKED: _step,
    EventType.OPERATOR_ANSWER: _step,
    EventType.REFUSED: _step,
    EventType.STEP_FINISHED: _step,
    EventType.MILESTONE: lambda d: [d["name"]],
    EventType.CLOCK: lambda d: ["RTO", "RPO"],
    EventType.RUN_INTERRUPTED: lambda d: [d["reason"]],
    EventType.RUN_FINISHED: lambda d: [d["result"]],
    EventType.JOURNAL_REPAIRED: lambda d: ["journal"],
    EventType.PARTICIPANTS: lambda d: [p["name"] for p in d["participants"]],
    EventType.PRESENCE: lambda d: [d["name"]],
    EventType.INITIALS: _step,
    EventType.EXCEPTION: _step,
    EventType.BAG: lambda d: [d["label"]],
    EventType.ATTESTATION: lambda d: [d["name"]],
    EventType.FAULTS_RECORDED: lambda d: [e["fault"] for e in d["entries"]],
}
"""What each event type is about: its text must name each of these (its step, or its subject
where it has no step or names a bag, a person, a milestone)."""


def names_what_it_is_about(event: Event) -> str:
    """The event's text, checked: words (not empty, not a raw dict or list) naming what the
    event is about (:data:`ABOUT`)."""
    text = describe(event)
    assert text.strip(), event
    assert "{'" not in text, text
    assert "['" not in text, text
    for subject in ABOUT[EventType(event.type)](event.data):
        assert subject.casefold() in text.casefold(), (event.type, subject, text)
    return text


def test_every_event_type_has_a_sample_and_a_subject() -> None:
    assert set(SAMPLES) == set(EventType)
    assert set(ABOUT) == set(EventType)


@pytest.mark.parametrize("kind", list(EventType), ids=[k.value for k in EventType])
def test_every_event_type_reads_as_words(kind: EventType) -> None:
    event = Event(1, "2026-11-30T08:00:00.000000Z", 0.0, kind.value, SAMPLES[kind], "", "")
    text = names_what_it_is_about(event)
    for value in SAMPLES[kind].values():
        if isinstance(value, str) and len(value) > 3:
            assert value.casefold() in text.casefold(), (kind, value, text)


def test_a_failure_that_is_not_retried_does_not_count_attempts() -> None:
    data = {"step": "window", "attempt": 1, "of": 3, "error": "outside", "transient": False}
    text = describe(Event(1, "t", 0.0, "attempt_failed", data, "", ""))
    assert "1/3" not in text
    assert "not retried" in text


def test_people_read_as_names_and_roles() -> None:
    event = Event(1, "t", 0.0, "operator_answer", SAMPLES[EventType.OPERATOR_ANSWER], "", "")
    assert "Kim Ha (security_officer); Bob Lee (witness)" in describe(event)
