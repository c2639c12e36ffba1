"""A ceremony's record, for participants to sign: the plan's SHA-256 and version, participants,
materials inventory, every step by title with initials, times, the values recorded, who
approved and which holder presented which card or share, tamper-evident bag events, breaks,
exceptions, refusals, artefacts with hashes, closing attestations, and the journal's final hash
so the paper and the electronic record can be matched. Markdown, printable HTML, or JSON.

Built from the run directory alone (the journal, verified, and the plan copy kept beside it).
"""

from __future__ import annotations

import hashlib
import html
from pathlib import Path
from typing import Any

from drconsole.engine.events import (
    ATTESTATION_TEXT,
    attestation_text,
    exception_text,
    presence_text,
    show,
)
from drconsole.people import name_key
from drconsole.report.build import refusals_markdown, shown_status
from drconsole.runs.read import ReadRun, named_previous, read_run, step_name
from drconsole.runs.state import StepState, StepStatus
from drconsole.timeutil import format_timestamp


def build_record(run: Path | ReadRun) -> dict[str, Any]:
    """The record as plain data (what ``--format json`` prints, and what the next ceremony
    reads its bag numbers from)."""
    if isinstance(run, Path):
        run = read_run(run)
    run_dir, check, state, plan = run.run_dir, run.check, run.state, run.plan
    kinds = {s.id: s.kind for s in plan.steps} if plan else {}
    sheet = {name_key(str(p.get("initials", ""))): p for p in state.participants}
    steps = []
    for number, step in enumerate(state.steps.values(), start=1):
        marks = step.initials or {}
        approved, presented = _approved(step), _presented(step, sheet)
        steps.append(
            {
                "number": number,
                "id": step.id,
                "title": run.titles.get(step.id, step.id),
                "kind": kinds.get(step.id, ""),
                "status": step.status.value,
                "attempts": step.attempts,
                "started_at": format_timestamp(step.started_at) if step.started_at else None,
                "ended_at": format_timestamp(step.ended_at) if step.ended_at else None,
                "actor": marks.get("actor"),
                "witness": marks.get("witness"),
                "initialled_at": marks.get("at"),
                "what": step.description,
                "recorded": _recorded(step.outputs),
                "approved_by": approved,
                "presented": presented,
                "said": _said(step.outputs, approved, presented),
                "error": step.error,
                "note": step.reason if step.status is not StepStatus.SUCCEEDED else None,
            }
        )
    role = plan.ceremony.administrator if plan and plan.ceremony else "administrator"
    deciders = ", ".join(
        f"{p['name']} ({p['initials']}, {role})" for p in state.participants if p["role"] == role
    )
    attested = {name_key(str(a["initials"])): a for a in state.attestations}
    said = [a["statement"] for a in state.attestations if a.get("statement")]
    participants = []
    for p in state.participants:
        a = attested.get(name_key(str(p["initials"])))
        participants.append(
            {
                **p,
                "attestation": None
                if a is None
                else {
                    "agree": a["agree"],
                    "reason": a.get("reason"),
                    "at": a["at"],
                    "statement": a.get("statement"),
                },
            }
        )
    return {
        "run_id": state.run_id,
        "plan": {
            "id": state.plan.get("id"),
            "title": state.plan.get("title"),
            "version": state.plan.get("version"),
            "sha256": state.plan.get("sha256"),
        },
        "mode": state.mode,
        "operator": state.operator,
        "started_at": format_timestamp(state.started_at) if state.started_at else None,
        "ended_at": format_timestamp(state.ended_at) if state.ended_at else None,
        "result": state.result.value if state.result else "unfinished",
        "result_reason": state.result_reason,
        "inputs": state.inputs,
        # the record this ceremony read its seals from: the next ceremony follows it back
        "previous_record": named_previous(run_dir, state.inputs),
        "participants": participants,
        # the words agreed to, as journaled (journals from before they were: the console's)
        "statement": said[0] if said else ATTESTATION_TEXT,
        "materials": [m.model_dump() for m in plan.ceremony.materials]
        if plan and plan.ceremony
        else [],
        "steps": steps,
        "bags": state.bags,
        "presence": state.presence,
        # who initialled the step an exception was met at (its actor and witness), and who
        # decides: the ceremony's administrator, whose decision the console asks for
        "exceptions": [
            {**e, **_marks(state.steps.get(e.get("step") or "")), "decided_by": deciders or None}
            for e in state.exceptions
        ],
        "refusals": [{**r, "title": run.titles.get(r["step"] or "")} for r in run.refusals],
        "artefacts": _artefacts(run_dir, state.steps),
        "journal": {
            "events": check.count,
            "final_hash": check.final_hash,
            "intact": check.ok,
            "problem": None if check.ok else check.describe(),
        },
    }


