"""The engine through ``drconsole run --headless``: parallelism, retries, timeouts, failures,
confirmations, sign-offs, modes, and a journal that replays to the live state."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from drconsole.adapters.oscmd import free_port
from drconsole.journal.journal import Event, read_events, verify
from drconsole.runs.rundir import load_state
from tests.conftest import Cli, CliResult

Run = Callable[..., tuple[CliResult, Path, list[Event]]]


@pytest.fixture
def run(cli: Cli, write_plan: Callable[..., Path], tmp_path: Path) -> Run:
    """Write a plan and answers, run it headless, return the result, run dir and events."""

    def go(
        plan: str, answers: dict[str, Any] | None = None, *extra: str
    ) -> tuple[CliResult, Path, list[Event]]:
        path = write_plan(plan)
        args = ["run", path, "--headless", "--runs-dir", tmp_path / "runs", *extra]
        if answers is not None:
            answers_path = tmp_path / "answers.yaml"
            answers_path.write_text(yaml.safe_dump(answers))
            args += ["--answers", answers_path]
        result = cli(*args)
        if result.code == 2 and not result.out:
            return result, Path(), []
        run_dir = result.run_dir
        assert verify(run_dir).ok
        return result, run_dir, list(read_events(run_dir))

    return go


def types_for(events: list[Event], step: str) -> list[str]:
    return [e.type for e in events if e.data.get("step") == step]


def finished(events: list[Event], step: str) -> dict[str, Any]:
    found = [e.data for e in events if e.type == "step_finished" and e.data["step"] == step]
    assert found, f"step {step} never finished"
    return found[-1]


def test_independent_steps_run_in_parallel(run: Run) -> None:
    plan = """
    id: par
    title: Parallel
    kind: drill
    steps:
      - {id: a, action: local.sleep, with: {seconds: 0.3}}
      - {id: b, action: local.sleep, with: {seconds: 0.3}}
      - {id: c, milestone: service_restored, needs: [a, b]}
    """
    result, _, events = run(plan)
    assert result.code == 0
    order = [(e.type, e.data.get("step")) for e in events if e.type.startswith("step_")]
    # both started before either finished; c only after both
    assert order.index(("step_started", "b")) < order.index(("step_finished", "a"))
    assert order.index(("step_started", "c")) > order.index(("step_finished", "b"))


def test_transient_errors_are_retried_with_each_attempt_journaled(run: Run) -> None:
    port = free_port()
    plan = f"""
    id: retry
    title: Retry
    kind: drill
    steps:
      - id: health
        check: local.http_check
        with: {{url: "http://127.0.0.1:{port}/health", timeout_s: 1}}
        retry: {{attempts: 3, backoff: exponential, delay: 0.05s, max_delay: 0.1s}}
    """
    result, _, events = run(plan)
    assert result.code == 1
    failures = [e.data for e in events if e.type == "attempt_failed"]
    assert [f["attempt"] for f in failures] == [1, 2, 3]
    assert [f["retry_in_s"] for f in failures] == [0.05, 0.1, None]
    assert all(f["transient"] for f in failures)
    assert "after 3 attempts" in finished(events, "health")["error"]
    assert "FAIL      health attempt 2/3" in result.out
    assert "retry in" in result.out


def test_permanent_errors_are_not_retried(run: Run, tmp_path: Path) -> None:
    plan = f"""
    id: perm
    title: Permanent
    kind: drill
    steps:
      - id: hash
        check: local.file_sha256
        with: {{path: "{tmp_path}/missing.dump"}}
        retry: {{attempts: 5, delay: 0.01s}}
    """
    result, _, events = run(plan)
    assert result.code == 1
    assert len([e for e in events if e.type == "attempt_failed"]) == 1
    assert "no such file" in finished(events, "hash")["error"]


def test_a_timeout_stops_the_action_and_counts_as_transient(run: Run) -> None:
    plan = """
    id: slow
    title: Slow
    kind: drill
    steps:
      - id: hang
        action: local.command
        with: {argv: [sleep, "30"]}
        timeout: 0.3s
        retry: {attempts: 2, delay: 0.01s}
    """
    result, _, events = run(plan)
    assert result.code == 1
    failures = [e.data for e in events if e.type == "attempt_failed"]
    assert len(failures) == 2
    assert "timeout of 0.3s" in failures[0]["error"]


def test_a_checksum_mismatch_fails_with_evidence(run: Run, backup_file: Path) -> None:
    backup_file.write_bytes(b"changed after the checksum was taken")
    plan = f"""
    id: sum
    title: Sum
    kind: verification
    steps:
      - id: hash
        check: local.file_sha256
        with: {{path: "{backup_file}", expect_file: "{backup_file}.sha256"}}
    """
    result, run_dir, events = run(plan)
    assert result.code == 1
    done = finished(events, "hash")
    assert done["error"].startswith("check failed: SHA-256")
    assert done["outputs"]["matches"] is False
    assert load_state(run_dir).result == "failed"


def test_on_failure_continue_lets_dependents_run(run: Run) -> None:
    plan = """
    id: cont
    title: Continue
    kind: drill
    steps:
      - {id: flaky, action: local.command, with: {argv: ["false"]}, on_failure: continue}
      - {id: after, action: local.sleep, with: {seconds: 0}, needs: [flaky]}
    """
    result, run_dir, events = run(plan)
    assert result.code == 0
    assert finished(events, "after")["status"] == "succeeded"
    state = load_state(run_dir)
    assert state.steps["flaky"].status == "failed"
    assert state.result == "succeeded"


def test_on_failure_stop_ends_the_run_and_leaves_dependents_unrun(run: Run) -> None:
    plan = """
    id: stop
    title: Stop
    kind: drill
    steps:
      - {id: bad, action: local.command, with: {argv: ["false"]}}
      - {id: after, action: local.sleep, with: {seconds: 0}, needs: [bad]}
    """
    result, _, events = run(plan)
    assert result.code == 1
    assert "after" not in {e.data.get("step") for e in events if e.type == "step_started"}
    end = [e.data for e in events if e.type == "run_finished"][0]
    assert end["result"] == "failed"
    assert "not run: after" in end["reason"]


def test_on_failure_ask_can_abort(run: Run) -> None:
    plan = """
    id: ask
    title: Ask
    kind: drill
    steps:
      - {id: bad, action: local.command, with: {argv: ["false"]}, on_failure: ask}
      - {id: other, action: local.sleep, with: {seconds: 0}}
    """
    result, _, events = run(plan, {"steps": {"bad": {"on_failure": "abort"}}})
    assert result.code == 1
    end = [e.data for e in events if e.type == "run_finished"][0]
    assert end["result"] == "aborted"


def test_a_missing_answer_fails_that_step_and_names_it(run: Run) -> None:
    plan = """
    id: ans
    title: Answers
    kind: drill
    steps:
      - {id: brief, manual: Brief everyone.}
    """
    result, _, events = run(plan, {"steps": {}})
    assert result.code == 1
    error = finished(events, "brief")["error"]
    assert "no confirmation for step 'brief'" in error
    assert "{confirm: true}" in error


SIGNOFF = """
id: sign
title: Sign
kind: ceremony
steps:
  - id: approve
    approval: {signers: 2, roles: [security_officer, witness]}
