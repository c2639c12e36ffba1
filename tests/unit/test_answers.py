"""Answers files are held against the plan before anything runs: answers for steps the plan
does not have, or of a kind the step never asks, are refused by name; every secret the run will
need must be readable at launch; an unreadable file says which file and where."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from drconsole.adapters import registry
from drconsole.engine import policy
from drconsole.engine.answers import AnswersFile, fit_problems
from drconsole.engine.modes import Mode
from drconsole.plans.model import Plan
from tests.conftest import Cli, CliResult

PLAN = """
id: fits
title: Fits
kind: drill
steps:
  - id: brief
    manual: Brief everyone.
  - id: approve
    approval: {signers: 1, roles: [security_officer]}
    needs: [brief]
  - id: touch
    action: local.command
    with: {argv: [touch, MARKER]}
    needs: [approve]
  - id: unseal
    action: local.command
    with: {argv: ["true"]}
    needs: [touch]
"""

GOOD: dict[str, Any] = {
    "steps": {
        "brief": {"confirm": True},
        "approve": {"signoffs": [{"name": "Kim", "role": "security_officer"}]},
    }
}

Go = Cli


@pytest.fixture
def go(cli: Go, write_plan: Callable[..., Path], tmp_path: Path) -> Go:
    """Run the plan with these answers (a mapping, or the file's raw bytes)."""
    marker = tmp_path / "marker"
    plan = write_plan(PLAN.replace("MARKER", str(marker)))

    def run(answers: dict[str, Any] | bytes) -> CliResult:
        path = tmp_path / "answers.yaml"
        if isinstance(answers, bytes):
            path.write_bytes(answers)
        else:
            path.write_text(yaml.safe_dump(answers, allow_unicode=True))
        return cli.run(plan, answers=path, runs=tmp_path / "r")

    return run


def nothing_ran(tmp_path: Path) -> bool:
    return not (tmp_path / "marker").exists() and not (tmp_path / "r").exists()


def test_answers_that_fit_run(go: Go, tmp_path: Path) -> None:
    assert go(GOOD).code == 0
    assert (tmp_path / "marker").exists()


def test_answers_for_steps_the_plan_lacks_are_named(go: Go, tmp_path: Path) -> None:
    given = {"steps": {**GOOD["steps"], "aprove": {"confirm": True}, "later": {"confirm": True}}}
    result = go(given)
    assert result.code == 2
    assert "steps.aprove: plan fits has no step 'aprove' (did you mean 'approve'?)" in result.err
    assert "steps.later: plan fits has no step 'later'" in result.err
    assert "Traceback" not in result.err
    assert nothing_ran(tmp_path)


@pytest.mark.parametrize(
    ("step", "answer", "words"),
    [
        ("brief", {"signoffs": [{"name": "Kim", "role": "x"}]}, "steps.brief.signoffs: step "
         "'brief' (manual) never asks for signoffs"),
        ("approve", {"typed": "yes"}, "steps.approve.typed"),
        ("brief", {"on_failure": "continue"}, "steps.brief.on_failure"),
        ("brief", {"initials": {"actor": "A", "witness": "B"}}, "steps.brief.initials"),
        ("touch", {"quorum": [{"initials": "A", "token": "c"}]}, "steps.touch.quorum"),
    ],
)  # fmt: skip
def test_the_wrong_kind_of_answer_for_a_step_is_named(
    go: Go, tmp_path: Path, step: str, answer: dict[str, Any], words: str
) -> None:
    given = {"steps": {**GOOD["steps"]}}
    given["steps"][step] = {**given["steps"].get(step, {}), **answer}
    result = go(given)
    assert result.code == 2
    assert words in result.err
    assert nothing_ran(tmp_path)


def test_ceremony_answers_for_a_plan_that_is_not_a_ceremony(go: Go, tmp_path: Path) -> None:
    given = {**GOOD, "participants": [{"name": "Kim", "role": "a", "initials": "K"}]}
    result = go(given)
    assert result.code == 2
    assert "participants: plan fits is not a ceremony" in result.err


@pytest.mark.parametrize(
    ("ref", "words"),
    [
        ({"file": "/nonexistent/share2"}, "cannot read secret file /nonexistent/share2"),
        (
            {"env": "DRCONSOLE_TEST_NO_SHARE"},
            "environment variable DRCONSOLE_TEST_NO_SHARE is not set",
        ),
    ],
)
def test_a_missing_secret_is_named_before_the_first_step(
    go: Go, tmp_path: Path, ref: dict[str, str], words: str
) -> None:
    """The secret is needed by the last step; the step before it changes something. Nothing
    may run (no run directory, no marker) when the secret cannot be read."""
    good = tmp_path / "share1"
    good.write_text("share-one-value\n")
    given = {"steps": {**GOOD["steps"], "unseal": {"secrets": [{"file": str(good)}, ref]}}}
    result = go(given)
    assert result.code == 2
    assert f"steps.unseal: secret 2: {words}" in result.err
    assert "share-one-value" not in result.err
    assert nothing_ran(tmp_path)


def test_a_file_that_is_not_utf8_is_named(go: Go, tmp_path: Path) -> None:
    result = go(b"operator: Jos\xe9\n")
    assert result.code == 2
    assert f"answers file {tmp_path / 'answers.yaml'} is not UTF-8 text" in result.err
    assert "Traceback" not in result.err


def test_invalid_yaml_names_file_line_and_column(go: Go, tmp_path: Path) -> None:
    result = go(b"steps:\n  brief: {confirm: true\n  approve: [\n")
    assert result.code == 2
    assert f"{tmp_path / 'answers.yaml'}:3:" in result.err
    assert "not valid YAML" in result.err


def test_an_alias_bomb_is_refused(go: Go, tmp_path: Path) -> None:
    rows = [b'a: &a ["x","x","x","x","x","x","x","x","x"]']
    rows += [
        f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]".encode()
        for p, n in zip("abcde", "bcdef", strict=True)
    ]
    result = go(b"\n".join(rows) + b"\n")
    assert result.code == 2
    assert f"{tmp_path / 'answers.yaml'}:" in result.err
    assert "aliases repeat more than" in result.err