def _marks(step: StepState | None) -> dict[str, Any]:
    """The actor's and the witness's initials on ``step`` (None when not initialled)."""
    marks = (step.initials if step is not None else None) or {}
    return {"actor": marks.get("actor"), "witness": marks.get("witness")}


def _recorded(outputs: dict[str, Any]) -> dict[str, Any]:
    """Outputs worth printing (values read, check values, counts, a choice made), not long
    texts (a command's output): the transport choice, 84 characters, was left out at 80."""
    kept = {}
    for key, value in outputs.items():
        if key in ("labels", "stdout", "stderr") or value is None:
            continue
        if isinstance(value, str | int | float | bool) and len(str(value)) <= 240:
            kept[key] = value
    return kept


def _approved(step: StepState) -> list[str]:
    """Who approved the step, as ``name (role)`` (its accepted sign-off, whatever its shape)."""
    signers = step.outputs.get("signers")
    return [show(s) for s in signers] if isinstance(signers, list) else []


def _presented(step: StepState, sheet: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each holder of the quorum: initials, name from the sign-in sheet, what they presented."""
    found = []
    presented = step.outputs.get("presented") or []
    for entry in presented if isinstance(presented, list) else [presented]:
        given = dict(entry) if isinstance(entry, dict) else {"what": entry}
        initials = str(given.pop("initials", "") or "")
        person = sheet.get(name_key(initials), {})
        what = ", ".join(f"{k} {show(v)}" for k, v in given.items())
        found.append({"initials": initials, "name": person.get("name"), "presented": what})
    return found


def _said(
    outputs: dict[str, Any], approved: list[str], presented: list[dict[str, Any]]
) -> list[str]:
    """The recorded column in words: values read, who approved, who presented what."""
    said = [f"{k}={show(v, k)}" for k, v in _recorded(outputs).items()]
    if approved:
        said.append("approved by " + "; ".join(approved))
    said += [
        f"{p['initials'] or '?'} ({p['name'] or 'not on the sign-in sheet'}) presented "
        f"{p['presented']}"
        for p in presented
    ]
    return said


def _artefacts(run_dir: Path, steps: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    base = run_dir / "artefacts"
    if base.is_dir():
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            with path.open("rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
            found.append({"file": str(path.relative_to(run_dir)), "sha256": digest, "step": None})
    for step in steps.values():
        sha = step.outputs.get("sha256")
        if isinstance(sha, str):
            path = step.params.get("path") or step.outputs.get("path")
            found.append({"file": str(path), "sha256": sha, "step": step.id})
    return found


# ----------------------------------------------------------------------------- Markdown
def _bag_check(b: dict[str, Any]) -> str:
    """What was checked of a bag: intact, and its number against the last seal."""
    said = []
    if b.get("intact") is not None:
        said.append("intact" if b["intact"] else "NOT INTACT")
    if b.get("previous"):
        same = str(b["previous"]).casefold() == str(b["bag_id"]).casefold()
        where = f", {b['previous_source']}" if b.get("previous_source") else ""
        said.append(f"{'matches' if same else 'DIFFERS FROM'} {b['previous']}{where}")
    elif b.get("event") != "seal":  # opened or inspected with no seal anyone saw
        said.append(f"NO WITNESSED SEAL: {b.get('previous_source') or 'not known'}")
    return "; ".join(said)


def _bag_line(b: dict[str, Any]) -> str:
    check = _bag_check(b)
    tail = f" ({check})" if check else ""
    return f"{b['at']} | {b['event']} | {b['label']} | {b['bag_id']} | {b['contents']}{tail}"


def _witnessed(exception: dict[str, Any]) -> str:
    """Who initialled the step an exception was met at, in words."""
    if not exception.get("witness"):
        return "no step initials"
    return f"actor {exception.get('actor')}, witness {exception['witness']}"


def _status(record: dict[str, Any], step: dict[str, Any]) -> str:
    """A step's status, which attempt it ended at, and for one that failed why (a failed check
    read only 'failed: continued', not 'more than one secret key is labelled ...')."""
    said = shown_status(record, step) + (f": {step['note']}" if step["note"] else "")
    if step.get("attempts", 0) > 1:  # run again (an operator's retry): the journal says why
        said += f", attempt {step['attempts']}"
    return said + (f" ({step['error']})" if step["error"] and step["status"] == "failed" else "")


def _decided(exception: dict[str, Any]) -> str:
    """Who decided an exception: the administrator (records from before: who typed it)."""
    if str(exception.get("decision") or "").startswith("no decision recorded"):
        return "nobody"
    return exception.get("decided_by") or f"typed by {exception.get('by')}"


def to_markdown(record: dict[str, Any]) -> str:
    plan = record["plan"]
    lines = [
        f"# Ceremony record: {plan['title']}",
        "",
        f"- Plan: `{plan['id']}` version {plan['version'] or '-'}",
        f"- Plan SHA-256: `{plan['sha256']}`",
        f"- Run: `{record['run_id']}` ({str(record['mode']).upper()})",
        f"- Console operator: {record['operator']}",
        f"- Started {record['started_at']}, ended {record['ended_at'] or '-'} (UTC)",
        f"- Result: **{record['result']}** ({record['result_reason'] or '-'})",
        f"- Journal final hash: `{record['journal']['final_hash']}` "
        f"({record['journal']['events']} events, "
        f"{'intact' if record['journal']['intact'] else 'BROKEN'})",
        "",
        "## Participants",
        "",
        "| initials | name | role | affiliation | holds |",
        "|---|---|---|---|---|",
    ]
    for p in record["participants"]:
        lines.append(
            f"| {p['initials']} | {p['name']} | {p['role']} | {p['affiliation'] or '-'} | "
            f"{', '.join(p.get('holds') or []) or '-'} |"
        )
    if record["inputs"]:
        lines += ["", "## Inputs", ""]
        lines += [f"- {k}: `{show(v, k)}`" for k, v in record["inputs"].items()]
    if record["materials"]:
        lines += ["", "## Materials", ""]
        for m in record["materials"]:
            lines.append(f"- {m['item']}" + (f" (bag: {m['bag']})" if m.get("bag") else ""))
    lines += [
        "",
        "## Steps",
        "",
        "| # | step | status | time (UTC) | actor | witness | recorded |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in record["steps"]:
        recorded = "; ".join(s["said"]) or "-"
        status = _status(record, s)
        lines.append(
            f"| {s['number']} | {s['title']} (`{s['id']}`) | {status} | "
            f"{s['initialled_at'] or s['ended_at'] or '-'} | {s['actor'] or '-'} | "
            f"{s['witness'] or '-'} | {recorded.replace('|', '/')} |"
        )
    lines += ["", "## Tamper-evident bags", ""]
    lines += (
        [
            "| time | event | bag | number | contents |",
            "|---|---|---|---|---|",
        ]
        + [f"| {_bag_line(b)} |" for b in record["bags"]]
        if record["bags"]
        else ["- none"]
    )
    lines += ["", "## Breaks", ""]
    lines += [
        f"- {e['at']}: {e['name']} ({e['initials']}) {presence_text(e)}" for e in record["presence"]
    ] or ["- none"]
    lines += ["", "## Exceptions", ""]
    lines += [
        f"- {e['at']}: {exception_text(e, '`' + (e['step'] or '-') + '`')} "
        f"(decided by {_decided(e)}; {_witnessed(e)})"
        for e in record["exceptions"]
    ] or ["- none"]
    lines += ["", *refusals_markdown(record["refusals"])]
    lines += ["## Artefacts", ""]
    lines += [
        f"- `{a['file']}` SHA-256 `{a['sha256']}`" + (f" (step {a['step']})" if a["step"] else "")
        for a in record["artefacts"]
    ] or ["- none"]
    lines += ["", "## Attestations", "", f"Agreeing means: {record['statement']}", ""]
    for p in record["participants"]:
        lines += [
            f"- {p['name']} ({p['initials']}, {p['role']}): {attestation_text(p['attestation'])}",
            "",
            "  Signature: ______________________  Date: ____________",
            "",
        ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- HTML
_CSS = """
body { font-family: serif; font-size: 11pt; margin: 2cm; color: #000; }
h1 { font-size: 16pt; } h2 { font-size: 13pt; margin-top: 1.2em; }
table { border-collapse: collapse; width: 100%; margin: 0.5em 0; }
th, td { border: 1px solid #000; padding: 3px 5px; text-align: left; vertical-align: top; }
code { font-family: monospace; word-break: break-all; }
.sig td { height: 2.2em; }
.flag { font-weight: bold; }
@media print { body { margin: 1.2cm; } h2 { break-after: avoid; } tr { break-inside: avoid; } }
@page { size: A4; @bottom-right { content: counter(page) " / " counter(pages); } }
"""


def _e(value: Any) -> str:
    return html.escape("-" if value is None or value == "" else str(value))


_PEN = object()  # a cell left blank for a pen (a signature, its date), never a dash


def _table(head: list[str], rows: list[list[Any]], cls: str = "") -> str:
    """A table; a head of empty names has no heading row (the run's facts)."""
    heading = "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>" if any(head) else ""
    out = [f"<table class='{cls}'>{heading}"]
    if not rows:
        out.append(f"<tr><td colspan='{len(head)}'>none</td></tr>")
    for row in rows:
        cells = ("<td></td>" if c is _PEN else f"<td>{_e(c)}</td>" for c in row)
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def to_html(record: dict[str, Any]) -> str:
    """A printable page: the same facts as the Markdown, and signature lines."""
    plan = record["plan"]
    journal = record["journal"]
    final = journal["final_hash"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Ceremony record {_e(record['run_id'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>Ceremony record: {_e(plan['title'])}</h1>",
        _table(
            ["", ""],
            [
                ["Plan", f"{plan['id']} version {plan['version'] or '-'}"],
                ["Plan SHA-256", plan["sha256"]],
                ["Run", f"{record['run_id']} ({str(record['mode']).upper()})"],
                ["Console operator", record["operator"]],
                ["Started / ended (UTC)", f"{record['started_at']} / {record['ended_at'] or '-'}"],
                ["Result", f"{record['result']} ({record['result_reason'] or '-'})"],
                ["Journal final hash", final],
                [
                    "Journal",
                    f"{journal['events']} events, "
                    f"{'intact' if journal['intact'] else 'BROKEN: ' + str(journal['problem'])}",
                ],
            ],
        ),
        "<h2>Participants</h2>",
        _table(
            ["Initials", "Name", "Role", "Affiliation", "Holds"],
            [
                [
                    p["initials"],
                    p["name"],
                    p["role"],
                    p["affiliation"],
                    ", ".join(p.get("holds") or []),
                ]
                for p in record["participants"]
            ],
        ),
    ]
    if record["inputs"]:
        parts += [
            "<h2>Inputs</h2>",
            _table(["Input", "Value"], [[k, show(v, k)] for k, v in record["inputs"].items()]),
        ]
    if record["materials"]:
        parts += [
            "<h2>Materials</h2>",
            _table(["Item", "Bag"], [[m["item"], m.get("bag")] for m in record["materials"]]),
        ]
    parts += [
        "<h2>Steps</h2>",
        _table(
            ["#", "Step", "Status", "Time (UTC)", "Actor", "Witness", "Recorded"],
            [
                [
                    s["number"],
                    f"{s['title']} ({s['id']})",
                    _status(record, s),
                    s["initialled_at"] or s["ended_at"],
                    s["actor"],
                    s["witness"],
                    "; ".join(s["said"]),
                ]
                for s in record["steps"]
            ],
        ),
        "<h2>Tamper-evident bags</h2>",
        _table(
            ["Time", "Event", "Bag", "Number", "Contents", "Check"],
            [
                [b["at"], b["event"], b["label"], b["bag_id"], b["contents"], _bag_check(b)]
                for b in record["bags"]
            ],
        ),
        "<h2>Breaks</h2>",
        _table(
            ["Time", "Who", "Event"],
            [
                [
                    e["at"],
                    f"{e['name']} ({e['initials']})",
                    presence_text(e),
                ]
                for e in record["presence"]
            ],
        ),
        "<h2>Exceptions</h2>",
        _table(
            ["#", "Time", "Step", "Expected", "Happened", "Decision", "Decided by", "Initials"],
            [
                [
                    e["number"],
                    e["at"],
                    e["step"],
                    e["expected"],
                    e["happened"],
                    e["decision"],
                    _decided(e),
                    _witnessed(e),
                ]
                for e in record["exceptions"]
            ],
        ),
        "<h2>Refusals</h2>",
        _table(
            ["Time", "Step", "Question", "Reason", "By"],
            [
                [r["at"], step_name(r["step"], r["title"]), r["question"], r["reason"], r["by"]]
                for r in record["refusals"]
            ],
        ),
        "<h2>Artefacts</h2>",
        _table(
            ["File", "SHA-256", "Step"],
            [[a["file"], a["sha256"], a["step"]] for a in record["artefacts"]],
        ),
        "<h2>Attestations and signatures</h2>",
        f"<p>Agreeing means: {_e(record['statement'])}</p>",
        _table(
            ["Name", "Role", "Initials", "Attestation", "Signature", "Date"],
            [
                [
                    p["name"],
                    p["role"],
                    p["initials"],
                    attestation_text(p["attestation"]),
                    _PEN,
                    _PEN,
                ]
                for p in record["participants"]
            ],
            cls="sig",
        ),
        f"<p>This page belongs to the electronic record whose journal ends with hash "
        f"<code>{_e(final)}</code>.</p>",
        "</body></html>",
    ]
    return "\n".join(parts)
