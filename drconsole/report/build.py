"""Build a run's report from its journal: steps with times, attempts, who confirmed or signed,
outputs; RTO and RPO against the objectives; deviations; the journal's final hash.

The report reads only the journal (and verifies it), so it can be rebuilt by anyone holding
the run directory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from drconsole.engine import clocks
from drconsole.engine.state import RunState, StepState, StepStatus, replay
from drconsole.journal.journal import VerifyReport, read_events, verify
from drconsole.timeutil import format_duration, format_timestamp, utcnow


@dataclass(frozen=True)
class ReadRun:
    """A run directory read once: its journal's check and the state it replays to."""

    run_dir: Path
    check: VerifyReport
    state: RunState


def read_run(run_dir: Path) -> ReadRun:
    """Verify a run's journal and replay it (the report and the record both start here)."""
    return ReadRun(run_dir, verify(run_dir), replay(read_events(run_dir)))


def build(run: Path | ReadRun) -> dict[str, Any]:
    """The report as plain data (what ``--format json`` prints)."""
    if isinstance(run, Path):
        run = read_run(run)
    run_dir, check, state = run.run_dir, run.check, run.state
    measured = clocks.measure(state, state.ended_at or state.last_ts or utcnow())
    return {
        "run_id": state.run_id,
        "run_dir": str(run_dir),
        "plan": state.plan,
        "mode": state.mode,
        "operator": state.operator,
        "started_at": format_timestamp(state.started_at),
        "ended_at": format_timestamp(state.ended_at) if state.ended_at else None,
        "result": state.result.value if state.result else "unfinished",
        "result_reason": state.result_reason,
        "incident_at": format_timestamp(state.incident_at),
        "inputs": state.inputs,
        "objectives": state.objectives,
        "rto": {
            "achieved_s": _seconds(measured.rto_elapsed),
            "status": measured.rto_status,
            "objective_s": _seconds(measured.rto_objective),
            "service_restored_at": format_timestamp(state.milestones.get("service_restored"))
            if "service_restored" in state.milestones
            else None,
        },
        "rpo": {
            "achieved_s": _seconds(measured.rpo_achieved),
            "status": measured.rpo_status,
            "objective_s": _seconds(measured.rpo_objective),
            "recovery_point": format_timestamp(state.recovery_point)
            if state.recovery_point
            else None,
        },
        "milestones": {k: format_timestamp(v) for k, v in state.milestones.items()},
        "steps": [_step(s) for s in state.steps.values()],
        "deviations": deviations(state),
        "resumes": state.resumes,
        "interruptions": state.interruptions,
        "journal": {
            "events": check.count,
            "final_hash": check.final_hash,
            "intact": check.ok,
            "problem": None if check.ok else check.describe(),
        },
    }


def _seconds(value: timedelta | None) -> float | None:
    return round(value.total_seconds(), 3) if value is not None else None


def _who(step: StepState) -> list[str]:
    people: list[str] = []
    for answer in step.answers:
        value = answer.get("answer")
        if isinstance(value, list):
            people.extend(f"{s['name']} ({s['role']})" for s in value if isinstance(s, dict))
        elif answer.get("by"):
            people.append(f"{answer['by']}: {answer.get('question')} = {value}")
    return people


def _step(step: StepState) -> dict[str, Any]:
    return {
        "id": step.id,
        "status": step.status.value,
        "started_at": format_timestamp(step.started_at) if step.started_at else None,
        "ended_at": format_timestamp(step.ended_at) if step.ended_at else None,
        "duration_s": step.duration_s,
        "attempts": step.attempts,
        "description": step.description,
        "outputs": step.outputs,
        "error": step.error,
        "reason": step.reason,
        "failures": [
            {
                "attempt": f.get("attempt"),
                "error": f.get("error"),
                "retry_in_s": f.get("retry_in_s"),
            }
            for f in step.failures
        ],
        "who": _who(step),
    }


