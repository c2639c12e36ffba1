"""Build a run's report from its journal: steps by title with times, attempts, every answer
(whatever its shape: sign-offs, quorum, evidence, text), outputs; RTO and RPO against the
objectives; the incident's severity with its response and resolution clocks; refusals;
deviations; the journal's final hash.

The report reads only the run directory (the journal, verified, and the plan copy for step
titles), so it can be rebuilt by anyone holding it.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from drconsole.engine import clocks
from drconsole.engine.events import (
    answer_text,
    attempt_text,
    exception_text,
    refusal_text,
    show,
)
from drconsole.report import injections
from drconsole.runs.follow import driver
from drconsole.runs.read import ReadRun, read_run, step_name
from drconsole.runs.state import RunState, StepState, StepStatus
from drconsole.timeutil import format_duration, format_timestamp, utcnow


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
        "resumed_by": state.resumed_by,
        "started_at": format_timestamp(state.started_at),
        "ended_at": format_timestamp(state.ended_at) if state.ended_at else None,
        "result": state.result.value if state.result else "unfinished",
        "result_reason": state.result_reason,
        "now": None if state.finished else now_driven(run),
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
            "reason": measured.rpo_reason,
        },
        "incident": incident(state),
        "milestones": {k: format_timestamp(v) for k, v in state.milestones.items()},
        "steps": [_step(run, s) for s in state.steps.values()],
        "refusals": [{**r, "title": run.titles.get(r["step"] or "")} for r in run.refusals],
        "deviations": deviations(run),
        "injections": [i.as_dict() for i in injections.for_run(list(run.events), run.plan)],
        "resumes": state.resumes,
        "interruptions": state.interruptions,
        "journal": {
            "events": check.count,
            "final_hash": check.final_hash,
            "intact": check.ok,
            "problem": None if check.ok else check.describe(),
        },
    }


def now_driven(run: ReadRun) -> str:
    """Whether an unfinished run is driven now, and if not, what stopped it and how to go on
    (a run killed mid-step reads as running in its journal)."""
    now = driver(run.run_dir)
    if now.driving:
        return f"{now.describe()}; this report is as far as its journal goes"
    last = next((e for e in reversed(run.events) if e.type.startswith("run_")), None)
    if last is not None and last.type == "run_interrupted":
        why = f"interrupted: {last.data.get('reason')}"
    else:
        why = f"{now.describe()}, which stopped without a word (killed, or its machine stopped)"
        if cut := run.state.interrupted_steps():
            why += f"; cut short mid-way: {', '.join(cut)}"
    return f"NOT DRIVEN: {why}. Continue it with: drconsole resume {run.run_dir}"


def incident(state: RunState) -> dict[str, Any] | None:
    """The severity and its two clocks against their targets (None: the run has no severity)."""
    measured = clocks.incident(state, state.ended_at or state.last_ts or utcnow())
    if measured is None:
        return None
    severity = measured.severity
    return {
        "severity": severity.name,
        "meaning": severity.meaning,
        "incident_at": format_timestamp(measured.incident_at),
        "response": {
            "took_s": _seconds(measured.response),
            "target_s": _seconds(severity.respond),
            "status": measured.response_status,
            "first_action": measured.first_action,
            "first_action_at": format_timestamp(measured.first_action_at)
            if measured.first_action_at
            else None,
        },
        "resolution": {
            "took_s": _seconds(measured.resolution),
            "target_s": _seconds(severity.resolve),
            "status": measured.resolution_status,
            "resolved_at": format_timestamp(measured.resolved_at) if measured.resolved_at else None,
        },
        "notification": {
            "audience": severity.audience,
            "first_notice_s": _seconds(severity.first_notice),
            "update_every_s": _seconds(severity.update_every),
            "cadence": severity.describe(),
        },
    }


def incident_markdown(found: dict[str, Any] | None) -> list[str]:
    """The Incident section: the severity, and the response and resolution clocks."""
    if found is None:
        return []
    response, resolution = found["response"], found["resolution"]
    first = f"first action: {response['first_action'] or 'none yet'}"
    return [
        f"## Incident: {found['severity']} ({found['meaning']})",
        "",
        "| clock | took | target | status |",
        "|---|---|---|---|",
        f"| Response (incident to {first}) | {format_duration(response['took_s'])} "
        f"| {format_duration(response['target_s'])} | {response['status']} |",
        f"| Resolution (incident to service restored) | {format_duration(resolution['took_s'])} "
        f"| {format_duration(resolution['target_s'])} | {resolution['status']} |",
        "",
        f"Incident at {found['incident_at']}. {found['notification']['cadence']}.",
        "",
    ]


def _seconds(value: timedelta | None) -> float | None:
    return round(value.total_seconds(), 3) if value is not None else None


def shown_status(run: dict[str, Any], step: dict[str, Any]) -> str:
    """A step's status as a report or record prints it: a step a finished run never reached
    is 'not run', as on the run and watch screens ('pending' promised it would still come)."""
    if step["status"] == StepStatus.PENDING.value and run["result"] != "unfinished":
        return "not run"
    return str(step["status"])


def _who(step: StepState) -> list[str]:
    """Each answer given at the step: the question, the answer in words, and who gave it."""
    return [answer_text(a) for a in step.answers]


def _step(run: ReadRun, step: StepState) -> dict[str, Any]:
    return {
        "id": step.id,
        "title": run.titles.get(step.id),
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
                "text": attempt_text(f),
            }
            for f in step.failures
        ],
        "answers": [{k: v for k, v in a.items() if k != "step"} for a in step.answers],
        "who": _who(step),
    }


def deviations(run: ReadRun) -> list[str]:
    """Everything that did not go to plan, in words: steps that failed, were continued past,
    marked done, skipped, cancelled, not run or retried; refusals; guard overrides; ceremony
    exceptions; interruptions."""
    state, found = run.state, []
    for step in state.steps.values():
        name = run.name(step.id)
        if step.status is StepStatus.FAILED:
            how = "continued past" if step.reason == "continued" else "failed"
            found.append(f"{name}: {how}: {step.error}")
        elif step.status is StepStatus.MARKED_DONE:
            found.append(f"{name}: marked done by hand: {step.reason}")
        elif step.status is StepStatus.SKIPPED:
            found.append(f"{name}: skipped: {step.reason}")
        elif step.status is StepStatus.CANCELLED:
            found.append(f"{name}: cancelled: {step.reason}")
        elif step.status in (StepStatus.PENDING, StepStatus.RUNNING) and state.finished:
            found.append(f"{name}: not run")
        if step.failures and step.status is StepStatus.SUCCEEDED:
            found.append(f"{name}: succeeded after {step.attempts} attempts")
        found += [
            f"{name}: guard overridden by {a.get('by')}: "
            f"{show(a.get('answer')).removeprefix('overridden: ')}"
            for a in step.answers
            if a.get("question") == "guard override"
        ]
    found += [f"{run.name(r['step'])}: {refusal_text(r)}" for r in run.refusals]
    found += [exception_text(e, run.name(e.get("step"))) for e in state.exceptions]
    if state.interruptions:
        found.append(
            f"the run was interrupted {state.interruptions} time(s) and resumed "
            f"{state.resumes} time(s)"
        )
    return found


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text.replace("|", "\\|").replace("\n", " ")


def refusals_markdown(refusals: list[dict[str, Any]], *, narrow: bool = False) -> list[str]:
    """The Refusals section: every answer refused, and every guard's refusal (``narrow``: one
    item each, for the console's 80 columns, instead of a table)."""
    if not refusals:
        return ["## Refusals", "", "- none", ""]
    if narrow:
        return [
            "## Refusals",
            "",
            *(
                f"- {str(r['at'])[11:19]} {step_name(r['step'], r['title'])}: {r['question']}: "
                f"**{r['reason']}** (by {r['by']})"
                for r in refusals
            ),
            "",
        ]
    lines = ["## Refusals", "", "| time | step | question | reason | by |", "|---|---|---|---|---|"]
    lines += [
        f"| {r['at']} | {_cell(step_name(r['step'], r['title']))} | {_cell(r['question'])} | "
        f"{_cell(r['reason'])} | {_cell(r['by'])} |"
        for r in refusals
    ]
    return [*lines, ""]


