"""``drconsole validate``: every kind of bad plan gets ``path:line:col: message``, exit 2, never a
traceback: mistakes, hostile files (alias bombs, deep nesting, huge cycles, huge numbers), and a
destructive step that can start before a guard on the same site has decided."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from drconsole.plans.validate import validate_text
from tests.conftest import REPO, Cli

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


def problems(cli: Cli, path: Path) -> list[str]:
    result = cli("validate", path)
    assert result.code == 2, result
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    for line in lines:
        assert line.startswith(f"{path}:"), line
    return lines


def test_a_good_plan_validates(cli: Cli, write_plan: Callable[..., Path]) -> None:
    path = write_plan(GOOD)
    result = cli("validate", path)
    assert result.code == 0
    assert "ok (3 steps, offline-capable)" in result.out


@pytest.mark.parametrize("plan", sorted((REPO / "plans").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_plan_validates(cli: Cli, plan: Path) -> None:
    result = cli("validate", plan)
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
            ":7:12: local.sleep parameter 'seconds': Input should be greater than or equal to 0",
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
        (  # an input's check must be a step of the plan ...
            "id: x\ntitle: T\nkind: drill\ninputs:\n  f: {type: string, check: nope}\n"
            "steps:\n  - {id: a, manual: m}\n",
            ":5:21: check: no step 'nope' in this plan",
        ),
        (  # ... that only reads ...
            "id: x\ntitle: T\nkind: drill\ninputs:\n  f: {type: string, check: a}\n"
            "steps:\n  - {id: a, action: local.command, with: {argv: [echo, '${inputs.f}']}}\n",
            "check: step 'a' is not a read-only action or check",
        ),
        (  # ... needs no step's output, since it runs before any step ...
            "id: x\ntitle: T\nkind: drill\ninputs:\n  f: {type: string, check: b}\nsteps:\n"
            "  - {id: a, check: local.http_check, with: {url: 'http://127.0.0.1:9/'}}\n"
            "  - {id: b, check: local.http_check, with: {url: '${steps.a.outputs.url}/${inputs.f}'}, needs: [a]}\n",
            "check: step 'b' needs other steps' outputs",
        ),
        (  # ... and looks at the input it checks
            "id: x\ntitle: T\nkind: drill\ninputs:\n  f: {type: string, check: a}\n"
            "steps:\n  - {id: a, check: local.http_check, with: {url: 'http://127.0.0.1:9/'}}\n",
            "check: step 'a' does not use ${inputs.f}",
        ),
    ],
)
def test_bad_plans_are_rejected_with_a_position(
    cli: Cli, write_plan: Callable[..., Path], text: str, expected: str
) -> None:
    path = write_plan(text)
    found = problems(cli, path)
    assert any(expected in line for line in found), found


def test_every_problem_is_reported_not_just_the_first(
    cli: Cli, write_plan: Callable[..., Path]
) -> None:
    path = write_plan(
        "id: x\ntitle: T\nkind: drill\nsteps:\n"
        "  - {id: a, action: local.nope}\n  - {id: b, manual: m, needs: [zz]}\n"
    )
    found = problems(cli, path)
    assert len(found) == 2


def test_a_missing_file_and_a_non_mapping_are_clear(
    cli: Cli, write_plan: Callable[..., Path], tmp_path: Path
) -> None:
    assert "no such file" in problems(cli, tmp_path / "absent.yaml")[0]
    assert "a plan is a mapping" in problems(cli, write_plan("- just\n- a list\n"))[0]


def test_schema_is_json_schema_for_editors(cli: Cli) -> None:
    result = cli("schema")
    schema = json.loads(result.out)
    assert result.code == 0
    assert "steps" in schema["properties"]
    step = schema["$defs"]["Step"]["properties"]
    assert {"action", "check", "manual", "approval", "wait", "milestone", "with"} <= set(step)


# A destructive step against a guard on the same site --------------------------------------

RACE = """
id: race
title: A failover whose restore races the guarded promotion
kind: failover
steps:
  - id: writes
    check: local.http_check
    with: {url: "http://127.0.0.1:9/"}
  - id: promote
    action: local.command
    site: dr
    with: {argv: ["true"]}
    guard:
      refuse_when: "${steps.writes.outputs.status}"
      because: the primary still answers
      override: GO ANYWAY
    destructive: true
    confirm: promote
    needs: [writes]
  - id: restore
    action: vault.seal
    site: dr
    confirm: seal dr
    needs: [writes]
