"""Reading a finished (or stopped) run directory: its journal verified and replayed once, the
plan copy beside it, every refusal in order (:func:`read_run`, where the report, the record,
the CLI and the console start), and the seals a previous ceremony's record holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from drconsole.journal.journal import Event, VerifyReport, is_run_dir
from drconsole.plans.model import Plan
from drconsole.plans.yamlpos import YamlSyntaxError, load_yaml
from drconsole.runs.index import Key, Snapshot
from drconsole.runs.rundir import PLAN_COPY
from drconsole.runs.state import RunState, replay


@dataclass(frozen=True)
class ReadRun:
    """A run directory read once: its journal's check, the state it replays to, every refusal
    in order, the plan that ran (None when its copy is missing or unreadable), the events
    replayed (the timeline reads their times), and the key of the journal that was read (see
    :mod:`drconsole.runs.index`)."""

    run_dir: Path
    check: VerifyReport
    state: RunState
    refusals: list[dict[str, Any]]
    plan: Plan | None
    events: tuple[Event, ...] = ()
    key: Key | None = None

    @cached_property
    def titles(self) -> dict[str, str]:
        """Each titled step's title, by id."""
        return {s.id: s.title for s in self.plan.steps if s.title} if self.plan else {}

    def name(self, step_id: str | None) -> str:
        """A step as an auditor reads it: its title with its id in brackets (its id alone when
        it has no title; ``-`` for none)."""
        return step_name(step_id, self.titles.get(step_id or ""))


def step_name(step_id: str | None, title: str | None) -> str:
    """``Title (id)``, or the id alone when the step has no title (``-`` for no step)."""
    return f"{title} ({step_id})" if title and title != step_id else step_id or "-"


def read_run(run_dir: Path, snapshot: Snapshot | None = None) -> ReadRun:
    """Read a run's journal once (or take ``snapshot``, its bytes read already), verify those
    bytes and replay them (the report and the record both start here).

    Raises:
        OSError: the journal cannot be read.
    """
    snap = snapshot or Snapshot.read(run_dir)
    events, state = snap.replay()
    return ReadRun(
        run_dir,
        snap.verify(),
        state,
        _refusals(events),
        plan_copy(run_dir),
        tuple(events),
        snap.key,
    )


def plan_copy(run_dir: Path) -> Plan | None:
    """The plan that ran, from its copy beside the journal; None when it is missing or no
    longer reads as a plan (steps are then named by id). Only its shape is checked, so a plan
    that ran stays readable when validation grows stricter."""
    try:
        return Plan.model_validate(load_yaml((run_dir / PLAN_COPY).read_text("utf-8")).data)
    except (OSError, UnicodeDecodeError, YamlSyntaxError, ValidationError):
        return None


def _refusals(events: list[Event]) -> list[dict[str, Any]]:
    """Every refusal (``refused`` events: answers refused and guards' refusals), in journal
    order. Journals written before a guard's refusal was a ``refused`` event hold it as the
    answer ``refused: REASON`` to the question ``guard``: read as the same refusal."""
    found = []
    for e in events:
        data = e.data
        if e.type == "refused":
            reason = data.get("reason")
        elif e.type == "operator_answer" and data.get("question") == "guard":  # the old form
            reason = str(data.get("answer")).removeprefix("refused: ")
        else:
            continue
        found.append(
            {
                "at": e.ts,
                "step": data.get("step"),
                "question": data.get("question"),
                "reason": reason,
                "by": data.get("by"),
            }
        )
    return found


class PreviousRecordError(ValueError):
    """The previous ceremony's record cannot be read."""


def previous_seals(path: str | Path) -> dict[str, str]:
    """Bag label -> bag id of the seal each bag is left under by the previous ceremony's
    record (its last seal, unless opened after it): its run directory (journal verified
    first) or its exported ``record.json``."""
    where = Path(path)
    if where.is_dir():
        if not is_run_dir(where):
            raise PreviousRecordError(f"{where} is not a run directory")
        try:
            snap = Snapshot.read(where)
        except OSError as exc:
            raise PreviousRecordError(f"cannot read {where}: {exc.strerror}") from None
        check = snap.verify()
        if not check.ok:
            raise PreviousRecordError(f"previous record {where}: {check.describe()}")
        bags = replay(snap.events()).bags
    else:
        try:
            bags = json.loads(where.read_text(encoding="utf-8"))["bags"]
        except OSError as exc:
            raise PreviousRecordError(f"cannot read {where}: {exc.strerror}") from None
        except (ValueError, KeyError, TypeError):
            raise PreviousRecordError(f"{where} is not a ceremony record.json") from None
    seals: dict[str, str] = {}
    for bag in bags:
        if bag.get("event") == "seal":
            seals[str(bag["label"])] = str(bag["bag_id"])
        elif bag.get("event") == "open":  # opened and not sealed again: under no seal
            seals.pop(str(bag["label"]), None)
    return seals
