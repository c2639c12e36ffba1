"""Witnessed ceremonies: sign-in, witness and quorum rules, initials on every step, exceptions
that never stop the record, bag numbers read back against the previous record, presence, the
approvals before key material moves, and the exported record (Markdown, HTML, JSON)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from drconsole.engine.answers import AnswersFile, AnswersOperator
from drconsole.engine.ceremony import CeremonyError
from drconsole.engine.ceremony_rules import (
    Participant,
    initials_problem,
    leave_problem,
    quorum_problem,
    sign_in_problem,
    values_match,
)
from drconsole.engine.launch import prepare_new
from drconsole.engine.modes import Mode
from drconsole.journal.journal import read_events, verify
from drconsole.plans.model import Ceremony, Compare
from drconsole.plans.validate import validate_text
from drconsole.report.record import build_record, to_html, to_markdown
from tests.conftest import Cli, CliResult, kill_run, start_run

CEREMONY = Ceremony.model_validate(
    {
        "roles": {
            "administrator": {"title": "runs it", "min": 1, "max": 1},
            "witness": {"title": "witnesses", "min": 1},
            "custodian": {"title": "holds a card", "min": 2},
            "security_officer": {"title": "approves", "min": 1},
        }
    }
)
PEOPLE = [
    Participant("Kim Min", "administrator", "Ops", "KM"),
    Participant("Lee Ji", "witness", "Audit", "LJ"),
    Participant("Park Su", "custodian", "Security", "PS", ("card-1",)),
    Participant("Choi Ha", "custodian", "Security", "CH", ("card-2",)),
    Participant("Jung Ra", "security_officer", "Security", "JR"),
]

PLAN = """
id: tiny-ceremony
title: A small ceremony
kind: ceremony
version: "7"
offline: true
inputs:
  previous_record: {type: string}
ceremony:
  roles:
    administrator: {title: runs the ceremony, min: 1, max: 1}
    witness: {title: witnesses every step, min: 1}
    custodian: {title: holds a card, min: 2}
    security_officer: {title: approves, min: 1}
  key_material_approvals: [security_officer]
  previous_record: "${inputs.previous_record}"
  materials:
    - {item: Officer cards, bag: cards}
steps:
  - id: room
    checkbox: The door is closed
  - id: open-cards
    bag: {event: open, label: cards, contents: officer cards}
    needs: [room]
  - id: approve
    approval: {signers: 1, roles: [security_officer]}
    needs: [open-cards]
  - id: quorum
    quorum: {role: custodian, need: 2, present: card}
    needs: [approve]
  - id: serial
    record:
      serial: {prompt: HSM serial, pattern: "^[A-Z0-9]+$", expect: "ABC123"}
    needs: [quorum]
  - id: move-keys
    manual: Move the key material
    key_material: true
    needs: [serial]
  - id: where
    choice: {prompt: "Where do the cards go?", options: [safe A, safe B]}
    needs: [move-keys]
  - id: seal-cards
    bag: {event: seal, label: cards, contents: officer cards}
    needs: [where]
  - id: done
    milestone: ceremony_done
    needs: [seal-cards]
