"""Drill history: per plan every run with its mode, result, RTO and RPO against the objectives
and who ran it; the trend of the RTO drill after drill; and what is overdue by the guide's
schedule. Read from the history index (:mod:`drconsole.report.index`), so it is fast and never
stale. Markdown, JSON or a self-contained HTML page; :func:`rto_chart` draws the RTO per drill
against the objective in plain text (the console's History screen and the Markdown use it).
"""

from __future__ import annotations

import html
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Any

from drconsole.report import index, schedule
from drconsole.timeutil import format_duration, format_timestamp, parse_timestamp, utcnow

MEASURED = ("met", "missed")  # the RTO clock stopped at service_restored


def history(
    runs_dir: Path,
    plan: str | None = None,
    since: datetime | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The history as plain data (what ``--format json`` prints)."""
    now = now or utcnow()
    runs = index.load(runs_dir)
    shown = [
        r
        for r in runs
        if (plan is None or r["plan"] == plan)
        and (
            since is None or (r["started_at"] != "-" and parse_timestamp(r["started_at"]) >= since)
        )
    ]
    plans: dict[str, list[dict[str, Any]]] = {}
    for run in shown:
        plans.setdefault(str(run["plan"]), []).append(run)
    return {
        "runs_dir": str(runs_dir),
        "generated_at": format_timestamp(now),
        "plan": plan,
        "since": format_timestamp(since) if since else None,
        "count": len(shown),
        "plans": [
            {
                "plan": plan_id,
                "title": found[-1]["title"],
                "runs": list(reversed(found)),
                "trend": trend(found),
            }
            for plan_id, found in sorted(plans.items())
        ],
        "schedule": [d for d in schedule.duties(runs, now) if plan is None or d["plan"] == plan],
        "faults": faults(shown),
    }


def faults(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per fault type a drill facilitator injected: the time to notice it, drill after drill
    (oldest first; None where the run never noticed it)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        for i in run.get("injections") or []:
            found.setdefault(i["fault"], []).append(
                {"run": run["name"], "plan": run["plan"], "site": i["site"],
                 "injected_at": i["injected_at"], "notice_s": i["notice_s"],
                 "recover_s": i["recover_s"]}
            )  # fmt: skip
    return [{"fault": k, "drills": v} for k, v in sorted(found.items())]


def faults_markdown(h: dict[str, Any]) -> list[str]:
    """Time to notice each injected fault type, drill after drill."""
    if not h.get("faults"):
        return []
    lines = ["## Injected faults: time to notice, drill after drill", ""]
    for entry in h["faults"]:
        times = ", ".join(
            f"{format_duration(d['notice_s']) if d['notice_s'] is not None else 'not noticed'}"
            f" ({d['plan']}, {d['injected_at'][:10]})"
            for d in entry["drills"]
        )
        lines.append(f"- {entry['fault']}: {times}")
    return [*lines, ""]


def measured(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs, oldest first, whose RTO was measured (service restored; not dry runs)."""
    found = [r for r in runs if r["mode"] != "dry-run" and r["rto"]["status"] in MEASURED]
    return sorted(found, key=lambda r: r["started_at"])


def trend(runs: list[dict[str, Any]], last: int = 10) -> dict[str, Any]:
    """Is the RTO getting better drill after drill? The least-squares slope over the last
    ``last`` measured runs, in seconds per drill, and the answer in words."""
    values = [float(r["rto"]["achieved_s"]) for r in measured(runs)][-last:]
    if len(values) < 2:
        return {
            "drills": len(values),
            "slope_s": None,
            "says": f"not enough measured drills to tell ({len(values)})",
        }
    n = len(values)
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    slope = sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values)) / sum(
        (i - mean_x) ** 2 for i in range(n)
    )
    span = f"RTO {format_duration(values[0])} → {format_duration(values[-1])} over {n} drills"
    if abs(slope) < 0.02 * mean_y:
        says = f"steady: {span}"
    elif slope < 0:
        says = f"getting better: {span} ({format_duration(-slope)} faster per drill)"
    else:
        says = f"getting worse: {span} ({format_duration(slope)} slower per drill)"
    return {"drills": n, "slope_s": round(slope, 3), "says": says}


def rto_chart(runs: list[dict[str, Any]], width: int = 76, last: int = 12) -> list[str]:
    """The RTO of each measured run (the last ``last``, oldest first) as a text bar against the
    objective (a ``│`` in every row), with the figure and a word: met or MISSED."""
    rows = measured(runs)[-last:]
    if not rows:
        return ["(no drill with a measured RTO yet)"]
    objective = next(
        (r["rto"]["objective_s"] for r in reversed(rows) if r["rto"]["objective_s"]), None
    )
    top = max([float(r["rto"]["achieved_s"]) for r in rows] + [float(objective or 0)]) or 1.0
    room = max(width - 11 - 16, 10)  # date, figure and word
    mark = round(room * float(objective) / top) if objective else None
    out = []
    if mark is not None:
        label = f"objective {format_duration(objective)}"
        at = 11 + mark
        fits = at + 2 + len(label) <= width
        out.append(" " * at + f"│ {label}" if fits else f"{label} │".rjust(at + 1))
    for run in rows:
        value = float(run["rto"]["achieved_s"])
        length = round(room * value / top)
        cells = ["█" if i < length else " " for i in range(room + 1)]
        if value > 0 and length == 0:
            cells[0] = "▏"  # there, but too short to draw
        if mark is not None:
            cells[mark] = "│" if cells[mark] == " " else "┼"
        word = "met" if run["rto"]["status"] == "met" else "MISSED"
        out.append(f"{run['started_at'][:10]} {''.join(cells)} {format_duration(value):>7} {word}")
    return out


