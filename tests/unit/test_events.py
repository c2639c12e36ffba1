"""Every event type has one text, used by the CLI, the console and the report; the engine
writes no event type that is not declared."""

from __future__ import annotations

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
        "entries": [{"at": "2026-11-30T08:01:00Z", "action": "inject", "fault": "seal-vault",
                     "site": "dr", "who": {"operator": "fac", "host": "room"}, "done": []}]
    },  # fmt: skip
}


def test_every_event_type_has_a_sample() -> None:
    assert set(SAMPLES) == set(EventType)


@pytest.mark.parametrize("kind", list(EventType), ids=[k.value for k in EventType])
def test_every_event_type_reads_as_words(kind: EventType) -> None:
    event = Event(1, "2026-11-30T08:00:00.000000Z", 0.0, kind.value, SAMPLES[kind], "", "")
    text = describe(event)
    assert text.strip()
    assert "{'" not in text
    assert "['" not in text
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