"""


def sheet() -> list[dict[str, Any]]:
    return [
        {"name": p.name, "role": p.role, "affiliation": p.affiliation, "initials": p.initials,
         "holds": list(p.holds)}
        for p in PEOPLE
    ]  # fmt: skip


def answers() -> dict[str, Any]:
    """Answers that make the small ceremony succeed; tests change what they look at."""
    return {
        "operator": "Kim Min",
        "participants": sheet(),
        "initials": {"actor": "KM", "witness": "LJ"},
        "attestations": {p.initials: {"agree": True} for p in PEOPLE},
        "steps": {
            "room": {"confirm": True},
            "open-cards": {
                "evidence": {"bag_id": "TEB-0001", "intact": "yes"},
                # no previous record: nobody saw the bag sealed
                "exception": {"decision": "first ceremony: sealed at delivery, photographed"},
            },
            "approve": {"signoffs": [{"name": "Jung Ra", "role": "security_officer"}]},
            "quorum": {
                "quorum": [
                    {"initials": "PS", "token": "card-1"},
                    {"initials": "CH", "token": "card-2"},
                ],
                "initials": {"actor": "PS", "witness": "LJ"},
            },
            "serial": {"evidence": {"serial": "ABC123"}},
            "move-keys": {"confirm": True},
            "where": {"evidence": {"choice": "safe A"}},
            "seal-cards": {"evidence": {"bag_id": "TEB-0002"}},
        },
    }


@pytest.fixture
def ceremony(cli: Cli, tmp_path: Path) -> Callable[..., tuple[CliResult, Path]]:
    """Run the small ceremony headless with the given answers (and previous record)."""
    plan = tmp_path / "tiny.yaml"
    plan.write_text(PLAN)
    counter = iter(range(100))

    def go(
        given: dict[str, Any], *extra: str, plan_text: str | None = None
    ) -> tuple[CliResult, Path]:
        path = tmp_path / f"answers-{next(counter)}.yaml"
        path.write_text(yaml.safe_dump(given))
        if plan_text is not None:
            plan.write_text(plan_text)
        result = cli.run(plan, *extra, answers=path, mode="drill")
        run_dir = result.run_dir if result.out else Path()
        return result, run_dir

    return go


# ----------------------------------------------------------------------------- the rules
def test_sign_in_accepts_a_proper_sheet() -> None:
    assert sign_in_problem(CEREMONY, PEOPLE, "Kim Min") is None


@pytest.mark.parametrize(
    ("people", "operator", "words"),
    [
        (PEOPLE, "Lee Ji", "cannot also be the witness"),
        ([*PEOPLE, Participant("Kim Min", "witness", "Ops", "KM2")], "Kim Min", "signed in twice"),
        ([*PEOPLE, Participant("Kang Bo", "witness", "Ops", "km")], "Kim Min", "signed in twice"),
        # look-alikes: a Cyrillic К, full-width initials, a zero-width space
        ([*PEOPLE, Participant("\u041aim Min", "witness", "Ops", "K2")], "x", "signed in twice"),
        ([*PEOPLE, Participant("Kang Bo", "witness", "Ops", "\uff2b\uff2d")], "x", "twice"),
        ([*PEOPLE, Participant("Kim\u200b Min", "witness", "Ops", "K3")], "x", "signed in twice"),
        (PEOPLE, "Lee\u200b J\u0456", "cannot also be the witness"),
        (PEOPLE[:3], "Kim Min", "custodian (holds a card) needs at least 2"),
        ([*PEOPLE, Participant("Yoon", "administrator", "", "YO")], "Kim Min", "at most 1"),
        ([*PEOPLE, Participant("Han", "auditor", "", "HA")], "Kim Min", "unknown role"),
        (
            [*PEOPLE[:3], Participant("Choi Ha", "custodian", "S", "CH", ("card-1",)), PEOPLE[4]],
            "Kim Min",
            "held by both",
        ),
    ],
)
def test_sign_in_refuses_each_violation(
    people: list[Participant], operator: str, words: str
) -> None:
    problem = sign_in_problem(CEREMONY, people, operator)
    assert problem is not None
    assert words in problem


@pytest.mark.parametrize(
    ("actor", "witness", "absent", "words"),
    [
        ("KM", "KM", set(), "cannot witness their own step"),
        ("PS", "KM", set(), "only the internal witness initials as witness"),
        ("KM", "XX", set(), "belong to nobody"),
        ("ZZ", "LJ", set(), "belong to nobody"),
        ("PS", "LJ", {"ps"}, "out of the room"),
        ("\u0420S", "LJ", {"ps"}, "out of the room"),
    ],
)
def test_step_initials_refuse_each_violation(
    actor: str, witness: str, absent: set[str], words: str
) -> None:
    problem = initials_problem(CEREMONY, PEOPLE, absent, actor, witness)
    assert problem is not None
    assert words in problem
    assert initials_problem(CEREMONY, PEOPLE, set(), "ps", "lj") is None


@pytest.mark.parametrize(
    ("presented", "words"),
    [
        ([("PS", "card-1")], "1 custodian(s) presented; 2 distinct"),
        ([("PS", "card-1"), ("ps", "card-1")], "presented twice"),
        ([("PS", "card-1"), ("\uff30S", "card-1")], "presented twice"),
        ([("PS", "card-1"), ("CH", "c\u0430rd-1")], "was presented twice"),
        ([("PS", "card-2"), ("CH", "card-1")], "is Choi Ha's; each custodian presents only"),
        ([("PS", "card-1"), ("JR", "card-9")], "not custodian"),
        ([("PS", "card-1"), ("CH", "card-7")], "holds card-2, not 'card-7'"),
    ],
)
def test_quorum_refuses_each_violation(presented: list[tuple[str, str]], words: str) -> None:
    problem = quorum_problem(PEOPLE, set(), "custodian", 2, presented)
    assert problem is not None
    assert words in problem
    assert (
        quorum_problem(PEOPLE, set(), "custodian", 2, [("PS", "card-1"), ("CH", "card-2")]) is None
    )


def test_two_people_must_stay_in_the_room() -> None:
    two = PEOPLE[:2]
    problem = leave_problem(two, set(), "KM", 2)
    assert problem is not None
    assert "2 people must be in the room" in problem
    assert leave_problem(PEOPLE, set(), "PS", 2) is None


def test_checksum_ends_compare_first_and_last_four() -> None:
    digest = "3f2a" + "0" * 56 + "9b1c"
    assert values_match(digest, "3F2A...9B1C", Compare.ENDS)
    assert values_match(digest, "3f2a 9b1c", Compare.ENDS)
    assert not values_match(digest, "3f2a...9b1d", Compare.ENDS)
    assert values_match("TEB-01", " teb-01 ", Compare.EXACT)


def test_key_material_needs_the_approvals_first() -> None:
    assert validate_text(PLAN).ok
    result = validate_text(PLAN.replace("needs: [serial]", "needs: []"))
    assert any(
        "moves key material: it must need approval steps signed by security_officer" in p.message
        for p in result.problems
    )


def test_offline_plans_refuse_network_actions() -> None:
    text = PLAN.replace(
        "  - id: done\n",
        "  - id: ping\n    check: local.http_check\n    with: {url: 'http://127.0.0.1:1/'}\n"
        "  - id: done\n",
    )
    result = validate_text(text)
    assert validate_text(PLAN).ok
    assert any("local.http_check needs a network" in p.message for p in result.problems)


# ----------------------------------------------------------------------------- whole runs
def test_a_ceremony_runs_with_initials_on_every_step(
    ceremony: Callable[..., tuple[CliResult, Path]],
) -> None:
    result, run_dir = ceremony(answers())
    assert result.code == 0, result.err
    state_events = list(read_events(run_dir))
    types = [e.type for e in state_events]
    assert types.index("participants") < types.index("step_started")
    initialled = {e.data["step"]: e.data for e in state_events if e.type == "initials"}
    assert set(initialled) == {
        "room", "open-cards", "approve", "quorum", "serial", "move-keys", "where", "seal-cards"
    }  # fmt: skip
    assert initialled["quorum"]["actor"] == "PS"
    assert sum(1 for e in state_events if e.type == "attestation") == len(PEOPLE)
    record = build_record(run_dir)
    assert record["plan"]["version"] == "7"
    assert len(record["plan"]["sha256"]) == 64
    assert [b["event"] for b in record["bags"]] == ["open", "seal"]
    assert record["bags"][0]["previous_source"] == "no previous record given"
    (unsealed,) = record["exceptions"]  # the first ceremony opens a bag nobody saw sealed
    assert unsealed["step"] == "open-cards"
    assert "no witnessed seal: no previous record given" in unsealed["happened"]


def test_initials_are_asked_with_what_the_step_did_and_read(
    ceremony: Callable[..., tuple[CliResult, Path]],
) -> None:
    """The witness initials what they were shown: the values are journaled with the question
    and printed by a headless run before the initials are given."""
    result, run_dir = ceremony(answers())
    assert result.code == 0, result.err
    asked = [
        e.data["about"]
        for e in read_events(run_dir)
        if e.type == "question_asked" and e.data["question"] == "initials"
    ]
    assert len(asked) == 8  # every step initialled
    assert "Result: succeeded\nserial = ABC123" in asked
    said = (
        "asking    open-cards: initials of: Result: exception #1 recorded; the ceremony goes on; "
        "bag_id = TEB-0001; intact = yes; seal = no witnessed seal: no previous record given "
        "(waiting for Kim Min)"
    )
    assert said in result.out
    assert result.out.index(said) < result.out.index("initials  open-cards: actor KM, witness LJ")


def test_an_unconfirmed_checkbox_is_an_exception_and_the_ceremony_goes_on(
    ceremony: Callable[..., tuple[CliResult, Path]],
) -> None:
    given = answers()
    given["steps"]["room"] = {
        "confirm": False,
        "exception": {"happened": "the door does not lock", "decision": "guard posted outside"},
    }
    result, run_dir = ceremony(given)
    assert result.code == 0, result.err
    record = build_record(run_dir)
    assert record["exceptions"][0] | {"at": None} == {
        "number": 1,
        "step": "room",
        "expected": "The door is closed",
        "happened": "the door does not lock",
        "decision": "guard posted outside",
        "by": "Kim Min",
        "at": None,
        "actor": "KM",  # the step's initials: who did it and who witnessed
        "witness": "LJ",
        "decided_by": "Kim Min (KM, administrator)",  # the ceremony's administrator
    }
    assert record["result"] == "succeeded"
    assert "2 exception(s) recorded" in record["result_reason"]  # and the unsealed bag's
    assert [s["status"] for s in record["steps"]][-1] == "succeeded"  # the rest ran


def test_a_bag_number_unlike_the_previous_record_raises_an_exception(
    ceremony: Callable[..., tuple[CliResult, Path]], tmp_path: Path, cli: Cli
) -> None:
    _, first = ceremony(answers())  # seals the cards in TEB-0002
    exported = tmp_path / "record.json"
    assert cli("record", first, "--format", "json", "--output", exported).code == 0
    for previous in (first, exported):
        given = answers()
        given["inputs"] = {"previous_record": str(previous)}
        given["steps"]["open-cards"] = {
            "evidence": {"bag_id": "TEB-0003", "intact": "yes"},
            "exception": {"decision": "stop and call security"},
        }
        result, run_dir = ceremony(given)
        assert result.code == 0, result.err
        (exc,) = build_record(run_dir)["exceptions"]
        assert exc["step"] == "open-cards"
        assert "TEB-0002" in exc["expected"]
        assert "TEB-0003" in exc["happened"]
    given = answers()
    given["inputs"] = {"previous_record": str(exported)}
    given["steps"]["open-cards"] = {"evidence": {"bag_id": "teb-0002", "intact": "yes"}}
    result, run_dir = ceremony(given)
    assert result.code == 0
    record = build_record(run_dir)
    assert record["exceptions"] == []
    # found, and said so in words: on the initials form and in the record (was 'previous = ...')
    opened = next(s for s in record["steps"] if s["id"] == "open-cards")
    first_id = build_record(first)["run_id"]
    sealed = f"sealed in the previous ceremony (run {first_id}, "
    assert f"seal=matches TEB-0002, {sealed}" in opened["said"][2]
    assert f"(intact; matches TEB-0002, {sealed}" in to_markdown(record)


BAGS = """
id: bag-ceremony
title: Bags opened, inspected and sealed
kind: ceremony
offline: true
ceremony:
  roles:
    administrator: {title: runs the ceremony, min: 1, max: 1}
    witness: {title: witnesses every step, min: 1}