def to_markdown(report: dict[str, Any], *, narrow: bool = False) -> str:
    """The report as Markdown for people and auditors. ``narrow``: the steps table fits 80
    columns (ids, start time of day; titles and who in each step's section), for the console."""
    plan = report["plan"]
    rto, rpo = report["rto"], report["rpo"]
    lines = [
        f"# Run report: {plan.get('title')} ({plan.get('id')})",
        "",
        f"- Run: `{report['run_id']}`",
        f"- Mode: **{str(report['mode']).upper()}**",
        f"- Operator: {report['operator']}"
        + (f"; resumed by {', '.join(report['resumed_by'])}" if report.get("resumed_by") else ""),
        f"- Result: **{report['result']}** ({report['result_reason'] or '-'})",
        *([f"- Now: {report['now']}"] if report.get("now") else []),
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
    if rpo.get("reason"):
        lines += [f"RPO not measured: {rpo['reason']}.", ""]
    lines += incident_markdown(report.get("incident"))
    if report["inputs"]:
        lines += ["## Inputs", ""]
        lines += [f"- `{k}`: {_cell(v)}" for k, v in report["inputs"].items()]
        lines.append("")
    lines += ["## Steps", ""]
    if narrow:
        lines += ["| step | status | start (UTC) | took | tries |", "|---|---|---|---|---|"]
        lines += [
            f"| {step['id']} | {shown_status(report, step)} | "
            f"{(step['started_at'] or '-')[11:19] or '-'} | "
            f"{format_duration(step['duration_s'])} | {step['attempts']} |"
            for step in report["steps"]
        ]
    else:
        lines += [
            "| step | status | start | duration | attempts | by |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {_cell(step_name(step['id'], step['title']))} | {shown_status(report, step)} | "
            f"{step['started_at'] or '-'} | "
            f"{format_duration(step['duration_s'])} | {step['attempts']} | "
            f"{_cell(' / '.join(step['who'])) if step['who'] else '-'} |"
            for step in report["steps"]
        ]
    lines.append("")
    for step in report["steps"]:
        details = []
        if narrow and step["who"]:
            details.append(f"- By: {' / '.join(step['who'])}")
        if step["description"]:
            details.append(f"- What: {step['description']}")
        details += [f"- Failed {failure['text']}" for failure in step["failures"]]
        if step["error"]:
            details.append(f"- Error: {step['error']}")
        if step["reason"]:
            details.append(f"- Note: {step['reason']}")
        if step["outputs"]:
            details += [f"- Output `{k}`: {_cell(show(v, k))}" for k, v in step["outputs"].items()]
        if details:
            lines += [f"### {step_name(step['id'], step['title'])}", "", *details, ""]
    lines += refusals_markdown(report["refusals"], narrow=narrow)
    lines += injections.to_markdown(report.get("injections") or [])
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
