"""``drconsole validate``: every kind of bad plan gets ``path:line:col: message``, exit 1."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO, CliResult

GOOD = """
id: small
title: Small plan
kind: drill
objectives: {rto: 10m, rpo: 5m}
inputs:
  file: {type: string, required: true}
steps:
  - id: brief
    manual: Confirm everyone is present.
  - id: hash
    check: local.file_sha256
    with: {path: "${inputs.file}"}
    needs: [brief]
  - id: done
    milestone: service_restored
    needs: [hash]
"""


def problems(cli: Callable[..., CliResult], path: Path) -> list[str]:
    result = cli("validate", path)
    assert result.code == 1, result
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    for line in lines:
        assert line.startswith(f"{path}:"), line
    return lines


def test_a_good_plan_validates(
    cli: Callable[..., CliResult], write_plan: Callable[..., Path]
) -> None:
    path = write_plan(GOOD)
    result = cli("validate", path)
    assert result.code == 0
    assert "ok (3 steps, offline-capable)" in result.out


def test_every_shipped_plan_validates(cli: Callable[..., CliResult]) -> None:
    result = cli("validate", REPO / "plans")
    assert result.code == 0, result.err
    assert result.err == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id: x\ntitle: [unclosed\n", ":3:1: YAML syntax error"),
        (
            "id: x\ntitle: T\nkind: drill\nsteps:\n  - id: a\n    manual: m\n    colour: red\n",
            ":7:5: unknown key 'colour'",
        ),
        (
            "id: x\ntitle: T\nkind: drill\nsteps:\n  - id: a\n    manaul: m\n",
            ":5:5: a step needs exactly one of action, check, manual, approval, wait, milestone, "
            "checkbox, choice, record, bag, quorum (unknown key 'manaul')",
        ),
        ("id: x\ntitle: T\nkind: holiday\nsteps:\n  - {id: a, manual: m}\n", ":3:1: kind:"),
        (
            "id: x\ntitle: T\nkind: drill\nsteps:\n  - id: a\n    action: local.sleeep\n"
            "    with: {seconds: 1}\n",
            ":6:5: unknown action 'local.sleeep'; did you mean 'local.sleep'?",
        ),
        (
            "id: x\ntitle: T\nkind: drill\nsteps:\n  - id: a\n    action: local.sleep\n"
            "    with: {seconds: 1, second: 2}\n",
            ":7:24: local.sleep has no parameter 'second'",
        ),
        (
            "id: x\ntitle: T\nkind: drill\nsteps:\n  - id: a\n    action: local.sleep\n",
            ":5:5: local.sleep needs parameter 'seconds'",
        ),
        (
            "id: x\ntitle: T\nkind: drill\nsteps:\n  - id: a\n    action: local.sleep\n"
            "    with: {seconds: soon}\n",
            ":7:12: local.sleep parameter 'seconds': Input should be",
        ),
        (
            "id: x\ntitle: T\nkind: drill\nsteps:\n  - id: a\n    action: local.sleep\n"
            "    with: {seconds: -3}\n",
            "parameter 'seconds': must be at least 0",
        ),
        (
            "id: x\ntitle: T\nkind: drill\nsteps:\n  - {id: a, manual: m}\n  - {id: a, manual: n}\n",
            ":6:6: duplicate step id 'a'",
        ),
        (
            "id: x\ntitle: T\nkind: drill\nsteps:\n  - {id: a, manual: m, needs: [brif]}\n",
            ":5:32: needs unknown step 'brif'",
        ),
        (
            "id: x\ntitle: T\nkind: drill\nsteps:\n  - {id: a, manual: m, needs: [c]}\n"
            "  - {id: b, manual: m, needs: [a]}\n  - {id: c, manual: m, needs: [b]}\n",
            "dependency cycle: a -> c -> b -> a",
        ),
        (
            "id: x\ntitle: T\nkind: drill\nsteps:\n  - id: a\n    check: local.file_sha256\n"
            "    with: {path: '${inputs.nothing}'}\n",
            "${inputs.nothing}: no input 'nothing'",
        ),
        (
            "id: x\ntitle: T\nkind: drill\nsteps:\n  - id: a\n    check: local.file_sha256\n"
            "    with: {path: '${steps.ghost.outputs.x}'}\n",
            "no step 'ghost'",
        ),
        (
            "id: x\ntitle: T\nkind: drill\nsteps:\n  - {id: a, action: local.sleep, with: {seconds: 1}}\n"
            "  - id: b\n    check: local.file_sha256\n    with: {path: '${steps.a.outputs.slept_s}'}\n",
            "step 'b' must need 'a'",
        ),
        (
            "id: x\ntitle: T\nkind: drill\nsteps:\n  - {id: a, action: local.sleep, with: {seconds: 1}}\n"
            "  - id: b\n    check: local.file_sha256\n    needs: [a]\n"
            "    with: {path: '${steps.a.outputs.nope}'}\n",
            "step 'a' has no output 'nope'",
        ),
        (
            "id: x\ntitle: T\nkind: drill\nsteps:\n  - id: a\n    action: local.command\n"
            "    with: {argv: [rm, -rf, /tmp/x]}\n    destructive: true\n",
            "a destructive step needs 'confirm: <text>'",
        ),
        (
            "id: x\ntitle: T\nkind: drill\nsteps:\n  - id: a\n    check: local.command\n"
            "    with: {argv: [ls]}\n",
            "a check must be read-only",
        ),
        (
            "id: x\ntitle: T\nkind: drill\nobjectives: {rto: 1 hour}\nsteps:\n  - {id: a, manual: m}\n",
            ":4:14: rto: '1 hour' is not a duration",
        ),
        (
            "id: x\ntitle: T\nkind: drill\ninputs:\n  at: {type: timestamp, default: 'last tuesday'}\n"
            "steps:\n  - {id: a, manual: m}\n",
            "default: input at: 'last tuesday' is not a timestamp",
        ),
        (
            "id: x\ntitle: T\nkind: drill\ninputs:\n  at: {type: timestamp, default: '2026-11-26T03:00'}\n"
            "steps:\n  - {id: a, manual: m}\n",
            "has no time zone",
        ),
        (
            "id: x\ntitle: T\nkind: drill\nsteps:\n  - {id: a, wait: forever}\n",
            "'forever' is not a duration",
        ),
        (
            "id: x\ntitle: T\nkind: drill\nsteps:\n  - {id: a, manual: m}\nsteps: []\n",
            ":6:1: duplicate key 'steps'",
        ),
        (
            "id: x\ntitle: T\nkind: drill\nsteps:\n  - id: a\n    manual: m\n    action: local.sleep\n",
            "a step has one kind, this one has action and manual",
        ),
    ],
)
def test_bad_plans_are_rejected_with_a_position(
    cli: Callable[..., CliResult], write_plan: Callable[..., Path], text: str, expected: str
) -> None:
    path = write_plan(text)
    found = problems(cli, path)
    assert any(expected in line for line in found), found


def test_every_problem_is_reported_not_just_the_first(
    cli: Callable[..., CliResult], write_plan: Callable[..., Path]
) -> None:
    path = write_plan(
        "id: x\ntitle: T\nkind: drill\nsteps:\n"
        "  - {id: a, action: local.nope}\n  - {id: b, manual: m, needs: [zz]}\n"
    )
    found = problems(cli, path)
    assert len(found) == 2


def test_a_missing_file_and_a_non_mapping_are_clear(
    cli: Callable[..., CliResult], write_plan: Callable[..., Path], tmp_path: Path
) -> None:
    assert "no such file" in problems(cli, tmp_path / "absent.yaml")[0]
    assert "a plan is a mapping" in problems(cli, write_plan("- just\n- a list\n"))[0]


def test_schema_is_json_schema_for_editors(cli: Callable[..., CliResult]) -> None:
    result = cli("schema")
    schema = json.loads(result.out)
    assert result.code == 0
    assert "steps" in schema["properties"]
    step = schema["$defs"]["Step"]["properties"]
    assert {"action", "check", "manual", "approval", "wait", "milestone", "with"} <= set(step)