steps:
  - {id: seal-cards, bag: {event: seal, label: cards, contents: officer cards}}
  - {id: open-cards, bag: {event: open, label: cards, contents: officer cards}, needs: [seal-cards]}
  - {id: inspect-cards, bag: {event: inspect, label: cards, contents: cards}, needs: [open-cards]}
  - {id: open-again, bag: {event: open, label: cards, contents: officer cards}, needs: [inspect-cards]}
  - {id: open-laptop, bag: {event: open, label: laptop, contents: laptop}, needs: [open-again]}
"""


def test_a_bag_nobody_saw_sealed_is_opened_only_with_an_exception(
    ceremony: Callable[..., tuple[CliResult, Path]], tmp_path: Path, cli: Cli
) -> None:
    """Sealed earlier in the run and opened: no exception. Inspected or opened again after it
    was opened, or opened with no seal anywhere: an exception, answered like a wrong number,
    on the step the actor and the witness initial; the record prints it."""
    plan = tmp_path / "bags.yaml"
    plan.write_text(BAGS)
    bag = {"evidence": {"bag_id": "TEB-1", "intact": "yes"}}
    decided = {**bag, "exception": {"decision": "photographed; security called"}}
    given = {
        "operator": "Kim Min",
        "participants": sheet()[:2],
        "initials": {"actor": "KM", "witness": "LJ"},
        "attestations": {"KM": {"agree": True}, "LJ": {"agree": True}},
        "steps": {
            "seal-cards": {"evidence": {"bag_id": "TEB-1"}},
            "open-cards": bag,
            "inspect-cards": decided,
            "open-again": decided,
            "open-laptop": decided,
        },
    }
    answers_file = tmp_path / "bags-answers.yaml"
    answers_file.write_text(yaml.safe_dump(given))
    result = cli.run(plan, answers=answers_file, mode="drill")
    assert result.code == 0, result.err
    record = build_record(result.run_dir)
    found = {e["step"]: e for e in record["exceptions"]}
    assert sorted(found) == ["inspect-cards", "open-again", "open-laptop"]  # not open-cards
    assert found["inspect-cards"]["happened"] == (
        "bag cards (TEB-1) inspected with no witnessed seal: opened at step open-cards of this "
        "ceremony and not sealed since"
    )
    assert "opened at step open-cards" in found["open-again"]["happened"]
    assert found["open-laptop"]["happened"].endswith("no witnessed seal: no previous record given")
    assert "under a witnessed seal" in found["open-laptop"]["expected"]
    assert {e["decision"] for e in found.values()} == {"photographed; security called"}
    steps = {s["id"]: s for s in record["steps"]}
    assert (steps["open-laptop"]["actor"], steps["open-laptop"]["witness"]) == ("KM", "LJ")
    md = to_markdown(record)
    assert "exception #3 at `open-laptop`: expected bag laptop under a witnessed seal" in md
    assert "(decided by Kim Min (KM, administrator); actor KM, witness LJ)" in md
    assert "| laptop | TEB-1 | laptop (intact; NO WITNESSED SEAL: no previous record given) |" in md
    assert "<td>actor KM, witness LJ</td>" in to_html(record)
    # a previous ceremony that left the cards opened (its last seal broken) proves no seal
    given = answers()
    given["inputs"] = {"previous_record": str(result.run_dir)}
    result, run_dir = ceremony(given)
    assert result.code == 0, result.err
    (exc,) = build_record(run_dir)["exceptions"]
    assert exc["step"] == "open-cards"
    assert exc["happened"].endswith("no witnessed seal: the previous records leave it with no seal")


def test_a_mistyped_previous_record_is_refused_before_a_run_exists(
    ceremony: Callable[..., tuple[CliResult, Path]], tmp_path: Path
) -> None:
    """Found at the first bag, a wrong path stopped the ceremony with that bag opened in the
    room and not in the record, after sign-in and approvals; then it stopped before anyone
    signed in, but left an interrupted, 'resumable' run that said to start again. Now a
    headless start refuses it as the console's start form does: no run directory is made."""
    given = answers()
    given["inputs"] = {"previous_record": str(tmp_path / "no-such-run")}
    result, _ = ceremony(given)
    assert result.code == 2, result.out + result.err
    assert "previous record: cannot read" in result.err
    assert "give the run directory or record.json of the ceremony" in result.err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_the_record_says_who_decided_what_was_found_and_chosen(
    ceremony: Callable[..., tuple[CliResult, Path]],
) -> None:
    """The signed page names the administrator who decided each exception, keeps what drconsole
    found beside what the person noted (the bag's number was lost when a note was typed), prints
    a long choice (left out over 80 characters), yes and no (not True), and the inputs (which
    previous record the bags were compared with)."""
    given = answers()
    given["steps"]["open-cards"]["exception"] = {
        "happened": "first ceremony", "decision": "accepted: sealed at delivery",
    }  # fmt: skip
    where = "locked in the room safe until the escorted transfer, recorded as a deviation (B)"
    plan_text = PLAN.replace("options: [safe A, safe B]", f'options: [safe A, "{where}"]')
    plan_text = plan_text.replace("inputs:\n", "inputs:\n  copy: {type: string, default: usb-b}\n")
    given["steps"]["where"] = {"evidence": {"choice": where}}
    result, run_dir = ceremony(given, plan_text=plan_text)
    assert result.code == 0, result.err
    record = build_record(run_dir)
    (exc,) = record["exceptions"]
    assert exc["happened"] == (
        "bag cards (TEB-0001) opened with no witnessed seal: no previous record given; "
        "noted: first ceremony"
    )
    md, page = to_markdown(record), to_html(record)
    assert "(decided by Kim Min (KM, administrator); actor KM, witness LJ)" in md
    assert "<td>Kim Min (KM, administrator)</td>" in page
    assert f"choice={where}" in md
    assert f"choice={where}" in page
    assert "| confirmed=yes |" in md
    # a failed step says why, on paper too
    assert "| failed: continued (exception #1 recorded; the ceremony goes on) |" in md
    assert "<td>failed: continued (exception #1 recorded; the ceremony goes on)</td>" in page
    # a step run again (an operator's retry after a cancelled confirmation) says so
    assert record["steps"][0]["attempts"] == 1
    record["steps"][0]["attempts"] = 2
    assert "| room (`room`) | succeeded, attempt 2 |" in to_markdown(record)
    assert "## Inputs\n\n- copy: `usb-b`" in md
    assert "<td>copy</td><td>usb-b</td>" in page
    assert "<td colspan='3'>none</td>" in page  # no breaks: said, not an empty grid


