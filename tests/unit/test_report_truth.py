"""Reports and ceremony records tell the whole truth: they render every answer's shape (quorum
cards and shares as well as sign-offs), name steps by title, say who approved and which holder
presented which card, list every refusal, and count refusals, overrides and exceptions as
deviations. Every event type the engine writes renders in every format, and every run the suite
produces is reported (the ``_report_every_run`` fixture in conftest)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from drconsole.engine.events import (
    EventType,
    answer_text,
    attempt_text,
    describe,
    presence_text,
    refusal_text,
)
from drconsole.journal.journal import Event, JournalWriter
from drconsole.report import formats
from drconsole.report.build import build, to_markdown
from drconsole.report.record import build_record, to_html
from drconsole.report.record import to_markdown as record_markdown
from drconsole.runs.read import read_run
from tests.conftest import REPO, Cli
from tests.unit.test_ceremony import PLAN, answers

pytest_plugins = ["pytester"]

TITLED = PLAN.replace(
    "  - id: approve\n", "  - id: approve\n    title: The security officer approves\n"
).replace("  - id: quorum\n", "  - id: quorum\n    title: Two custodians present their cards\n")


def ceremony_run(cli: Cli, tmp_path: Path, given: dict[str, Any]) -> Path:
    plan, path = tmp_path / "tiny.yaml", tmp_path / "answers.yaml"
    plan.write_text(TITLED)
    path.write_text(yaml.safe_dump(given))
    result = cli.run(plan, answers=path, mode="drill", runs=tmp_path / "runs")
    return result.run_dir


def reports(cli: Cli, run_dir: Path) -> tuple[str, dict[str, Any]]:
    md, js = cli("report", run_dir), cli("report", run_dir, "--format", "json")
    assert (md.code, js.code) == (0, 0), (md.err, js.err)
    return md.out, json.loads(js.out)


def test_a_ceremony_with_a_quorum_reports_every_answer_by_step_title(
    cli: Cli, tmp_path: Path
) -> None:
    md, report = reports(cli, ceremony_run(cli, tmp_path, answers()))
    assert "| The security officer approves (approve) | succeeded |" in md
    assert "sign-off: Jung Ra (security_officer) (by Kim Min) |" in md
    assert "| Two custodians present their cards (quorum) | succeeded |" in md
    assert "quorum: PS: card card-1; CH: card card-2 (by Kim Min) |" in md
    assert "### Two custodians present their cards (quorum)" in md
    steps = {s["id"]: s for s in report["steps"]}
    assert steps["quorum"]["title"] == "Two custodians present their cards"
    assert steps["room"]["title"] is None  # untitled: named by id
    assert steps["quorum"]["answers"] == [
        {
            "question": "quorum",
            "answer": [{"card": "card-1", "initials": "PS"}, {"card": "card-2", "initials": "CH"}],
            "by": "Kim Min",
        }
    ]
    assert report["refusals"] == []
    # the one deviation: the cards' bag, which no record saw sealed, opened with an exception
    assert {d.split(":")[0] for d in report["deviations"]} == {
        "open-cards",
        "exception #1 at open-cards",
    }
    assert "## Refusals\n\n- none" in md


def test_the_record_says_who_approved_and_who_presented_which_card(
    cli: Cli, tmp_path: Path
) -> None:
    run_dir = ceremony_run(cli, tmp_path, answers())
    record = build_record(run_dir)
    steps = {s["id"]: s for s in record["steps"]}
    assert steps["approve"]["title"] == "The security officer approves"
    assert steps["approve"]["approved_by"] == ["Jung Ra (security_officer)"]
    assert steps["quorum"]["presented"] == [
        {"initials": "PS", "name": "Park Su", "presented": "card card-1"},
        {"initials": "CH", "name": "Choi Ha", "presented": "card card-2"},
    ]
    md = cli("record", run_dir).out
    assert (
        "| 3 | The security officer approves (`approve`) | succeeded | "
        f"{steps['approve']['initialled_at']} | KM | LJ | approved by Jung Ra (security_officer) |"
    ) in md
    assert (
        "| 4 | Two custodians present their cards (`quorum`) | succeeded | "
        f"{steps['quorum']['initialled_at']} | PS | LJ | "
        "PS (Park Su) presented card card-1; CH (Choi Ha) presented card card-2 |"
    ) in md
    page = cli("record", run_dir, "--format", "html").out
    assert "<td>approved by Jung Ra (security_officer)</td>" in page
    assert "<td>PS (Park Su) presented card card-1; CH (Choi Ha) presented card card-2</td>" in page


def test_a_refused_sign_off_is_in_the_report_the_record_and_the_deviations(
    cli: Cli, tmp_path: Path
) -> None:
    given = answers()
    given["steps"]["approve"] = {
        "signoffs": [{"name": "Somebody Else", "role": "security_officer"}]
    }
    run_dir = ceremony_run(cli, tmp_path, given)
    md, report = reports(cli, run_dir)
    (refusal,) = report["refusals"]
    assert refusal["step"] == "approve"
    assert refusal["title"] == "The security officer approves"
    assert refusal["question"] == "sign-off"
    assert "not signed in to this ceremony" in refusal["reason"]
    assert refusal["by"] == "Kim Min"
    assert refusal["at"].startswith("20")
    assert (
        f"| {refusal['at']} | The security officer approves (approve) | sign-off | "
        f"{refusal['reason']} | Kim Min |"
    ) in md
    assert any(
        d.startswith("The security officer approves (approve): sign-off refused: ")
        for d in report["deviations"]
    )
    assert "## Deviations\n\n- none" not in md
    record = build_record(run_dir)
    assert record["refusals"] == [refusal]
    assert refusal["reason"] in record_markdown(record)
    assert refusal["reason"] in to_html(record)


def test_exceptions_and_continued_steps_are_deviations(cli: Cli, tmp_path: Path) -> None:
    given = answers()
    given["steps"]["room"] = {
        "confirm": False,
        "exception": {"happened": "the door does not lock", "decision": "guard posted outside"},
    }
    _, report = reports(cli, ceremony_run(cli, tmp_path, given))
    assert report["result"] == "succeeded"
    assert (
        "exception #1 at room: expected The door is closed; happened: the door does not lock; "
        "decision: guard posted outside"
    ) in report["deviations"]
    assert any(d.startswith("room: continued past: exception #1") for d in report["deviations"])


# ----------------------------------------------------------------------------- every event type
PEOPLE = [{"name": "Kim Ha", "role": "security_officer"}, {"name": "Bob Lee", "role": "witness"}]
SIGN_IN = [
    {"name": "Kim Min", "role": "administrator", "affiliation": "Ops", "initials": "KM",
     "holds": []},
    {"name": "Park Su", "role": "custodian", "affiliation": "Sec", "initials": "PS",
     "holds": ["card-1"]},
]  # fmt: skip
# One event of each type, with the fields the engine writes (runs/state.py lists them).
SAMPLES: dict[str, dict[str, Any]] = {
    "run_resumed": {"operator": "kim", "pid": 4242, "interrupted": ["approve"]},
    "step_started": {
        "step": "approve", "kind": "approval", "attempt": 2, "params": {"n": 1},
        "description": "sign-off",
    },
    "attempt_failed": {
        "step": "approve", "attempt": 1, "of": 3, "error": "connection refused",
        "transient": True, "retry_in_s": 2.0,
    },
    "question_asked": {"step": "approve", "question": "sign-off", "who": "2 distinct signers"},
    "operator_answer": {"step": "approve", "question": "sign-off", "answer": PEOPLE, "by": "kim"},
    "refused": {
        "step": "quorum", "question": "quorum", "reason": "PS presented CH's card", "by": "kim",
    },
    "step_finished": {
        "step": "quorum", "status": "failed", "outputs": {"presented": [{"initials": "PS"}]},
        "error": "no quorum", "reason": "continued", "attempts": 1,
    },
    "milestone": {
        "step": "done", "name": "service_restored", "at": "2026-11-30T08:05:00Z",
        "recovery_point": "2026-11-30T07:59:00Z",
    },
    "clock": {
        "reason": "milestone service_restored", "rto_s": 300.0, "rto_status": "met",
        "rpo_s": 60.0, "rpo_status": "met",
    },
    "run_interrupted": {"reason": "signal SIGTERM"},
    "run_finished": {"result": "failed", "reason": "quorum failed"},
    "journal_repaired": {"dropped_bytes": 17, "dropped_sha256": "ab" * 32, "kept_in": "x"},
    "participants": {"participants": SIGN_IN},
    "presence": {
        "initials": "PS", "name": "Park Su", "present": False, "reason": "phone", "by": "KM",
    },
    "initials": {"step": "approve", "actor": "KM", "witness": "LJ"},
    "exception": {
        "number": 1, "step": None, "expected": "quiet room", "happened": "fire alarm",
        "decision": "paused", "by": "Kim Min",
    },
    "bag": {
        "step": "quorum", "event": "open", "label": "cards", "bag_id": "TEB-1",
        "contents": "cards", "intact": False, "previous": "TEB-0", "previous_source": "earlier",
    },
    "attestation": {"initials": "PS", "name": "Park Su", "agree": False, "reason": "camera off"},
    "faults_recorded": {"entries": [
        {"at": "2026-11-30T08:00:30Z", "action": "inject", "fault": "crashloop", "site": "dr",
         "who": {"operator": "fac", "host": "room"}, "done": ["api restarted"]},
        {"at": "2026-11-30T08:00:40Z", "action": "heal", "fault": "crashloop", "site": "dr",
         "who": {"operator": "fac", "host": "room"}, "done": []},
    ]},
}  # fmt: skip
ANSWERS = {
    "people": PEOPLE,
    "quorum": [{"initials": "PS", "share": "share-2"}, {"initials": "CH", "card": "card-1"}],
    "evidence": {"serial": "ABC123", "intact": "yes"},
    "text": "done",
    "guard refusal": "refused: the primary still accepts writes",
    "nothing": None,
    "nested": [{"a": [1, {"b": None}]}, "x", 3],
}


def write_run(tmp_path: Path, events: list[tuple[str, dict[str, Any]]]) -> Path:
    """A run directory holding the titled ceremony plan and a journal of ``events`` after
    its ``run_started``."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "plan.yaml").write_text(TITLED)
    journal = JournalWriter.create(run_dir)
    journal.append(
        "run_started",
        {
            "run_id": run_dir.name,
            "plan": {"id": "tiny-ceremony", "title": "A small ceremony", "kind": "ceremony",
                     "version": "7", "sha256": "0" * 64, "file": "tiny.yaml"},
            "mode": "drill", "operator": "kim", "yes": False, "inputs": {},
            "incident_at": "2026-11-30T08:00:00Z", "objectives": {"rto_s": 600, "rpo_s": None},
            "targets_file": None, "steps": ["approve", "quorum", "done"], "host": "h",
        },
    )  # fmt: skip
    for kind, data in events:
        journal.append(kind, data)
    journal.close()
    return run_dir