"""


def test_a_destructive_step_racing_a_guard_on_its_site_is_refused_at_its_needs(
    cli: Cli, write_plan: Callable[..., Path]
) -> None:
    found = problems(cli, write_plan(RACE))
    assert len(found) == 1, found
    assert (
        ":23:5: destructive step 'restore' on site 'dr' can start before the guard of "
        in (found[0])
    )
    assert "'may_run_before_guard: [promote]'" in found[0]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('    needs: [writes]\n"""', ""),  # placeholder, replaced below
    ][:0]
    + [
        # waits for the guard's decision
        ("confirm: seal dr\n    needs: [writes]", "confirm: seal dr\n    needs: [promote]"),
        # says it may run first
        ("confirm: seal dr\n", "confirm: seal dr\n    may_run_before_guard: [promote]\n"),
        # another site
        ("action: vault.seal\n    site: dr", "action: vault.seal\n    site: primary"),
        # the guarded step needs it: it runs first by the plan's own order
        ("    needs: [writes]\n  - id: restore", "    needs: [restore]\n  - id: restore"),
    ],
    ids=["waits", "allowed", "other-site", "upstream"],
)
def test_a_destructive_step_that_waits_or_is_allowed_passes(
    cli: Cli, write_plan: Callable[..., Path], old: str, new: str
) -> None:
    assert old in RACE
    result = cli("validate", write_plan(RACE.replace(old, new)))
    assert result.code == 0, result.err


WAITS = "confirm: seal dr\n    needs: [promote]"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "confirm: seal dr\n    needs: [writes]",
            f"{WAITS}\n    always: true",
            ":24:5: destructive step 'restore' has 'always: true': it runs even when the guard",
        ),
        (
            "confirm: promote\n",
            "confirm: promote\n    on_failure: continue\n",
            ":18:5: guarded step 'promote' has 'on_failure: continue': a refusal would let the "
            "destructive 'restore' run",
        ),
        (
            "confirm: seal dr\n",
            "confirm: seal dr\n    may_run_before_guard: [writes]\n",
            ":23:28: 'writes' is not a guarded step",
        ),
    ],
    ids=["always", "continue", "not-a-guard"],
)
def test_the_ways_round_a_guard_are_named(
    cli: Cli,
    write_plan: Callable[..., Path],
    old: str,
    new: str,
    expected: str,
) -> None:
    text = RACE.replace(old, new)
    if "on_failure" in new:  # the restore waits for the promotion, whose refusal lets it on
        text = text.replace("confirm: seal dr\n    needs: [writes]", WAITS)
    found = problems(cli, write_plan(text))
    assert any(expected in line for line in found), found


def test_sites_by_reference_are_the_same_site_when_written_the_same(
    cli: Cli, write_plan: Callable[..., Path]
) -> None:
    by_ref = RACE.replace("site: dr", 'site: "${inputs.site}"').replace(
        "steps:\n", "inputs:\n  site: {type: choice, choices: [primary, dr]}\nsteps:\n", 1
    )
    found = problems(cli, write_plan(by_ref))
    assert ":25:5: destructive step 'restore' on site '${inputs.site}'" in found[0], found
    # ${inputs.site} may or may not be dr: validate cannot tell, so it does not refuse
    mixed = by_ref.replace(
        'action: vault.seal\n    site: "${inputs.site}"', "action: vault.seal\n    site: dr"
    )
    assert "action: vault.seal\n    site: dr" in mixed
    assert cli("validate", write_plan(mixed)).code == 0


# Hostile files -------------------------------------------------------------------------------

BOMB = (
    "id: bomb\ntitle: T\nkind: drill\n"
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{x}: &{x} [{','.join([f'*{p}'] * 9)}]\n" for p, x in itertools.pairwise("abcdefghi")
    )
    + "steps: [{id: a, manual: m}]\n"
)


def test_an_alias_bomb_is_refused_fast(cli: Cli, write_plan: Callable[..., Path]) -> None:
    assert len(BOMB.encode()) <= 440  # 9**9 "lol"s once expanded
    start = time.monotonic()
    found = problems(cli, write_plan(BOMB))
    assert time.monotonic() - start < 10  # it took 106 s and 7.9 GB before
    assert ":8:8: aliases repeat more than 10,000 values in all" in found[0], found