def test_a_signer_who_types_initials_is_told_to_type_the_full_name(
    ceremony: Callable[..., tuple[CliResult, Path]],
) -> None:
    """'SS is not signed in to this ceremony' read as if Sam Secure were not in the room."""
    given = answers()
    given["steps"]["approve"] = {"signoffs": [{"name": "JR", "role": "security_officer"}]}
    result, run_dir = ceremony(given)
    assert result.code == 1
    refused = [e.data["reason"] for e in read_events(run_dir) if e.type == "refused"]
    assert refused
    assert refused[0].startswith("JR are Jung Ra's initials: type the full name")


def test_no_stray_key_stops_an_hsm_ceremony_at_a_manual_step() -> None:
    """An Escape on the quarterly test's typed confirmation ended the ceremony with the backup
    decrypted on the laptop, the shred 'not run' and the copy unsealed: a manual step that is
    not confirmed asks (retry, continue, abort) in the three HSM plans."""
    from drconsole.plans.model import OnFailure
    from drconsole.plans.validate import load_plan

    plans = sorted(Path(__file__).parents[2].joinpath("plans").glob("hsm-*.yaml"))
    assert len(plans) == 3
    for path in plans:
        plan = load_plan(path).plan
        assert plan is not None
        manual = [s for s in plan.steps if s.manual]
        assert manual
        assert {s.id: s.on_failure for s in manual} == {s.id: OnFailure.ASK for s in manual}