def render_everything(run_dir: Path) -> str:
    """Every format of the report and the record, joined."""
    run = read_run(run_dir)
    record = build_record(run)
    return "\n".join(
        [
            *(formats.render(run, fmt) for fmt in formats.FORMATS),  # a new format included
            record_markdown(record),
            to_html(record),
            json.dumps(record),
        ]
    )


@pytest.mark.parametrize("kind", [*SAMPLES, "all of them"])
def test_every_event_type_renders_in_every_format(tmp_path: Path, kind: str) -> None:
    events = list(SAMPLES.items()) if kind == "all of them" else [(kind, SAMPLES[kind])]
    assert "A small ceremony" in render_everything(write_run(tmp_path, events))


@pytest.mark.parametrize("shape", ANSWERS)
def test_every_shape_of_answer_renders_in_every_format(tmp_path: Path, shape: str) -> None:
    answer = {"step": "approve", "question": shape, "answer": ANSWERS[shape], "by": "kim"}
    text = render_everything(write_run(tmp_path, [("operator_answer", answer)]))
    assert shape in text


def test_the_samples_cover_every_event_type_the_engine_writes() -> None:
    assert {*SAMPLES, "run_started"} == {t.value for t in EventType}


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("operator_answer", answer_text),
        ("attempt_failed", attempt_text),
        ("refused", refusal_text),
        ("presence", presence_text),
    ],
)
def test_the_report_words_an_event_as_the_console_does(
    tmp_path: Path, kind: str, text: Callable[[dict[str, Any]], str]
) -> None:
    """An answer, a failed attempt, a refusal or a break reads in the report and the record
    as in the console's and the CLI's line for the same event (one text: engine/events)."""
    said = text(SAMPLES[kind])
    assert said in describe(Event(2, "2026-11-30T08:00:00Z", 0.0, kind, SAMPLES[kind], "", ""))
    run = read_run(write_run(tmp_path, [(kind, SAMPLES[kind])]))
    assert said in to_markdown(build(run)) + record_markdown(build_record(run))


