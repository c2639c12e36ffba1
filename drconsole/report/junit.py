"""The run as JUnit XML, so that any CI system shows a verification plan's checks as tests.

One ``testsuite`` per run (named after the plan), one ``testcase`` per step of the plan, in
the plan's order, with its time in seconds: a failed step is a ``failure`` carrying the error
text (and every failed attempt); a step skipped, cancelled, marked done by hand or never run is
``skipped`` with the reason; a step still running when the journal ends is an ``error``. The
suite's properties name the run, its mode and result, and the journal's final hash and whether
it verified. Characters XML cannot carry (control characters) are shown as ``\\xNN``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from drconsole.engine.events import show
from drconsole.report.build import build
from drconsole.runs.read import ReadRun, step_name
from drconsole.timeutil import format_timestamp

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
SKIPPED = ("skipped", "cancelled", "marked_done", "pending")


def _text(value: Any) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", "" if value is None else str(value))


def to_junit(run: ReadRun) -> str:
    """The JUnit XML document (a ``testsuites`` root holding one ``testsuite``)."""
    report = build(run)
    plan_id = str(report["plan"].get("id") or "plan")
    steps = report["steps"]
    failed = [s for s in steps if s["status"] == "failed"]
    errors = [s for s in steps if s["status"] == "running"]
    skipped = [s for s in steps if s["status"] in SKIPPED]
    seconds = sum(s["duration_s"] or 0.0 for s in steps)
    counts = {
        "tests": str(len(steps)),
        "failures": str(len(failed)),
        "errors": str(len(errors)),
        "skipped": str(len(skipped)),
        "time": f"{seconds:.3f}",
    }
    root = ET.Element("testsuites", {"name": f"drconsole {plan_id}", **counts})
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": plan_id,
            "timestamp": _text(report["started_at"]),
            "hostname": _text(run.events[0].data.get("host") if run.events else ""),
            **counts,
        },
    )
    properties = ET.SubElement(suite, "properties")
    journal = report["journal"]
    for name, value in (
        ("run_id", report["run_id"]),
        ("mode", report["mode"]),
        ("operator", report["operator"]),
        ("result", report["result"]),
        ("journal_final_hash", journal["final_hash"]),
        ("journal_verified", "yes" if journal["intact"] else f"no: {journal['problem']}"),
        ("generated_at", format_timestamp(run.state.last_ts)),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": _text(value)})
    for step in steps:
        suite.append(_case(plan_id, step, report["result"]))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def _case(plan_id: str, step: dict[str, Any], result: str) -> ET.Element:
    case = ET.Element(
        "testcase",
        {
            "classname": plan_id,
            "name": _text(step_name(step["id"], step["title"])),
            "time": f"{step['duration_s'] or 0.0:.3f}",
        },
    )
    tries = [f"failed {f['text']}" for f in step["failures"]]
    if step["status"] == "failed":
        failure = ET.SubElement(
            case, "failure", {"message": _text(step["error"] or "failed"), "type": "StepFailed"}
        )
        failure.text = _text("\n".join([*tries, f"error: {step['error']}"]))
    elif step["status"] == "running":
        ET.SubElement(
            case,
            "error",
            {"message": "the journal ends while this step runs (interrupted)", "type": "Running"},
        )
    elif step["status"] in SKIPPED:
        why = step["reason"] or (
            "not run: the run " + result if step["status"] == "pending" else ""
        )
        ET.SubElement(case, "skipped", {"message": _text(f"{step['status']}: {why}".rstrip(": "))})
    out = [f"{k}: {show(v, k)}" for k, v in step["outputs"].items()] + tries + step["who"]
    if out:
        ET.SubElement(case, "system-out").text = _text("\n".join(out))
    return case
