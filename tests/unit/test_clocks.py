"""RTO and RPO against the objectives, from run state alone."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from drconsole.engine.clocks import measure, remaining_critical_path
from drconsole.runs.rundir import load_state
from drconsole.runs.state import RunResult, RunState, StepState, StepStatus
from drconsole.timeutil import parse_timestamp
from tests.conftest import Cli

T0 = parse_timestamp("2026-11-26T02:00:00Z")


def state(**kw: object) -> RunState:
    s = RunState(mode="drill", incident_at=T0, objectives={"rto_s": 3600.0, "rpo_s": 900.0})
    for key, value in kw.items():
        setattr(s, key, value)
    return s


def test_rto_runs_then_is_met_at_service_restored() -> None:
    running = measure(state(), T0 + timedelta(minutes=20), timedelta(minutes=15))
    assert running.rto_status == "running"
    assert running.rto_left == timedelta(minutes=40)
    assert running.projected_finish == T0 + timedelta(minutes=35)
    done = measure(
        state(milestones={"service_restored": T0 + timedelta(minutes=50)}), T0 + timedelta(hours=3)
    )
    assert done.rto_status == "met"
    assert done.rto_elapsed == timedelta(minutes=50)


def test_rto_over_budget_and_missed() -> None:
    assert measure(state(), T0 + timedelta(minutes=61)).rto_status == "over budget"
    late = state(milestones={"service_restored": T0 + timedelta(minutes=61)})
    assert measure(late, T0 + timedelta(hours=2)).rto_status == "missed"


def test_rto_stops_when_the_run_ends_without_restoring() -> None:
    ended = state(result=RunResult.FAILED, ended_at=T0 + timedelta(minutes=5))
    assert measure(ended, T0 + timedelta(hours=1)).rto_status == "no service_restored"
    assert (
        measure(state(), T0 + timedelta(minutes=5), finishing=True).rto_status
        == "no service_restored"
    )


def test_rpo_is_the_distance_from_the_recovery_point_to_the_incident() -> None:
    met = measure(state(recovery_point=T0 - timedelta(minutes=10)), T0 + timedelta(minutes=30))
    assert (met.rpo_achieved, met.rpo_status) == (timedelta(minutes=10), "met")
    missed = measure(state(recovery_point=T0 - timedelta(minutes=16)), T0)
    assert missed.rpo_status == "missed"
    assert measure(state(), T0).rpo_status == "pending"


def test_a_dry_run_measures_nothing() -> None:
    clocks = measure(state(mode="dry-run"), T0 + timedelta(minutes=5))
    assert (clocks.rto_status, clocks.rpo_status) == ("not measured", "not measured")
    assert clocks.rpo_reason == "a dry run measures nothing"


def test_an_rpo_left_unmeasured_says_why() -> None:
    assert measure(state(), T0).rpo_reason is None  # pending: the run goes on
    ended = state(result=RunResult.SUCCEEDED, ended_at=T0 + timedelta(minutes=5))
    assert "no milestone with a recovery_point" in str(measure(ended, T0).rpo_reason)
    ended.milestones = {"data_recovered": T0 + timedelta(minutes=4)}
    reason = measure(ended, T0 + timedelta(minutes=5)).rpo_reason
    assert reason is not None
    assert "data_recovered milestone was reached without a recovery point" in reason
    ended.recovery_point = T0 - timedelta(minutes=1)
    assert measure(ended, T0 + timedelta(minutes=5)).rpo_reason is None


def test_the_projection_follows_the_longest_unfinished_path() -> None:
    needs = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}
    estimates = {
        "a": timedelta(minutes=5),
        "b": timedelta(minutes=10),
        "c": timedelta(minutes=30),
        "d": timedelta(minutes=1),
    }
    s = state(steps={"a": StepState("a", StepStatus.SUCCEEDED)})
    left, path = remaining_critical_path(needs, estimates, s, T0)
    assert (left, path) == (timedelta(minutes=31), ["c", "d"])
    # a running step counts what is left of its estimate, and nothing once past it
    s.steps["b"] = StepState("b", StepStatus.SUCCEEDED)
    s.steps["c"] = StepState("c", StepStatus.RUNNING, started_at=T0)
    assert remaining_critical_path(needs, estimates, s, T0 + timedelta(minutes=20)) == (
        timedelta(minutes=11),
        ["c", "d"],
    )
    assert remaining_critical_path(needs, estimates, s, T0 + timedelta(minutes=40)) == (
        timedelta(minutes=1),
        ["c", "d"],
    )


def test_an_objective_of_zero_is_an_objective(tmp_path: Path, cli: Cli) -> None:
    """`rpo: 0s` (no data may be lost) is judged, not taken for no objective."""
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "id: zero\ntitle: Zero\nkind: drill\nobjectives: {rto: 10m, rpo: 0s}\n"
        "steps:\n  - {id: a, wait: 0s}\n"
    )
    done = cli.run(plan)
    assert done.code == 0, done.err
    assert load_state(done.run_dir).objectives == {"rto_s": 600.0, "rpo_s": 0.0}
    report = json.loads(cli("report", done.run_dir, "--format", "json").out)
    assert report["rpo"]["objective_s"] == 0


def test_a_headless_run_with_no_objective_ends_with_its_elapsed_time(
    cli: Cli, tmp_path: Path
) -> None:
    """As the run and watch screens say it: a plan that sets no RTO or RPO (a ceremony, a
    check) ends with its time, not 'RTO 0.0s (no service_restored), RPO - (not measured: no
    recovery point was reached: ...)'; a plan with objectives still ends with both."""
    steps = "steps:\n  - {id: a, action: local.command, with: {argv: ['true']}}\n"
    plan = tmp_path / "plan.yaml"
    plan.write_text("id: check\ntitle: Check\nkind: drill\n" + steps)
    done = cli.run(plan, "--operator", "kim")
    assert done.code == 0, done.err
    (last,) = [line for line in done.out.splitlines() if line.startswith("result: ")]
    assert last.startswith("result: succeeded; elapsed ")
    assert last.endswith("(no RTO or RPO objective)")
    plan.write_text("id: drill\ntitle: Drill\nkind: drill\nobjectives: {rto: 1h}\n" + steps)
    done = cli.run(plan, "--operator", "kim")
    assert "result: succeeded; RTO " in done.out