def test_a_recorded_value_that_differs_is_an_exception(
    ceremony: Callable[..., tuple[CliResult, Path]],
) -> None:
    given = answers()
    given["steps"]["serial"] = {
        "evidence": {"serial": "ABC999"},
        "exception": {"decision": "label misprinted; vendor to confirm"},
    }
    result, run_dir = ceremony(given)
    assert result.code == 0
    (exc,) = [e for e in build_record(run_dir)["exceptions"] if e["step"] == "serial"]
    assert exc["expected"] == "serial = ABC123"
    assert "ABC999" in exc["happened"]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"operator": "Lee Ji"}, "cannot also be the witness"),
        (
            {
                "participants": sheet()[:3],
                "attestations": {p.initials: {"agree": True} for p in PEOPLE[:3]},
            },
            "needs at least",
        ),
    ],
)
def test_a_sign_in_violation_stops_before_any_step(
    ceremony: Callable[..., tuple[CliResult, Path]], change: dict[str, Any], words: str
) -> None:
    given = answers()
    given.update(change)
    result, run_dir = ceremony(given)
    assert result.code == 1  # stopped, resumable once the sheet is right
    assert "resume" in result.out
    events = list(read_events(run_dir))
    assert not [e for e in events if e.type == "step_started"]
    refused = [
        e.data["reason"] for e in events if e.type == "refused" and e.data["step"] == "sign-in"
    ]
    assert refused
    assert words in refused[0]
    assert words in result.err or words in result.out


