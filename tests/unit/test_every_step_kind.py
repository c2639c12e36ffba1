"""Every step kind in engine/steps KINDS is dry-run and run (locally, no services) in a plan of
its own, headless with an answers file: parametrised over KINDS, so a kind added there is
picked up by itself (and fails here until it has a sample step below). The dry run calls
nothing and simulates the step; the run finishes it; every event of both reads as words that
name what it is about (test_events.ABOUT)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from drconsole.engine.steps import KINDS
from drconsole.journal.journal import read_events, verify
from tests.conftest import Cli
from tests.unit.test_ceremony import PEOPLE, sheet
from tests.unit.test_events import names_what_it_is_about

CEREMONY = {
    "roles": {
        "administrator": {"title": "runs it", "min": 1, "max": 1},
        "witness": {"title": "witnesses", "min": 1},
        "custodian": {"title": "holds a card", "min": 2},
        "security_officer": {"title": "approves", "min": 1},
    },
    "materials": [{"item": "Officer cards", "bag": "cards"}],
}
CEREMONY_ANSWERS = {
    "operator": "Kim Min",
    "participants": sheet(),
    "initials": {"actor": "KM", "witness": "LJ"},
    "attestations": {p.initials: {"agree": True} for p in PEOPLE},
}
# kind -> (the step without its id, what the answers file says for it, whether it is a
# ceremony's kind); MARKER is a file only the real run of an action creates
SAMPLES: dict[str, tuple[dict[str, Any], dict[str, Any], bool]] = {
    "action": ({"action": "local.command", "with": {"argv": ["touch", "MARKER"]}}, {}, False),
    "check": ({"check": "local.file_sha256", "with": {"path": "PLAN"}}, {}, False),
    "manual": ({"manual": "Switch the lights off."}, {"confirm": True}, False),
    "approval": (
        {"approval": {"signers": 1, "roles": ["security_officer"]}},
        {"signoffs": [{"name": "Jung Ra", "role": "security_officer"}]},
        False,
    ),
    "wait": ({"wait": "1s"}, {}, False),
    "milestone": ({"milestone": "data_recovered"}, {}, False),
    "checkbox": ({"checkbox": "The door is closed"}, {"confirm": True}, True),
    "choice": (
        {"choice": {"prompt": "Where do the cards go?", "options": ["safe A", "safe B"]}},
        {"evidence": {"choice": "safe A"}},
        True,
    ),
    "record": (
        {"record": {"serial": {"prompt": "HSM serial", "expect": "ABC123"}}},
        {"evidence": {"serial": "ABC123"}},
        True,
    ),
    "bag": (
        {"bag": {"event": "seal", "label": "${inputs.label}", "contents": "officer cards"}},
        {"evidence": {"bag_id": "TEB-0002"}},
        True,
    ),
    "quorum": (
        {"quorum": {"role": "custodian", "need": 2, "present": "card"}},
        {
            "quorum": [
                {"initials": "PS", "token": "card-1"},
                {"initials": "CH", "token": "card-2"},
            ],
            "initials": {"actor": "PS", "witness": "LJ"},
        },
        True,
    ),
}
STEP = "the-step"


def _plan_and_answers(tmp_path: Path, kind: str) -> tuple[Path, Path, Path]:
    assert kind in SAMPLES, f"step kind {kind!r} has no sample step in {__file__}: add one"
    body, answered, ceremony = SAMPLES[kind]
    marker, plan_path, answers_path = (tmp_path / n for n in ("marker", "plan.yaml", "ans.yaml"))
    text = yaml.safe_dump({"id": STEP, **body}).replace("MARKER", str(marker))
    step = yaml.safe_load(text.replace("PLAN", str(plan_path)))
    plan: dict[str, Any] = {"id": f"one-{kind}", "title": f"One {kind}", "kind": "drill"}
    plan["inputs"] = {"label": {"type": "string", "default": "cards"}}  # a step may refer to it
    answers: dict[str, Any] = {"steps": {STEP: answered} if answered else {}}
    if ceremony:
        plan |= {"kind": "ceremony", "ceremony": CEREMONY}
        answers |= CEREMONY_ANSWERS
    plan_path.write_text(yaml.safe_dump({**plan, "steps": [step]}))
    answers_path.write_text(yaml.safe_dump(answers))
    return plan_path, answers_path, marker


def _journal(run_dir: Path) -> list[Any]:
    assert verify(run_dir).ok
    events = list(read_events(run_dir))
    for event in events:  # each reads as words naming what it is about (its step, ...)
        names_what_it_is_about(event)
    return events


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_step_kind_dry_runs_and_runs(cli: Cli, tmp_path: Path, kind: str) -> None:
    plan, answers, marker = _plan_and_answers(tmp_path, kind)
    results = {}
    for mode in ("dry-run", "drill"):
        result = cli.run(plan, answers=answers, mode=mode, runs=tmp_path / mode)
        assert result.code == 0, (mode, result.out, result.err)
        assert "Traceback" not in result.err
        events = _journal(result.run_dir)
        (started,) = [e for e in events if e.type == "step_started" and e.data["step"] == STEP]
        assert started.data["kind"] == kind
        assert started.data["description"].strip()
        assert "${" not in started.data["description"]  # references read as what they name
        (finished,) = [e.data for e in events if e.type == "step_finished"]
        results[mode] = finished["status"]
        assert [e.data["result"] for e in events if e.type == "run_finished"] == ["succeeded"]
        if mode == "dry-run":
            assert not marker.exists()  # a dry run calls nothing
    assert results == {"dry-run": "simulated", "drill": "succeeded"}
    assert marker.exists() is (kind == "action")
