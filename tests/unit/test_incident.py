"""Incident severity: the response and resolution clocks against each severity's targets, the
notification cadence, a real run whose report and CLI carry both clocks, and the post-mortem
draft of that run with each of its sections."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from drconsole.engine.clocks import SEVERITIES, incident
from drconsole.runs.state import RunResult, RunState, StepState, StepStatus
from drconsole.timeutil import format_timestamp, parse_timestamp
from tests.conftest import Cli

T0 = parse_timestamp("2026-11-26T02:00:00Z")
MIN = timedelta(minutes=1)


def state(severity: str | None = "P1", **kw: object) -> RunState:
    inputs = {"severity": severity} if severity else {}
    s = RunState(mode="real", incident_at=T0, inputs=inputs)
    for key, value in kw.items():
        setattr(s, key, value)
    return s


def acted(step_id: str, at_min: float, kind: str = "action") -> dict[str, StepState]:
    return {step_id: StepState(step_id, StepStatus.SUCCEEDED, kind, T0 + at_min * MIN)}


TARGETS = [("P1", 15, 240), ("P2", 30, 480), ("P3", 120, 1440), ("P4", 480, 10080)]


@pytest.mark.parametrize(("name", "respond_min", "resolve_min"), TARGETS)
def test_each_severity_has_the_guides_targets_and_is_met_or_missed_at_them(
    name: str, respond_min: int, resolve_min: int
) -> None:
    severity = SEVERITIES[name]
    assert (severity.respond, severity.resolve) == (respond_min * MIN, resolve_min * MIN)
    on_time = state(
        name,
        steps=acted("act", respond_min),
        milestones={"service_restored": T0 + resolve_min * MIN},
    )
    found = incident(on_time, T0 + 2 * resolve_min * MIN)
    assert found is not None
    assert (found.response_status, found.resolution_status) == ("met", "met")
    assert (found.response, found.first_action) == (respond_min * MIN, "act")
    late = state(
        name,
        steps=acted("act", respond_min + 1),
        milestones={"service_restored": T0 + (resolve_min + 1) * MIN},
    )
    found = incident(late, T0 + 2 * resolve_min * MIN)
    assert found is not None
    assert (found.response_status, found.resolution_status) == ("missed", "missed")
    assert found.next_update is None  # resolved: no more updates due


def test_clocks_while_nothing_happened_yet_wait_then_are_overdue() -> None:
    found = incident(state("P1"), T0 + 10 * MIN)
    assert found is not None
    assert (found.response_status, found.resolution_status) == ("waiting", "running")
    assert found.first_action is None
    found = incident(state("P1"), T0 + 5 * 60 * MIN)
    assert found is not None
    assert (found.response_status, found.resolution_status) == ("overdue", "overdue")
    assert "OVERDUE" in found.summary()
    ended = state("P2", result=RunResult.FAILED, ended_at=T0 + 60 * MIN)
    found = incident(ended, T0 + 90 * MIN)
    assert found is not None
    assert (found.resolution_status, found.resolution, found.next_update) == (
        "stopped",
        60 * MIN,
        None,
    )


def test_milestones_waits_and_steps_before_the_incident_are_not_a_response() -> None:
    steps = {
        **acted("brief", -5),  # a drill's briefing before the simulated failure
        **acted("incident", 0, "milestone"),
        **acted("settle", 1, "wait"),
        **acted("check-primary", 7, "check"),
    }
    found = incident(state("P1", steps=steps), T0 + 30 * MIN)
    assert found is not None
    assert (found.first_action, found.response) == ("check-primary", 7 * MIN)


@pytest.mark.parametrize(
    ("name", "now_min", "next_min"),
    [
        ("P1", 0.5, 15),  # told at once, then every 15 min
        ("P1", 31, 45),
        ("P2", 10, 60),  # within 1 h, then hourly
        ("P2", 61, 120),
        ("P3", 250, 480),
        ("P4", 60, 1440),
    ],
)
def test_the_next_update_follows_the_severitys_cadence(
    name: str, now_min: float, next_min: int
) -> None:
    found = incident(state(name), T0 + now_min * MIN)
    assert found is not None
    assert found.next_update == T0 + next_min * MIN
    assert f"next update to {SEVERITIES[name].audience}" in found.summary()


def test_no_severity_a_foreign_one_or_a_dry_run_has_no_incident_clocks() -> None:
    assert incident(state(None), T0) is None
    assert incident(state("sev-1"), T0) is None
    assert incident(state("P1", mode="dry-run"), T0) is None


PLAN = """
id: incident-drill
title: Incident drill
kind: drill
objectives: {rto: 10m}
inputs:
  severity: {type: choice, choices: [P1, P2, P3, P4], default: P2}
steps:
  - id: brief
    title: Brief the participants
    action: local.sleep
    with: {seconds: 0.3}
    estimate: 1s
  - {id: incident, milestone: incident, needs: [brief]}
  - id: triage
    title: Triage
    action: local.sleep
    with: {seconds: 1.2}
    estimate: 0.5s
    needs: [incident]
  - {id: restored, milestone: service_restored, needs: [triage]}
