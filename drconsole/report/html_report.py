"""The run's report as one self-contained HTML page for the debrief's projector and for print
(A4): the figures first (result, RTO and RPO against the objectives, where the time went), the
timeline as an inline SVG Gantt chart, then the time per step, sign-offs with names and roles,
deviations, refusals, each step's details and the journal's final hash and whether it verified.

Nothing is loaded from anywhere: no script, no stylesheet, no font, no image but the inline SVG,
so the page opens the same in an air-gapped room. The facts are the report's own
(:func:`drconsole.report.build.build`); the times are the timeline's
(:mod:`drconsole.report.timeline`).
"""

from __future__ import annotations

import html
from typing import Any

from drconsole.engine.events import show
from drconsole.report import gantt
from drconsole.report.build import build, shown_status
from drconsole.report.injections import describe
from drconsole.report.record import _e, _table
from drconsole.report.timeline import Timeline, timeline
from drconsole.runs.read import ReadRun, step_name
from drconsole.timeutil import format_duration

_CSS = """
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 10.5pt;
  color: #111; margin: 1.5cm auto; max-width: 27cm; padding: 0 1cm; line-height: 1.35; }
h1 { font-size: 17pt; margin: 0 0 0.2em; } h2 { font-size: 13pt; margin: 1.3em 0 0.4em;
  border-bottom: 1px solid #999; }
h3 { font-size: 11pt; margin: 0.9em 0 0.2em; }
table { border-collapse: collapse; width: 100%; margin: 0.4em 0; }
th, td { border: 1px solid #888; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #eee; }
td.n, th.n { text-align: right; white-space: nowrap; }
code { font-family: "DejaVu Sans Mono", monospace; font-size: 9pt; word-break: break-all; }
.facts { display: grid; grid-template-columns: repeat(4, 1fr); gap: 8px; margin: 0.8em 0; }
.fact { border: 1px solid #888; padding: 6px 8px; }
.fact b { display: block; font-size: 14pt; }
.fact span { font-size: 9pt; color: #333; }
.word { font-weight: bold; text-transform: uppercase; }
.bad { color: #a00; } .good { color: #064; }
svg.gantt { width: 100%; height: auto; border: 1px solid #bbb; background: #fff; }
ul.legend { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 4px 18px;
  font-size: 9pt; }
.key { display: inline-block; width: 22px; height: 10px; vertical-align: middle;
  border: 1px solid #444; margin-right: 4px; }
.timeline { break-inside: avoid; }
@media print { body { margin: 0; max-width: none; padding: 0; font-size: 9.5pt; }
  h2 { break-after: avoid; } tr { break-inside: avoid; } }
@page { size: A4; margin: 12mm; }
"""


def _resumed(report: dict[str, Any]) -> str:
    return "; resumed by " + ", ".join(report["resumed_by"]) if report.get("resumed_by") else ""