def deviations(state: RunState) -> list[str]:
    """Everything that did not go to plan, in words."""
    found = []
    for step in state.steps.values():
        if step.status is StepStatus.FAILED:
            how = "continued past" if step.reason == "continued" else "failed"
            found.append(f"{step.id}: {how}: {step.error}")
        elif step.status is StepStatus.MARKED_DONE:
            found.append(f"{step.id}: marked done by hand: {step.reason}")
        elif step.status is StepStatus.SKIPPED:
            found.append(f"{step.id}: skipped: {step.reason}")
        elif step.status is StepStatus.CANCELLED:
            found.append(f"{step.id}: cancelled: {step.reason}")
        elif step.status in (StepStatus.PENDING, StepStatus.RUNNING) and state.finished:
            found.append(f"{step.id}: not run")
        if step.failures and step.status is StepStatus.SUCCEEDED:
            found.append(f"{step.id}: succeeded after {step.attempts} attempts")
    if state.interruptions:
        found.append(
            f"the run was interrupted {state.interruptions} time(s) and resumed "
            f"{state.resumes} time(s)"
        )
    return found


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown for people and auditors."""
    plan = report["plan"]
    rto, rpo = report["rto"], report["rpo"]
    lines = [
        f"# Run report: {plan.get('title')} ({plan.get('id')})",
        "",
        f"- Run: `{report['run_id']}`",
        f"- Mode: **{str(report['mode']).upper()}**",
        f"- Operator: {report['operator']}",
        f"- Result: **{report['result']}** ({report['result_reason'] or '-'})",
        f"- Started: {report['started_at']}; ended: {report['ended_at'] or '-'}",
        f"- Incident time: {report['incident_at']}",
        f"- Plan SHA-256: `{plan.get('sha256')}`",
        "",
        "## Objectives",
        "",
        "| clock | achieved | objective | status |",
        "|---|---|---|---|",
        f"| RTO | {format_duration(rto['achieved_s'])} | {format_duration(rto['objective_s'])} "
        f"| {rto['status']} |",
        f"| RPO | {format_duration(rpo['achieved_s'])} | {format_duration(rpo['objective_s'])} "
        f"| {rpo['status']} |",
        "",
    ]
    if rpo["recovery_point"]:
        lines += [f"Recovery point reached: {rpo['recovery_point']}.", ""]
    if report["inputs"]:
        lines += ["## Inputs", ""]
        lines += [f"- `{k}`: {_cell(v)}" for k, v in report["inputs"].items()]
        lines.append("")
    lines += [
        "## Steps",
        "",
        "| step | status | start | duration | attempts | by |",
        "|---|---|---|---|---|---|",
    ]
    for step in report["steps"]:
        lines.append(
            f"| {step['id']} | {step['status']} | {step['started_at'] or '-'} | "
            f"{format_duration(step['duration_s'])} | {step['attempts']} | "
            f"{_cell('; '.join(step['who'])) if step['who'] else '-'} |"
        )
    lines.append("")
    for step in report["steps"]:
        details = []
        if step["description"]:
            details.append(f"- What: {step['description']}")
        for failure in step["failures"]:
            retry = (
                f", retried in {format_duration(failure['retry_in_s'])}"
                if failure["retry_in_s"] is not None
                else ""
            )
            details.append(f"- Attempt {failure['attempt']} failed: {failure['error']}{retry}")
        if step["error"]:
            details.append(f"- Error: {step['error']}")
        if step["reason"]:
            details.append(f"- Note: {step['reason']}")
        if step["outputs"]:
            details += [f"- Output `{k}`: {_cell(v)}" for k, v in step["outputs"].items()]
        if details:
            lines += [f"### {step['id']}", "", *details, ""]
    lines += ["## Deviations", ""]
    lines += [f"- {d}" for d in report["deviations"]] or ["- none"]
    journal = report["journal"]
    lines += [
        "",
        "## Journal",
        "",
        f"- Events: {journal['events']}",
        f"- Final hash: `{journal['final_hash']}`",
        f"- Chain: {'intact' if journal['intact'] else 'BROKEN: ' + str(journal['problem'])}",
        "",
    ]
    return "\n".join(lines)