"""


def test_a_run_with_a_severity_reports_both_clocks_and_drafts_its_post_mortem(
    cli: Cli,
    write_plan: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    result = cli.run(write_plan(PLAN), "--yes", "--input", "severity=P1")
    assert result.code == 0, result.out
    run_dir = result.run_dir
    assert "incident: P1 full outage: response " in result.out
    assert "drconsole postmortem" in result.out

    report = json.loads(cli("report", run_dir, "--format", "json").out)
    found = report["incident"]
    assert (found["severity"], found["meaning"]) == ("P1", "full outage")
    response, resolution = found["response"], found["resolution"]
    assert response["first_action"] == "triage"  # the briefing came before the incident
    assert (response["status"], response["target_s"]) == ("met", 900.0)
    assert (resolution["status"], resolution["target_s"]) == ("met", 14400.0)
    assert resolution["took_s"] >= 1.2
    assert resolution["resolved_at"] == report["milestones"]["service_restored"]
    assert found["incident_at"] == report["milestones"]["incident"]
    assert "notify all stakeholders at once, then every 15m" in found["notification"]["cadence"]
    markdown = cli("report", run_dir).out
    assert "## Incident: P1 (full outage)" in markdown
    assert "| Response (incident to first action: triage) |" in markdown
    assert "| Resolution (incident to service restored) |" in markdown

    draft = cli("postmortem", run_dir)
    assert draft.code == 0
    text = draft.out
    for heading in (
        "# Post-mortem (draft): Incident drill",
        "## Summary",
        "## Objectives and what was achieved",
        "## Timeline (UTC, from the journal)",
        "## Deviations",
        "## Refusals",
        "## What was slow",
        "## Root cause",
        "## Action items",
    ):
        assert heading in text, heading
    due = parse_timestamp(found["incident_at"]) + timedelta(hours=48)
    assert f"Post-mortem due: **{format_timestamp(due)}**" in text
    assert "severity: P1 (full outage)" in text
    assert "MILESTONE incident" in text
    assert "start triage: " in text
    assert "-0." in text or "(-" in text  # the briefing, before the incident
    # the slowest step first, with its estimate and how far over it ran
    slow = text.split("## What was slow")[1].split("##")[0]
    assert slow.index("Triage (triage)") < slow.index("Brief the participants (brief)")
    assert re.search(r"\| Triage \(triage\) \| 1\.\ds \| 0\.5s \| 0\.\ds \|", slow)
    assert "| incident |" not in slow  # milestones take no time
    assert "| Response (to the first action: triage) | 15m00s | " in text
    assert "|  |  |  |" in text  # the action items' owners are left blank


def test_postmortem_of_something_that_is_not_a_run_says_so(cli: Cli, tmp_path: Path) -> None:
    said = cli("postmortem", tmp_path)
    assert said.code == 2
    assert "is not a run directory" in said.err
    assert "Traceback" not in said.err


TUI_PLAN = """
id: tui-incident
title: Console incident
kind: drill
inputs:
  severity: {type: choice, choices: [P1, P2, P3, P4], default: P3}
steps:
  - {id: incident, milestone: incident}
  - id: act
    action: local.sleep
    with: {seconds: 4}  # long enough to read the clocks while it runs, on a busy machine
    needs: [incident]
  - {id: restored, milestone: service_restored, needs: [act]}
"""


def test_the_run_screen_shows_both_clocks_and_the_cadence_in_its_log(tmp_path: Path) -> None:
    from textual.widgets import Static

    from drconsole.tui.run_screen import RunScreen
    from tests.console.pilot import make_app, run, setup, until

    plans, plan, targets = setup(tmp_path, TUI_PLAN)

    async def scenario() -> None:
        app = make_app(tmp_path, plans, targets, start_plan=plan, given_inputs={"severity": "P1"})
        async with app.run_test(size=(80, 24)) as pilot:
            screens: list[RunScreen] = []

            def running() -> bool:
                screens[:] = [s for s in app.screen_stack if isinstance(s, RunScreen)]
                return (
                    bool(screens)
                    and "act" in screens[0].run_state.steps
                    and (screens[0].run_state.steps["act"].started_at is not None)
                )

            await pilot.press("enter")
            await until(pilot, running)
            screen = screens[0]
            await pilot.pause(1.1)  # a tick of the clocks
            clocks = str(screen.query_one("#run-clocks", Static).render())
            assert "P1 full outage: response " in clocks
            assert "first action act" in clocks
            assert re.search(r"resolution [\d.]+s of 4h00m: running", clocks)
            assert "next update to all stakeholders" in clocks
            log = "\n".join(str(line) for line in screen.query_one("#journal-log").lines)
            assert "SEVERITY  P1 (full outage): respond within 15m00s" in log
            assert "notify all stakeholders at once, then every 15m00s" in log
            await until(pilot, lambda: screen.finished)
            clocks = str(screen.query_one("#run-clocks", Static).render())
            assert re.search(r"resolution [\d.]+s of 4h00m: met", clocks)

    run(scenario())
