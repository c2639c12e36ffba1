"""A post-mortem draft from a run directory, as Markdown: what the guide wants written within
48 hours of an incident (detect, triage, investigate, mitigate, resolve, verify, document,
improve), with every fact the run holds filled in and every judgement left for people.

Filled in: the incident, its severity and the post-mortem's due time (48 h after the
incident); objectives against what was achieved (RTO, RPO, response, resolution); the timeline
from the journal (each event as the engine's one text says it, ``engine/events.describe``);
deviations and refusals; what was slow (the steps that took longest, against their estimates).
Left blank: summary, root cause, what went well, and action items with their owners.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from drconsole.engine.events import describe
from drconsole.report.build import build, refusals_markdown
from drconsole.runs.read import ReadRun, step_name
from drconsole.timeutil import format_duration, format_timestamp, parse_timestamp

DUE_AFTER = timedelta(hours=48)
SLOWEST = 5
QUIET = {"clock"}  # the objectives section says what the clock events say


def draft(run: ReadRun) -> str:
    """The post-mortem draft of ``run`` as Markdown."""
    report = build(run)
    plan = report["plan"]
    found = report.get("incident")
    incident_at = parse_timestamp(report["incident_at"])
    severity = f"{found['severity']} ({found['meaning']})" if found else "not recorded"
    lines = [
        f"# Post-mortem (draft): {plan.get('title')}",
        "",
        f"- Incident: {report['incident_at']}; severity: {severity}",
        f"- Post-mortem due: **{format_timestamp(incident_at + DUE_AFTER)}** (48 h after the "
        "incident)",
        f"- Run: `{report['run_id']}` ({str(report['mode']).upper()}, operator "
        f"{report['operator']}), result **{report['result']}**"
        + (f": {report['result_reason']}" if report["result_reason"] else ""),
        f"- Journal: {report['journal']['events']} events, final hash "
        f"`{report['journal']['final_hash']}`"
        + ("" if report["journal"]["intact"] else f", BROKEN: {report['journal']['problem']}"),
        "- Authors: ",
        "",
        "## Summary",
        "",
        "_What happened and what it meant for users, in a few sentences._",
        "",
        *_objectives(report),
        *_timeline(run, incident_at),
        "## Deviations",
        "",
        *([f"- {d}" for d in report["deviations"]] or ["- none"]),
        "",
        *refusals_markdown(report["refusals"]),
        *_slowest(run, report),
        "## Root cause",
        "",
        "_Why it happened (not only what), and why it was not caught earlier._",
        "",
        "## What went well",
        "",
        "- ",
        "",
        "## What went wrong",
        "",
        "- ",
        "",
        "## Action items",
        "",
        "| action | owner | due |",
        "|---|---|---|",
        "|  |  |  |",
        "",
    ]
    return "\n".join(lines)


def _objectives(report: dict[str, Any]) -> list[str]:
    rto, rpo, found = report["rto"], report["rpo"], report.get("incident")
    rows = [
        ("RTO (incident to service restored)", rto["objective_s"], rto["achieved_s"], rto),
        ("RPO (recovery point to incident)", rpo["objective_s"], rpo["achieved_s"], rpo),
    ]
    if found:
        response, resolution = found["response"], found["resolution"]
        first = response["first_action"] or "none"
        rows += [
            (f"Response (to the first action: {first})", response["target_s"],
             response["took_s"], response),
            ("Resolution (to service restored)", resolution["target_s"], resolution["took_s"],
             resolution),
        ]  # fmt: skip
    lines = [
        "## Objectives and what was achieved",
        "",
        "| clock | objective | achieved | status |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {format_duration(target)} | {format_duration(took)} | {clock['status']} |"
        for name, target, took, clock in rows
    ]
    lines.append("")
    if rpo.get("reason"):
        lines += [f"RPO not measured: {rpo['reason']}.", ""]
    if found:
        lines += [f"Notification: {found['notification']['cadence']}.", ""]
    return lines


def _timeline(run: ReadRun, incident_at: datetime) -> list[str]:
    """Every event but the clock's, with its time and its distance from the incident."""
    lines = ["## Timeline (UTC, from the journal)", ""]
    for event in run.events:
        if event.type in QUIET:
            continue
        at = parse_timestamp(event.ts)
        offset = format_duration(at - incident_at)
        lines.append(
            f"- {format_timestamp(at)} ({'' if offset.startswith('-') else '+'}{offset}) "
            f"{' '.join(describe(event).split())}"
        )
    return [*lines, ""]


def _slowest(run: ReadRun, report: dict[str, Any]) -> list[str]:
    """The steps that took longest, with their estimates and by how much they overran."""
    steps = run.plan.steps if run.plan else []
    estimates = {s.id: s.estimate.total_seconds() for s in steps if s.estimate is not None}
    moments = {s.id for s in steps if s.milestone is not None}  # they take no time
    timed = sorted(
        (s for s in report["steps"] if s["duration_s"] is not None and s["id"] not in moments),
        key=lambda s: -float(s["duration_s"]),
    )[:SLOWEST]
    lines = ["## What was slow", ""]
    if not timed:
        return [*lines, "- no step ran", ""]
    lines += ["| step | took | estimate | over by |", "|---|---|---|---|"]
    for step in timed:
        took, estimate = float(step["duration_s"]), estimates.get(step["id"])
        over = format_duration(took - estimate) if estimate and took > estimate else "-"
        lines.append(
            f"| {step_name(step['id'], step['title'])} | {format_duration(took)} | "
            f"{format_duration(estimate)} | {over} |"
        )
    return [*lines, ""]