def to_html(run: ReadRun, report: dict[str, Any] | None = None) -> str:
    """The page for a run read by :func:`drconsole.runs.read.read_run` (``report``: its
    report, when built already)."""
    report = report or build(run)
    tl = timeline(run)
    plan = report["plan"]
    journal = report["journal"]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>Run report {_e(report['run_id'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>Run report: {_e(plan.get('title'))}</h1>",
        f"<p><code>{_e(plan.get('id'))}</code> · run <code>{_e(report['run_id'])}</code> · "
        f"<span class='word'>{_e(str(report['mode']).upper())}</span> mode · operator "
        f"{_e(report['operator'])}{html.escape(_resumed(report))}"
        f" · started {_e(_when(report['started_at']))}, ended "
        f"{_e(_when(report['ended_at']))} UTC</p>",
        _facts(report, tl),
        "<h2>Timeline</h2>",
        _timeline(report, tl),
        "<h2>Where the time went</h2>",
        _time_table(tl),
        "<h2>Objectives</h2>",
        _objectives(report),
        "<h2>Sign-offs</h2>",
        _signoffs(report),
        *_participants(run),
        *_injections(report),
        "<h2>Deviations</h2>",
        "<ul>" + "".join(f"<li>{_e(d)}</li>" for d in report["deviations"]) + "</ul>"
        if report["deviations"]
        else "<p>None.</p>",
        "<h2>Refusals</h2>",
        _table(
            ["Time", "Step", "Question", "Reason", "By"],
            [
                [r["at"], step_name(r["step"], r["title"]), r["question"], r["reason"], r["by"]]
                for r in report["refusals"]
            ],
        )
        if report["refusals"]
        else "<p>None.</p>",
        "<h2>Steps</h2>",
        *_steps(report),
        "<h2>Journal</h2>",
        _table(
            ["", ""],
            [
                ["Events", journal["events"]],
                ["Final hash", journal["final_hash"]],
                [
                    "Verified",
                    "yes: every line hashes and chains, and the head agrees"
                    if journal["intact"]
                    else f"NO: {journal['problem']}",
                ],
                ["Plan SHA-256", plan.get("sha256")],
                ["Run directory", report["run_dir"]],
            ],
        ),
        "</body></html>",
    ]
    return "\n".join(parts)


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole > 0 else "-"


def _facts(report: dict[str, Any], tl: Timeline) -> str:
    rto, rpo = report["rto"], report["rpo"]
    busy = tl.people_s + tl.systems_s
    boxes = [
        ("Result", report["result"], report["result_reason"] or report.get("now") or ""),
        ("RTO", _clock(rto), f"objective {format_duration(rto['objective_s'])}"),
        ("RPO", _clock(rpo), f"objective {format_duration(rpo['objective_s'])}"),
        (
            "Waiting for people",
            f"{format_duration(tl.people_s)} ({_pct(tl.people_s, busy)})",
            f"in systems {format_duration(tl.systems_s)} ({_pct(tl.systems_s, busy)})",
        ),
    ]
    cells = "".join(
        f"<div class='fact'><span>{_e(k)}</span><b>{_e(v)}</b><span>{_e(s)}</span></div>"
        for k, v, s in boxes
    )
    return f"<div class='facts'>{cells}</div>"


def _clock(clock: dict[str, Any]) -> str:
    if clock["achieved_s"] is None or clock["status"] not in ("met", "missed"):
        return str(clock["status"])
    return f"{format_duration(clock['achieved_s'])} · {clock['status']}"


def _timeline(report: dict[str, Any], tl: Timeline) -> str:
    if not tl.bars:
        return "<p>No step ran.</p>"
    legend = [
        ("#5b8ac6", "succeeded"),
        ("#c0392b", "failed"),
        ("#9a9a9a", "skipped, cancelled or still running"),
    ]
    keys = "".join(
        f"<li><span class='key' style='background:{colour}'></span>{_e(word)}</li>"
        for colour, word in legend
    )
    keys += (
        "<li><span class='key' style='background:repeating-linear-gradient(45deg,#7a5c00 0 2px,"
        "#f6d365 2px 6px)'></span>waiting for people</li>"
        "<li>✕ a failed attempt</li>"
        "<li>▶ heavy outline: the critical path</li>"
        "<li>dashed line ◆: a milestone</li><li>solid line: the RTO objective</li>"
        "<li>dotted line ⚡: a fault a drill facilitator injected</li>"
    )
    path = " → ".join(b.name for b in tl.critical)
    notes = [f"<p><b>Critical path:</b> {_e(path)}.</p>"]
    if tl.incident is not None and tl.incident <= -1:
        notes.append(
            f"<p>The incident began {_e(format_duration(-tl.incident))} before the run "
            "started; the RTO clock runs from the incident.</p>"
        )
    if tl.not_run:
        names = ", ".join(step_name(s, _title(report, s)) for s in tl.not_run)
        notes.append(f"<p>Not in the timeline (never started): {_e(names)}.</p>")
    return f"<div class='timeline'>{gantt.svg(tl)}<ul class='legend'>{keys}</ul></div>" + "".join(
        notes
    )


def _injections(report: dict[str, Any]) -> list[str]:
    """The faults a drill facilitator injected, with the run's time to notice and recover."""
    found = report.get("injections") or []
    if not found:
        return []
    rows = [
        [
            i["fault"], i["site"], _when(i["injected_at"]), i["who"], i["noticed_by"] or "-",
            describe(i["notice_s"], "not noticed"),
            f"{describe(i['recover_s'], 'not recovered')} ({i['recovered_how'] or '-'})",
        ]
        for i in found
    ]  # fmt: skip
    head = ["Fault", "Site", "Injected (UTC)", "By", "Noticed by", "Time to notice", "Recovered"]
    return ["<h2>Injected faults</h2>", _table(head, rows)]


def _title(report: dict[str, Any], step_id: str) -> str | None:
    return next((s["title"] for s in report["steps"] if s["id"] == step_id), None)


def _time_table(tl: Timeline) -> str:
    head = "<tr><th>Step</th><th class='n'>Start</th><th class='n'>Duration</th>"
    head += "<th class='n'>Waiting for people</th><th class='n'>In systems</th>"
    head += "<th class='n'>Attempts</th><th>Critical path</th></tr>"
    rows = [
        f"<tr><td>{_e(b.name)}</td><td class='n'>+{_e(format_duration(b.start))}</td>"
        f"<td class='n'>{_e(format_duration(b.duration))}</td>"
        f"<td class='n'>{_e(format_duration(b.people_s))}</td>"
        f"<td class='n'>{_e(format_duration(b.systems_s))}</td>"
        f"<td class='n'>{b.attempts}</td><td>{'yes' if b.critical else ''}</td></tr>"
        for b in tl.bars
    ]
    busy = tl.people_s + tl.systems_s
    rows.append(
        f"<tr><th>Whole run (wall clock, overlaps counted once)</th><th class='n'></th>"
        f"<th class='n'>{_e(format_duration(tl.end))}</th>"
        f"<th class='n'>{_e(format_duration(tl.people_s))} ({_pct(tl.people_s, busy)})</th>"
        f"<th class='n'>{_e(format_duration(tl.systems_s))} ({_pct(tl.systems_s, busy)})</th>"
        f"<th class='n'></th><th>{_e(format_duration(sum(b.duration for b in tl.critical)))}"
        "</th></tr>"
    )
    idle = (
        f"<p>No step was running for {_e(format_duration(tl.idle_s))} of the run "
        "(between steps, or while the run was interrupted).</p>"
        if tl.idle_s >= 1
        else ""
    )
    return f"<table>{head}{''.join(rows)}</table>{idle}"


def _objectives(report: dict[str, Any]) -> str:
    rto, rpo = report["rto"], report["rpo"]
    rows = [
        [
            "RTO",
            format_duration(rto["achieved_s"]),
            format_duration(rto["objective_s"]),
            rto["status"],
            f"service restored at {rto['service_restored_at'] or '-'}",
        ],
        [
            "RPO",
            format_duration(rpo["achieved_s"]),
            format_duration(rpo["objective_s"]),
            rpo["status"],
            rpo.get("reason") or f"recovery point {rpo['recovery_point'] or '-'}",
        ],
    ]
    return _table(["Clock", "Achieved", "Objective", "Status", "Basis"], rows) + (
        f"<p>Incident time: {_e(report['incident_at'])}.</p>"
    )


def _signoffs(report: dict[str, Any]) -> str:
    rows = []
    for step in report["steps"]:
        signers = step["outputs"].get("signers")
        if not isinstance(signers, list):
            continue
        entered = next(
            (a.get("by") for a in step["answers"] if a.get("question") == "sign-off"), None
        )
        for person in signers:
            if isinstance(person, dict):
                rows.append(
                    [
                        person.get("name"),
                        person.get("role"),
                        step_name(step["id"], step["title"]),
                        step["ended_at"],
                        entered,
                    ]
                )
    if not rows:
        return "<p>No sign-off in this run.</p>"
    return _table(["Name", "Role", "Step", "Time (UTC)", "Entered by"], rows)


def _participants(run: ReadRun) -> list[str]:
    people = run.state.participants
    if not people:
        return []
    return [
        "<h2>Participants (signed in)</h2>",
        _table(
            ["Initials", "Name", "Role", "Affiliation"],
            [
                [p.get("initials"), p.get("name"), p.get("role"), p.get("affiliation")]
                for p in people
            ],
        ),
    ]


def _steps(report: dict[str, Any]) -> list[str]:
    out = [
        _table(
            ["Step", "Status", "Started (UTC)", "Duration", "Attempts", "Answers"],
            [
                [
                    step_name(s["id"], s["title"]),
                    shown_status(report, s),
                    _when(s["started_at"]),
                    format_duration(s["duration_s"]),
                    s["attempts"],
                    " / ".join(s["who"]),
                ]
                for s in report["steps"]
            ],
        )
    ]
    for s in report["steps"]:
        lines = [f"Failed {f['text']}" for f in s["failures"]]
        if s["error"]:
            lines.append(f"Error: {s['error']}")
        if s["reason"]:
            lines.append(f"Note: {s['reason']}")
        lines += [f"Output {k}: {_show(v, k)}" for k, v in s["outputs"].items()]
        if lines:
            out.append(f"<h3>{_e(step_name(s['id'], s['title']))}</h3>")
            if s["description"]:
                out.append(f"<p>{_e(s['description'])}</p>")
            out.append("<ul>" + "".join(f"<li>{_e(line)}</li>" for line in lines) + "</ul>")
    return out


def _when(timestamp: str | None) -> str:
    """``2026-11-26 03:00:00`` (to the second: the journal keeps the microseconds)."""
    return timestamp[:19].replace("T", " ") if timestamp else "-"


def _show(value: Any, key: str = "") -> str:
    text = show(value, key)
    return text if len(text) <= 400 else text[:399] + "…"