def test_control_characters_anywhere_in_the_file_are_refused(go: Go) -> None:
    given: dict[str, Any] = {**GOOD, "operator": "Kim\u202e"}
    result = go(given)
    assert result.code == 2
    assert "operator (Kim\\u202e) holds a bidirectional override" in result.err


def test_a_guard_without_its_own_override_gets_none_not_another_guards() -> None:
    from drconsole.engine.answers import AnswersFile, AnswersOperator
    from drconsole.engine.operator import Question

    answers = AnswersFile.model_validate(
        {"steps": {"promote": {"override": [{"typed": "PROMOTE ANYWAY", "reason": "drill"}]}}}
    )
    operator = AnswersOperator(answers)
    mine = Question("promote", "Promote", details={"override": "PROMOTE ANYWAY"})
    other = Question("promote", "Promote", details={"override": "PROMOTE A STALE STANDBY"})
    found = operator._override(mine)
    assert found is not None
    assert found.typed == "PROMOTE ANYWAY"
    assert operator._override(other) is None


@pytest.mark.parametrize("action", [*sorted(registry.actions()), "retired.action"])
def test_an_answers_file_may_answer_what_the_engine_asks(action: str) -> None:
    """The file is held against the engine's own policy: a step a resumed real run asks about
    (not safe to repeat; an action drconsole does not know included) may have its decision in
    the file, a destructive step its typed confirmation; any other step neither."""
    plan = Plan.model_validate(
        {"id": "p", "title": "P", "kind": "drill", "steps": [{"id": "s", "action": action}]}
    )
    (step,) = plan.steps
    given = {"on_interrupted": "rerun", "reason": "r", "typed": "s"}
    problems = fit_problems(AnswersFile.model_validate({"steps": {"s": given}}), plan)
    asked = {key for key in given if not any(f"steps.s.{key}:" in p for p in problems)}
    expected = set() if policy.idempotent(Mode.REAL, step) else {"on_interrupted", "reason"}
    if policy.destructive(step, registry.lookup(action)):
        expected.add("typed")
    assert asked == expected