def test_someone_elses_card_breaks_the_quorum(
    ceremony: Callable[..., tuple[CliResult, Path]],
) -> None:
    given = answers()
    given["steps"]["quorum"] = {
        "quorum": [{"initials": "PS", "token": "card-2"}, {"initials": "CH", "token": "card-1"}]
    }
    result, run_dir = ceremony(given)
    assert result.code == 1
    record = build_record(run_dir)
    step = next(s for s in record["steps"] if s["id"] == "quorum")
    assert step["status"] == "failed"
    assert "Choi Ha's" in step["error"]
    assert next(s for s in record["steps"] if s["id"] == "move-keys")["status"] == "pending"


def test_the_witness_cannot_initial_as_actor_and_witness(
    ceremony: Callable[..., tuple[CliResult, Path]],
) -> None:
    given = answers()
    given["steps"]["room"] = {"confirm": True, "initials": {"actor": "LJ", "witness": "LJ"}}
    result, run_dir = ceremony(given)
    assert result.code == 1
    step = build_record(run_dir)["steps"][0]
    assert step["status"] == "failed"
    assert "cannot witness their own step" in step["error"]


def test_only_signed_in_people_approve(ceremony: Callable[..., tuple[CliResult, Path]]) -> None:
    given = answers()
    given["steps"]["approve"] = {
        "signoffs": [{"name": "Somebody Else", "role": "security_officer"}]
    }
    result, run_dir = ceremony(given)
    assert result.code == 1
    step = next(s for s in build_record(run_dir)["steps"] if s["id"] == "approve")
    assert "not signed in to this ceremony" in step["error"]


def test_breaks_are_recorded_and_never_leave_one_person_alone(tmp_path: Path) -> None:
    plan = tmp_path / "tiny.yaml"
    plan.write_text(PLAN)
    operator = AnswersOperator(AnswersFile.model_validate(answers()))

    async def go() -> dict[str, Any]:
        prepared = prepare_new(
            plan, runs_dir=tmp_path / "runs", operator=operator, mode=Mode.DRILL,
            given_inputs={},
        )  # fmt: skip
        engine = prepared.engine
        assert await engine.ceremony.sign_in() is None
        engine.ceremony.leave("PS", "phone call")
        engine.ceremony.leave("CH", "break")
        engine.ceremony.leave("JR", "break")
        with pytest.raises(CeremonyError, match="2 people must be in the room"):
            engine.ceremony.leave("LJ", "break")
        engine.ceremony.come_back("PS")
        with pytest.raises(CeremonyError, match="not recorded as out"):
            engine.ceremony.come_back("PS")
        with pytest.raises(CeremonyError, match="escape sequence"):
            engine.ceremony.leave("LJ", "break\x1b[2J")
        with pytest.raises(CeremonyError, match="bidirectional override"):
            engine.ceremony.note_exception(None, "", "fire \u202ealarm", "paused")
        engine.ceremony.note_exception(None, "", "fire alarm test at 10:02", "paused 5 minutes")
        engine.ceremony.come_back("CH")
        engine.ceremony.come_back("JR")
        await engine.run()
        return build_record(prepared.run_dir)

    record = asyncio.run(go())
    assert [(e["initials"], e["present"]) for e in record["presence"]] == [
        ("PS", False), ("CH", False), ("JR", False), ("PS", True), ("CH", True), ("JR", True)
    ]  # fmt: skip
    assert record["exceptions"][0]["happened"] == "fire alarm test at 10:02"
    assert record["result"] == "succeeded"