def clock_words(clock: dict[str, Any]) -> str:
    """An RTO or RPO as ``achieved / objective status``, or its status alone unmeasured."""
    status = str(clock["status"])
    if clock["achieved_s"] is None or status not in MEASURED:
        return status
    achieved, objective = (
        format_duration(clock["achieved_s"]),
        format_duration(clock["objective_s"]),
    )
    return f"{achieved} / {objective} {status}"


def _result(run: dict[str, Any]) -> str:
    broken = "" if run["journal"]["intact"] else " (JOURNAL BROKEN)"
    return f"{run['result']}{broken}"


COLUMNS = ["started (UTC)", "mode", "result", "RTO / objective", "RPO / objective", "who", "run"]


def _row(run: dict[str, Any]) -> list[str]:
    return [
        run["started_at"][:19].replace("T", " "),
        run["mode"],
        _result(run),
        clock_words(run["rto"]),
        clock_words(run["rpo"]),
        run["operator"],
        run["name"],
    ]


def _run_item(run: dict[str, Any]) -> list[str]:
    """One run as a list item of three lines, for a terminal (the table is wider than 80)."""
    started, mode, result, rto, rpo, who, name = _row(run)
    return [f"- {started} {mode} {result}, by {who}", f"  RTO {rto}; RPO {rpo}", f"  run {name}"]


def _wrap(lines: list[str], width: int) -> list[str]:
    """Every line ``width`` columns at most: prose and list items wrapped (a list item's
    continuation indented), code blocks (the chart, drawn to fit) left as they are."""
    out: list[str] = []
    code = False
    for line in lines:
        code = code != line.startswith("```")
        if code or len(line) <= width:
            out.append(line)
            continue
        lead = len(line) - len(line.lstrip(" -"))
        out += textwrap.wrap(
            line, width, subsequent_indent=" " * lead, break_on_hyphens=False
        )  # long words (a path, a run's name) are broken: nothing passes the edge
    return out


def to_markdown(h: dict[str, Any], width: int | None = None) -> str:
    """The history for people: what is overdue first, then each plan's runs and trend.

    ``width`` (a terminal's): each run a short list item instead of a table row, and every
    line wrapped to fit; without it the runs are a table (for a file), as wide as it needs.
    """
    lines = [f"# Drill history ({h['count']} runs in {h['runs_dir']})", ""]
    if h["since"]:
        lines += [f"Runs since {h['since']}.", ""]
    lines += ["## Schedule (the guide's drills and checks)", ""]
    lines += [f"- {d['says']}" for d in h["schedule"]] or ["- no scheduled duty for this plan"]
    lines.append("")
    for entry in h["plans"]:
        lines += [
            f"## {entry['title']} ({entry['plan']})",
            "",
            f"Trend: {entry['trend']['says']}.",
            "",
        ]
        if width is None:
            lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
            lines += [
                "| " + " | ".join(c.replace("|", "\\|") for c in _row(r)) + " |"
                for r in entry["runs"]
            ]
        else:
            lines += [line for r in entry["runs"] for line in _run_item(r)]
        chart = rto_chart(entry["runs"], width=min(76, width or 76))
        lines += ["", "RTO per drill against the objective:", "", "```", *chart, "```", ""]
    if not h["plans"]:
        lines += ["No runs.", ""]
    lines += faults_markdown(h)
    return "\n".join(lines if width is None else _wrap(lines, width))


def to_html(h: dict[str, Any]) -> str:
    """The history as one self-contained page (no external resource), printable on A4."""

    def e(value: Any) -> str:
        return html.escape(str(value))

    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Drill history</title>",
        "<style>body{font-family:'DejaVu Sans',sans-serif;font-size:10.5pt;margin:1.5cm auto;"
        "max-width:27cm;padding:0 1cm} table{border-collapse:collapse;width:100%}"
        "th,td{border:1px solid #888;padding:3px 6px;text-align:left}th{background:#eee}"
        "pre{font-size:9pt;line-height:1.15} @page{size:A4;margin:12mm}"
        "@media print{body{margin:0;padding:0;max-width:none}}</style></head><body>",
        f"<h1>Drill history</h1><p>{h['count']} runs in <code>{e(h['runs_dir'])}</code>, "
        f"as of {e(h['generated_at'])}{', since ' + e(h['since']) if h['since'] else ''}.</p>",
        "<h2>Schedule</h2><ul>"
        + "".join(f"<li>{e(d['says'])}</li>" for d in h["schedule"])
        + "</ul>",
    ]
    for entry in h["plans"]:
        parts.append(f"<h2>{e(entry['title'])} ({e(entry['plan'])})</h2>")
        parts.append(f"<p>Trend: {e(entry['trend']['says'])}.</p>")
        parts.append("<table><tr>" + "".join(f"<th>{e(c)}</th>" for c in COLUMNS) + "</tr>")
        parts += [
            "<tr>" + "".join(f"<td>{e(c)}</td>" for c in _row(r)) + "</tr>" for r in entry["runs"]
        ]
        parts.append("</table><p>RTO per drill against the objective:</p>")
        parts.append("<pre>" + e("\n".join(rto_chart(entry["runs"]))) + "</pre>")
    fault_lines = faults_markdown(h)[2:]
    if fault_lines:
        parts.append("<h2>Injected faults: time to notice, drill after drill</h2><ul>")
        parts += [f"<li>{e(line[2:])}</li>" for line in fault_lines if line]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)