# ----------------------------------------------------------------------------- the fixture
INNER_RUN = f"""
from drconsole.cli import main

def make_a_run(tmp_path):
    args = ["run", "{REPO / "plans" / "hello-drill.yaml"}", "--headless", "--mode", "dry-run",
            "--yes", "--input", "file=/etc/hostname", "--runs-dir", str(tmp_path / "runs")]
    assert main(args) == 0
"""


def test_the_fixture_reports_every_run_a_test_leaves_and_fails_it_when_one_breaks(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest("from tests.conftest import _isolated_home, _report_every_run")
    pytester.makepyfile(
        test_fine=INNER_RUN + "\ndef test_fine(tmp_path):\n    make_a_run(tmp_path)\n",
        test_broken=INNER_RUN
        + """
import pytest
from drconsole.report import formats

@pytest.fixture(scope="module", autouse=True)
def _breaks_the_report():  # torn down after the per-test fixture that reports
    kept = formats.RENDER["md"]
    formats.RENDER["md"] = lambda run: 1 / 0
    yield
    formats.RENDER["md"] = kept

def test_broken(tmp_path):
    make_a_run(tmp_path)
""",
    )
    # (the snapshot plugin's session end would remove the outer session's snapshot directory)
    result = pytester.inline_run("-p", "no:cacheprovider", "-p", "no:textual-snapshot")
    teardowns = {
        r.nodeid: r for r in result.getreports("pytest_runtest_logreport") if r.when == "teardown"
    }
    fine, broken = teardowns["test_fine.py::test_fine"], teardowns["test_broken.py::test_broken"]
    assert fine.passed
    assert ("runs_reported", 1) in fine.user_properties
    assert broken.failed
    assert "the report or record of" in str(broken.longrepr)
    assert "ZeroDivisionError" in str(broken.longrepr)


def test_the_record_finds_a_holder_on_the_sheet_whatever_the_initials_look_like(
    cli: Cli, tmp_path: Path
) -> None:
    given = answers()
    given["steps"]["quorum"]["quorum"] = [
        {"initials": "\u0420s", "token": "card-1"},  # Cyrillic Er, lower-case s
        {"initials": "ch", "token": "card-2"},
    ]
    record = build_record(ceremony_run(cli, tmp_path, given))
    (quorum,) = [s for s in record["steps"] if s["id"] == "quorum"]
    assert quorum["status"] == "succeeded"
    assert [p["name"] for p in quorum["presented"]] == ["Park Su", "Choi Ha"]


def test_a_step_a_finished_run_never_reached_is_not_run_in_the_report_and_the_record(
    cli: Cli, tmp_path: Path
) -> None:
    """As the run and watch screens say it ('– not run'), not 'pending' (which promised it
    would still come): the report's tables (wide and narrow, HTML) and a stopped ceremony's
    record. The JSON keeps the state's value; an unfinished run's steps are still pending."""
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "id: rows\ntitle: Rows\nkind: drill\nsteps:\n"
        "  - {id: breaks, action: local.command, with: {argv: ['false']}}\n"
        "  - {id: after, action: local.command, with: {argv: ['true']}, needs: [breaks]}\n"
    )
    run_dir = cli.run(plan, "--operator", "kim").run_dir
    report = build(run_dir)
    assert next(s for s in report["steps"] if s["id"] == "after")["status"] == "pending"
    for md in (to_markdown(report), to_markdown(report, narrow=True)):
        assert "| after | not run |" in md
        assert "pending" not in md
    assert "<td>after</td><td>not run</td>" in formats.render(read_run(run_dir), "html")
    given = answers()
    given["steps"]["quorum"] = {
        "quorum": [{"initials": "PS", "token": "card-2"}, {"initials": "CH", "token": "card-1"}]
    }  # someone else's card: the ceremony stops there
    record = build_record(ceremony_run(cli, tmp_path, given))
    assert "| move-keys (`move-keys`) | not run |" in record_markdown(record)
    assert "<td>not run</td>" in to_html(record)