def test_the_exported_record_holds_every_step_initial_time_and_the_final_hash(
    ceremony: Callable[..., tuple[CliResult, Path]], cli: Cli, tmp_path: Path
) -> None:
    given = answers()
    given["attestations"]["PS"] = {"agree": False, "reason": "the camera was off at step 4"}
    _, run_dir = ceremony(given)
    final = verify(run_dir).final_hash
    record = build_record(run_dir)
    md, page = to_markdown(record), to_html(record)
    for text in (md, page):
        assert final in text
        assert record["plan"]["sha256"] in text
        for step in record["steps"]:
            assert step["id"] in text
            if step["actor"]:
                assert step["initialled_at"] in text
        for person in PEOPLE:
            assert person.name in text
        assert "the camera was off at step 4" in text
        assert "TEB-0001" in text
        assert "TEB-0002" in text
        assert "Officer cards" in text
    assert md.count("Signature: ____") == len(PEOPLE)
    assert page.count("<tr>") >= len(record["steps"]) + len(PEOPLE)
    # printed for pens: the signature and date boxes are blank (they read '-'), and the run's
    # facts have no heading row of dashes
    assert page.count("<td></td><td></td></tr>") == len(PEOPLE)
    assert "<th>-</th>" not in page
    assert "| 6 | move-keys (`move-keys`) | succeeded |" in md.replace("Move", "move")
    out = tmp_path / "record.html"
    assert cli("record", run_dir, "--format", "html", "--output", out).code == 0
    assert out.read_text().startswith("<!doctype html>")
    data = json.loads(cli("record", run_dir, "--format", "json").out)
    assert data["journal"]["final_hash"] == final


def test_record_refuses_a_run_that_is_not_a_ceremony(
    cli: Cli, write_plan: Callable[..., Path], tmp_path: Path
) -> None:
    plan = write_plan("id: p\ntitle: P\nkind: drill\nsteps:\n  - {id: a, milestone: m}\n")
    result = cli.run(plan)
    run_dir = result.run_dir
    refused = cli("record", run_dir)
    assert refused.code == 2
    assert "not a ceremony" in refused.err


def test_participants_are_told_before_they_attest_that_the_ceremony_stopped_early() -> None:
    from drconsole.engine.ceremony import _where_it_stands
    from drconsole.runs.state import RunState, StepStatus

    state = RunState()
    state.step("seal").status = StepStatus.SUCCEEDED
    assert _where_it_stands(state) == ""
    checksum = state.step("checksum")
    checksum.status, checksum.error = StepStatus.FAILED, "no checksum file key.enc.sha256"
    state.step("verify")  # pending: never ran
    said = _where_it_stands(state)
    assert said.startswith("THE CEREMONY STOPPED BEFORE ITS END: step checksum failed (no checksum")
    assert "1 step(s) not run: verify" in said


def test_a_failed_step_is_initialled_and_a_later_choice_says_it_failed(
    ceremony: Callable[..., tuple[CliResult, Path]],
) -> None:
    """The quarterly test's key-restored check failed, nobody initialled it and the result
    'passed: ...' was chosen later: the witness now initials the failure as shown, and the
    choice made after it carries the failure into the record beside it (not blocked)."""
    plan = PLAN.replace(
        "    key_material: true\n    needs: [serial]",
        "    key_material: true\n    on_failure: continue\n    needs: [serial]",
    )
    given = answers()
    given["steps"]["move-keys"] = {"confirm": False}
    result, run_dir = ceremony(given, plan_text=plan)
    assert result.code == 1, result.err  # the failed step fails the ceremony's result
    evs = list(read_events(run_dir))
    initialled = {e.data["step"] for e in evs if e.type == "initials"}
    assert "move-keys" in initialled
    asked = [
        e.data["about"]
        for e in evs
        if e.type == "question_asked" and e.data.get("question") == "initials"
    ]
    assert "Result: failed: the operator did not confirm this step" in asked
    record = build_record(run_dir)
    where = next(s for s in record["steps"] if s["id"] == "where")
    assert where["said"] == [
        "choice=safe A",
        "failed_before=move-keys: the operator did not confirm this step",
    ]
    moved = next(s for s in record["steps"] if s["id"] == "move-keys")
    assert (moved["actor"], moved["witness"]) == ("KM", "LJ")
    assert "failed_before=move-keys" in to_markdown(record)


# the small ceremony's header, with one step that never touches the cards
LAPTOP_ONLY = PLAN.split("steps:")[0].replace("tiny-ceremony", "laptop-ceremony") + (
    "steps:\n  - {id: seal-laptop, bag: {event: seal, label: laptop, contents: laptop}}\n"
)


def laptop_answers(tmp_path: Path, previous: Path) -> Path:
    """The answers file of a ceremony that seals the laptop, naming ``previous``."""
    laptop = {
        "operator": "Kim Min",
        "participants": sheet(),
        "initials": {"actor": "KM", "witness": "LJ"},
        "attestations": {p.initials: {"agree": True} for p in PEOPLE},
        "inputs": {"previous_record": str(previous)},
        "steps": {"seal-laptop": {"evidence": {"bag_id": "TEB-0100"}}},
    }
    answers_file = tmp_path / "laptop-answers.yaml"
    answers_file.write_text(yaml.safe_dump(laptop))
    return answers_file


