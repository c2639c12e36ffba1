"""A run as Prometheus metrics in the text exposition format, for node_exporter's textfile
collector (``run --metrics-file``) or any scraper (``report --format prom``).

Every sample is labelled with the plan's id. The run described is the last run; the last
success, and the count of runs by result, come from the history of the runs directory the run
lives in (the history index), so a failed daily check still says when the last good one was.
Dry runs are not counted. Figures not measured (an RTO with no ``service_restored``) are left
out rather than written as zero. Names follow Prometheus' conventions: the ``drconsole_``
prefix, ``_seconds``, ``_timestamp_seconds`` and ``_total``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from drconsole.report import index
from drconsole.report.build import build
from drconsole.runs.read import ReadRun
from drconsole.timeutil import parse_timestamp

_HELP = {
    "drconsole_last_run_info": ("gauge", "The last run of the plan (always 1): its id, mode "
                                "and result as labels."),
    "drconsole_last_run_success": ("gauge", "1 when the last run of the plan succeeded, else 0."),
    "drconsole_last_run_timestamp_seconds": ("gauge", "When the last run ended (its last "
                                             "event when it did not end), Unix time."),
    "drconsole_last_success_timestamp_seconds": ("gauge", "When the plan last ran "
                                                 "successfully (not a dry run), Unix time; 0 "
                                                 "when it never did."),
    "drconsole_last_run_duration_seconds": ("gauge", "How long the last run took."),
    "drconsole_last_run_steps_failed": ("gauge", "Steps that failed in the last run."),
    "drconsole_last_run_journal_verified": ("gauge", "1 when the last run's journal verifies "
                                            "(hash chain and head), else 0."),
    "drconsole_last_run_rto_seconds": ("gauge", "RTO achieved by the last run (incident to "
                                       "service restored)."),
    "drconsole_rto_objective_seconds": ("gauge", "The plan's RTO objective."),
    "drconsole_last_run_rpo_seconds": ("gauge", "RPO achieved by the last run (incident back "
                                       "to the recovery point)."),
    "drconsole_rpo_objective_seconds": ("gauge", "The plan's RPO objective."),
    "drconsole_runs_total": ("counter", "Runs of the plan in this runs directory (not dry "
                             "runs), by result."),
}  # fmt: skip


def _unix(text: str | None) -> float | None:
    return parse_timestamp(text).timestamp() if text and text != "-" else None


def _label(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return repr(float(value)) if value != int(value) else str(int(value))


def samples(
    run: ReadRun, report: dict[str, Any], history: list[dict[str, Any]]
) -> list[tuple[str, dict[str, str], float]]:
    """The samples: (name, labels, value). ``report``: the run's, built; ``history``: index
    summaries of the runs directory."""
    plan = str(report["plan"].get("id") or "unknown")
    started = report["started_at"]
    earlier = [
        r
        for r in history
        if r["plan"] == plan and r["mode"] != "dry-run" and r["started_at"] <= started
    ]
    if report["mode"] != "dry-run" and not any(r["run_id"] == report["run_id"] for r in earlier):
        earlier.append(index.summary(run, report))
    successes = [r for r in earlier if r["result"] == "succeeded" and r["journal"]["intact"]]
    last_success = max((_unix(r["last_event_at"]) or 0.0 for r in successes), default=0.0)
    ended = run.state.ended_at or run.state.last_ts
    p = {"plan": plan}
    out: list[tuple[str, dict[str, str], float | None]] = [
        (
            "drconsole_last_run_info",
            {**p, "run_id": report["run_id"], "mode": report["mode"], "result": report["result"]},
            1.0,
        ),
        ("drconsole_last_run_success", p, float(report["result"] == "succeeded")),
        ("drconsole_last_run_timestamp_seconds", p, ended.timestamp() if ended else None),
        ("drconsole_last_success_timestamp_seconds", p, last_success),
        ("drconsole_last_run_duration_seconds", p, _duration(run.state.started_at, ended)),
        (
            "drconsole_last_run_steps_failed",
            p,
            float(sum(s["status"] == "failed" for s in report["steps"])),
        ),
        ("drconsole_last_run_journal_verified", p, float(report["journal"]["intact"])),
        (
            "drconsole_last_run_rto_seconds",
            p,
            report["rto"]["achieved_s"] if report["rto"]["status"] in ("met", "missed") else None,
        ),
        ("drconsole_rto_objective_seconds", p, report["rto"]["objective_s"]),
        ("drconsole_last_run_rpo_seconds", p, report["rpo"]["achieved_s"]),
        ("drconsole_rpo_objective_seconds", p, report["rpo"]["objective_s"]),
    ]
    results: dict[str, int] = {}
    for r in earlier:
        results[r["result"]] = results.get(r["result"], 0) + 1
    out += [
        ("drconsole_runs_total", {**p, "result": k}, float(v)) for k, v in sorted(results.items())
    ]
    return [(name, labels, value) for name, labels, value in out if value is not None]


def _duration(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if start and end else None


def to_prom(run: ReadRun) -> str:
    """The metrics text for a run, with the history of the directory it lives in (the run
    itself summarised from what was read, not read again)."""
    report = build(run)
    history = index.load(run.run_dir.parent, known=(run, report))
    return render(samples(run, report, history))


def render(found: list[tuple[str, dict[str, str], float]]) -> str:
    """The text exposition format: HELP and TYPE once per metric, then its samples."""
    lines: list[str] = []
    for name, (kind, text) in _HELP.items():
        mine = [(labels, value) for n, labels, value in found if n == name]
        if not mine:
            continue
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        for labels, value in mine:
            tags = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            lines.append(f"{name}{{{tags}}} {_number(value)}")
    return "\n".join(lines) + "\n"