"""


@pytest.mark.parametrize(
    ("second", "problem"),
    [
        ({"name": "Lee", "role": "witness"}, None),
        ({"name": "kim", "role": "witness"}, "signed more than once; 2 distinct people must sign"),
        ({"name": "Lee", "role": "cto"}, "no signer in the role witness"),
    ],
)
def test_signoffs_need_distinct_people_covering_the_roles(
    run: Run, second: dict[str, str], problem: str | None
) -> None:
    signers = [{"name": "Kim", "role": "security_officer"}, second]
    result, _, events = run(SIGNOFF, {"steps": {"approve": {"signoffs": signers}}})
    done = finished(events, "approve")
    if problem is None:
        assert result.code == 0
        assert done["outputs"]["signers"] == signers
    else:
        assert result.code == 1
        assert problem in done["error"]


DESTRUCTIVE = """
id: wipe
title: Wipe
kind: restore
steps:
  - id: wipe
    action: local.command
    with: {argv: [touch, "MARKER"]}
    site: SITE
    destructive: true
    confirm: qsign-db
"""


def targets(tmp_path: Path) -> Path:
    path = tmp_path / "targets.yaml"
    path.write_text(
        yaml.safe_dump({"sites": {"sandbox": {"drill": True}, "primary": {"drill": False}}})
    )
    return path


@pytest.mark.parametrize(
    ("site", "typed", "code", "message"),
    [
        ("primary", "qsign-db", 1, "not marked 'drill: true'"),  # drill mode, real site
        ("sandbox", "qsign", 1, "nothing was done"),  # wrong typed confirmation
        ("sandbox", "qsign-db", 0, None),  # the right one goes ahead
    ],
)
def test_destructive_steps_need_a_drill_site_and_the_exact_typed_text(
    run: Run, tmp_path: Path, site: str, typed: str, code: int, message: str | None
) -> None:
    marker = tmp_path / "marker"
    plan = DESTRUCTIVE.replace("SITE", site).replace("MARKER", str(marker))
    result, _, events = run(
        plan, {"steps": {"wipe": {"typed": typed}}}, "--targets", targets(tmp_path)
    )
    assert result.code == code
    assert marker.exists() is (code == 0)
    if message:
        assert message in finished(events, "wipe")["error"]


def test_yes_is_refused_in_real_mode(run: Run, tmp_path: Path) -> None:
    plan = DESTRUCTIVE.replace("SITE", "primary").replace("MARKER", str(tmp_path / "m4"))
    result, _, _ = run(plan, None, "--targets", targets(tmp_path), "--mode", "real", "--yes")
    assert result.code == 2
    assert "--yes is refused in real mode" in result.err


def test_dry_run_calls_nothing_and_resolves_every_reference(run: Run, tmp_path: Path) -> None:
    marker = tmp_path / "dry"
    plan = f"""
    id: dry
    title: Dry
    kind: drill
    inputs:
      name: {{type: string, required: true}}
    steps:
      - id: make
        action: local.command
        with: {{argv: [touch, "{marker}-${{inputs.name}}"]}}
      - id: use
        action: local.command
        with: {{argv: [echo, "${{steps.make.outputs.exit_code}}"]}}
        needs: [make]
    """
    result, _, events = run(plan, None, "--mode", "dry-run", "--yes", "--input", "name=x")
    assert result.code == 0
    assert not list(tmp_path.glob("dry*"))
    started = {e.data["step"]: e.data for e in events if e.type == "step_started"}
    assert started["make"]["params"]["argv"] == ["touch", f"{marker}-x"]
    assert started["use"]["params"]["argv"] == ["echo", "<make.exit_code>"]
    assert {finished(events, s)["status"] for s in ("make", "use")} == {"simulated"}


def test_missing_and_bad_inputs_are_refused_before_anything_runs(run: Run) -> None:
    plan = """
    id: inp
    title: Inputs
    kind: drill
    inputs:
      when: {type: timestamp, required: true}
      count: {type: int}
    steps:
      - {id: a, manual: m}
    """
    result, _, _ = run(plan, None, "--input", "count=many")
    assert result.code == 2
    assert "missing input when: pass --input when=VALUE" in result.err
    assert "input count: 'many' is not a valid int" in result.err


def test_an_unknown_site_in_the_targets_file_is_named(run: Run, tmp_path: Path) -> None:
    plan = DESTRUCTIVE.replace("SITE", "dr").replace("MARKER", str(tmp_path / "m5"))
    result, _, _ = run(plan, None, "--targets", targets(tmp_path))
    assert result.code == 2
    assert "unknown site 'dr'" in result.err
    assert "known sites: primary, sandbox" in result.err


def test_a_targets_file_with_a_secret_is_refused(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "leaky.yaml"
    path.write_text("sites:\n  primary:\n    postgres: {host: db, password: hunter2}\n")
    result, _, _ = run(
        "id: a\ntitle: A\nkind: drill\nsteps:\n  - {id: a, manual: m}\n", None, "--targets", path
    )
    assert result.code == 2
    assert "holds a secret at sites.primary.postgres.password" in result.err


def test_the_journal_replays_to_the_state_the_live_run_had(run: Run, backup_file: Path) -> None:
    from drconsole.runs.state import replay

    plan = f"""
    id: rep
    title: Replay
    kind: drill
    objectives: {{rto: 10m}}
    steps:
      - {{id: a, manual: m, evidence: {{bag: {{pattern: "[A-Z][0-9]+"}}}}}}
      - id: b
        check: local.file_sha256
        with: {{path: "{backup_file}", expect_file: "{backup_file}.sha256"}}
        needs: [a]
      - {{id: c, milestone: service_restored, needs: [b]}}
    """
    result, run_dir, events = run(
        plan, {"steps": {"a": {"confirm": True, "evidence": {"bag": "A123"}}}}
    )
    assert result.code == 0
    state = replay(events)
    assert state.result == "succeeded"
    assert state.steps["a"].outputs["bag"] == "A123"
    assert state.steps["b"].outputs["matches"] is True
    assert "service_restored" in state.milestones
    assert state == load_state(run_dir)


def test_evidence_that_does_not_match_its_form_is_refused(run: Run) -> None:
    plan = """
    id: ev
    title: Evidence
    kind: ceremony
    steps:
      - {id: a, manual: m, evidence: {bag: {pattern: "[A-Z][0-9]+"}}}
    """
    result, _, events = run(plan, {"steps": {"a": {"confirm": True, "evidence": {"bag": "x"}}}})
    assert result.code == 1
    assert "does not match the expected form" in finished(events, "a")["error"]


def test_when_false_skips_a_step_and_its_dependents_still_run(run: Run) -> None:
    plan = """
    id: when
    title: When
    kind: drill
    inputs:
      copy: {type: bool, default: false}
    steps:
      - {id: copy, action: local.sleep, with: {seconds: 0}, when: "${inputs.copy}"}
      - {id: after, action: local.sleep, with: {seconds: 0}, needs: [copy]}
    """
    result, _, events = run(plan)
    assert result.code == 0
    assert finished(events, "copy")["status"] == "skipped"
    assert "condition is false" in finished(events, "copy")["reason"]
    assert finished(events, "after")["status"] == "succeeded"
    result, _, events = run(plan, None, "--input", "copy=true")
    assert finished(events, "copy")["status"] == "succeeded"


def test_an_always_step_cleans_up_after_a_failure(run: Run, tmp_path: Path) -> None:
    plan = """
    id: clean
    title: Clean
    kind: verification
    steps:
      - {id: make, action: local.command, with: {argv: [echo, made]}}
      - {id: compare, action: local.command, with: {argv: ["false"]}, needs: [make]}
      - {id: later, action: local.sleep, with: {seconds: 0}, needs: [compare]}
      - id: cleanup
        action: local.command
        with: {argv: [echo, "${steps.make.outputs.stdout}"]}
        needs: [compare]
        always: true
    """
    result, _, events = run(plan)
    assert result.code == 1
    assert finished(events, "cleanup")["status"] == "succeeded"
    assert "later" not in {e.data.get("step") for e in events if e.type == "step_started"}


def test_an_always_step_with_nothing_to_clean_is_skipped(run: Run) -> None:
    plan = """
    id: clean
    title: Clean
    kind: verification
    steps:
      - {id: make, action: local.command, with: {argv: ["false"]}}
      - id: cleanup
        action: local.command
        with: {argv: [echo, "${steps.make.outputs.stdout}"]}
        needs: [make]
        always: true
    """
    result, _, events = run(plan)
    assert result.code == 1
    assert finished(events, "cleanup")["status"] == "skipped"
    assert "gave no output 'stdout'" in finished(events, "cleanup")["reason"]


def test_a_verification_fails_when_a_check_it_continued_past_failed(run: Run) -> None:
    plan = """
    id: verify
    title: Verify
    kind: verification
    steps:
      - {id: bad, action: local.command, with: {argv: ["false"]}, on_failure: continue}
      - {id: good, action: local.sleep, with: {seconds: 0}}
    """
    result, _, events = run(plan)
    assert result.code == 1
    assert finished(events, "good")["status"] == "succeeded"  # every finding was collected
    end = [e.data for e in events if e.type == "run_finished"][0]
    assert end["reason"] == "1 check(s) found a problem: bad"