def laptop_ceremony(cli: Cli, tmp_path: Path, previous: Path) -> tuple[Path, Path]:
    """B: a ceremony naming ``previous`` that seals only the laptop (never the cards); its run
    directory and its exported record.json."""
    plan = tmp_path / "laptop.yaml"
    plan.write_text(LAPTOP_ONLY)
    answers_file = laptop_answers(tmp_path, previous)
    second = cli.run(plan, answers=answers_file, mode="drill")
    assert second.code == 0, second.err
    exported = tmp_path / "second.json"
    assert cli("record", second.run_dir, "--format", "json", "--output", exported).code == 0
    return second.run_dir, exported


def test_a_bag_sealed_two_ceremonies_ago_is_found_through_each_previous_record(
    ceremony: Callable[..., tuple[CliResult, Path]], tmp_path: Path, cli: Cli
) -> None:
    """The cards sealed in A; B (naming A) never touches them; C names B and opens the cards:
    B's own previous record is followed back to A's seal, and C says which ceremony sealed
    them. Records that name each other in a cycle are refused."""
    from drconsole.runs.read import PreviousRecordError, previous_seals

    _, first = ceremony(answers())  # A: seals the cards in TEB-0002
    first_id = build_record(first)["run_id"]
    second, exported = laptop_ceremony(cli, tmp_path, first)
    for previous in (second, exported):  # C names B: its run directory or its JSON
        given = answers()
        given["inputs"] = {"previous_record": str(previous)}
        given["steps"]["open-cards"] = {"evidence": {"bag_id": "TEB-0002", "intact": "yes"}}
        result, run_dir = ceremony(given)
        assert result.code == 0, result.err
        record = build_record(run_dir)
        assert record["exceptions"] == []  # was: no witnessed seal, an exception
        opened = next(b for b in record["bags"] if b["event"] == "open")
        assert opened["previous"] == "TEB-0002"
        assert opened["previous_source"].startswith(f"sealed 2 ceremonies ago (run {first_id}, 20")
    cycle = tmp_path / "cycle.json"
    cycle.write_text(json.dumps({"run_id": "x", "bags": [], "previous_record": str(cycle)}))
    with pytest.raises(PreviousRecordError, match="cycle"):
        previous_seals(cycle)


def test_an_older_record_no_longer_there_leaves_its_bags_unsealed_not_the_ceremony_refused(
    ceremony: Callable[..., tuple[CliResult, Path]], tmp_path: Path, cli: Cli
) -> None:
    """C names B's exported record.json; B names A by a path that is gone (A was moved, or B's
    record was carried from another machine). B is read, so C runs: the cards, sealed only in
    A, are opened with an exception that says A's record is not there. Before, the missing
    ancestor refused C outright, with no way to start it but to edit B's signed record."""
    _, first = ceremony(answers())  # A: seals the cards in TEB-0002
    second, exported = laptop_ceremony(cli, tmp_path, first)
    first.rename(tmp_path / "archived-run")  # A's record is no longer where B named it
    given = answers()
    given["inputs"] = {"previous_record": str(exported)}
    given["steps"]["open-cards"] = {
        "evidence": {"bag_id": "TEB-0002", "intact": "yes"},
        "exception": {"decision": "A's record fetched from the archive; seal checked by hand"},
    }
    result, run_dir = ceremony(given)
    assert result.code == 0, result.out + result.err
    (exc,) = build_record(run_dir)["exceptions"]
    assert exc["step"] == "open-cards"
    assert f"{first} (named by {exported}) is not there" in exc["happened"]


def test_a_resumed_ceremony_whose_previous_record_is_gone_is_not_told_nothing_was_done(
    ceremony: Callable[..., tuple[CliResult, Path]], tmp_path: Path, cli: Cli
) -> None:
    """The previous record is checked again on a resume (before the steps go on). By then the
    participants signed in and steps ran, bags may be open: 'Nothing was done: start the
    ceremony again' sent the room to a fresh ceremony and left this one's record unfinished."""
    _, first = ceremony(answers())
    plan = tmp_path / "soak.yaml"
    plan.write_text(LAPTOP_ONLY + "  - {id: soak, wait: 60s, needs: [seal-laptop]}\n")
    answers_file = laptop_answers(tmp_path, first)
    args = [str(plan), "--headless", "--answers", str(answers_file), "--mode", "drill"]
    proc, run_dir = start_run([*args, "--runs-dir", str(tmp_path / "soak-runs")], step="soak")
    kill_run(proc)
    first.rename(tmp_path / "moved-away")
    resumed = cli("resume", run_dir, "--headless", "--answers", answers_file)
    assert resumed.code == 1
    assert "previous ceremony record: cannot read" in resumed.out
    assert "Nothing was done" not in resumed.out
    assert "signed in and steps ran: nothing is undone" in resumed.out
    assert f"drconsole resume {run_dir}" in resumed.out