def _cycle(count: int) -> str:
    steps = "".join(
        f"  - {{id: s{i}, manual: m, needs: [s{(i + 1) % count}]}}\n" for i in range(count)
    )
    return f"id: x\ntitle: T\nkind: drill\nsteps:\n{steps}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "id: x\ntitle: T\nkind: drill\nsteps:\n  - id: a\n    action: local.sleep\n"
            "    with: {seconds: 1, x: " + "[" * 600 + "]" * 600 + "}\n",
            ":7:73: nested more than 50 levels deep",
        ),
        (
            "id: x\ntitle: T\nkind: drill\nsteps:\n"
            + "".join("  " * i + "a:\n" for i in range(2, 600)),
            ":53:101: nested more than 50 levels deep",
        ),
        (
            _cycle(10_000),
            ":5:25: dependency cycle of 10000 steps: s0 -> s1 -> s2 -> s3 -> s4 -> ...",
        ),
        (
            "id: x\ntitle: T\nkind: drill\nsteps:\n  - id: a\n    action: local.sleep\n"
            "    with: {seconds: " + "9" * 5000 + "}\n",
            ":7:21: a number of more than 30 digits; quote it if it is text",
        ),
        (
            "id: x\ntitle: T\nkind: drill\nsteps:\n  - id: a\n    action: local.sleep\n"
            "    with: {seconds: 1}\n    timeout: 99999999999999999999d\n",
            ":8:5: timeout: '99999999999999999999d' is too long; a duration is at most 366d",
        ),
        (
            "id: x\ntitle: T\nkind: drill\nsteps:\n  - {id: a, wait: .inf}\n",
            ":5:13: wait: inf is not a duration",
        ),
        (
            "id: x\ntitle: T\nkind: drill\ninputs:\n  grace: {type: duration, default: 9999999999d}\n"
            "steps:\n  - {id: a, manual: m}\n",
            ":5:27: default: input grace: '9999999999d' is too long",
        ),
        (
            "id: x\ntitle: T\nkind: drill\na: &a [1, *a]\nsteps:\n  - {id: a, manual: m}\n",
            ":4:11: alias *a stands inside its own anchor",
        ),
        (
            "id: x\ntitle: T\nkind: drill\nat: 2026-02-30\nsteps:\n  - {id: a, manual: m}\n",
            ":4:5: cannot read '2026-02-30': day is out of range for month",
        ),
        (
            "id: x\ntitle: T\nkind: drill\nsteps:\n  - id: a\n    action: local.command\n"
            '    with: {argv: [env], env: {"A=B": x, OK_1: y}}\n',
            ":7:25: local.command parameter 'env': environment variable name 'A=B'",
        ),
        (
            "id: x\ntitle: T\nkind: drill\nsteps:\n  - id: a\n    check: local.http_check\n"
            "    with: {url: 'http://127.0.0.1:9/'}\n    expect: 200\n",
            ":8:5: expect: Input should be a valid dictionary",
        ),
        (
            "id: x\ntitle: T\nkind: drill\nsteps:\n  - id: a\n    record:\n"
            "      serial: {expect: [1, 2]}\n",
            ":7:16: expect of a recorded value is one value",
        ),
        (
            "id: x\ntitle: T\nkind: drill\nsteps:\n  - id: a\n    check: local.file_sha256\n"
            "    with: {path: /etc/hostname, expect: not-hex}\n",
            ":7:33: local.file_sha256 parameter 'expect': expect must be 64 hexadecimal",
        ),
    ],
    ids=[
        "deep-flow",
        "deep-block",
        "cycle-10000",
        "5000-digits",
        "timeout-overflow",
        "infinite-wait",
        "input-default-overflow",
        "recursive-alias",
        "impossible-date",
        "env-name",
        "expect-not-a-mapping",
        "record-expect-not-a-value",
        "param-validator",
    ],
)
def test_hostile_and_broken_plans_exit_2_with_a_position(
    cli: Cli, write_plan: Callable[..., Path], text: str, expected: str
) -> None:
    found = problems(cli, write_plan(text))
    assert any(expected in line for line in found), found


def test_a_parameter_holding_a_reference_is_checked_when_known() -> None:
    text = (
        "id: x\ntitle: T\nkind: drill\ninputs:\n  n: {type: string, default: x}\nsteps:\n"
        "  - id: a\n    action: local.command\n"
        '    with: {argv: "${inputs.n}", env: {A: "${inputs.n}"}, ok_exit: [0]}\n'
    )
    assert validate_text(text).problems == []


SEVERITY_PLAN = "id: x\ntitle: T\nkind: restore\ninputs:\n  severity: {severity}\nsteps:\n  - {{id: a, manual: m}}\n"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            "{type: choice, choices: [P1, P2, P5]}",
            ":5:46: severity 'P5' is not one of the operations guide's",
        ),
        ("{type: choice, choices: [P1, sev2]}", ":5:42: severity 'sev2' is not one of"),
        ("{type: choice, choices: [p1, P2]}", ":5:38: severity 'p1' is not one of"),
        (
            "{type: string, default: P1}",
            ":5:14: the severity input is a choice of the operations guide's",
        ),
        ("{default: P2}", ":5:3: the severity input is a choice"),
    ],
)
def test_a_severity_the_guide_does_not_have_is_refused_at_its_place(
    cli: Cli, write_plan: Callable[..., Path], spec: str, expected: str
) -> None:
    path = write_plan(SEVERITY_PLAN.format(severity=spec))
    found = problems(cli, path)
    assert any(expected in line for line in found), found
    assert any("P1 full outage, P2 major function failed" in line or "[P1, P2, P3, P4]" in line
               for line in found), found  # fmt: skip


def test_the_guides_severities_validate_and_are_the_clocks_severities(
    cli: Cli, write_plan: Callable[..., Path]
) -> None:
    from drconsole.engine.clocks import SEVERITIES as CLOCKS
    from drconsole.plans.validate import SEVERITIES

    assert {k: v.meaning for k, v in CLOCKS.items()} == SEVERITIES
    path = write_plan(SEVERITY_PLAN.format(severity="{type: choice, choices: [P1, P2, P3, P4]}"))
    assert cli("validate", path).code == 0
