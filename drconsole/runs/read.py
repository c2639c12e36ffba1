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
from drconsole.plans.refs import RefError, resolve
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


@dataclass(frozen=True)
class Seal:
    """A witnessed seal a bag is left under: its bag id, the ceremony (run id) that sealed it
    and when, and how many records back that ceremony is (1: the previous one)."""

    bag_id: str
    run_id: str
    at: str
    back: int

    @property
    def source(self) -> str:
        """Where the seal comes from, in words."""
        when = f"run {self.run_id}, {self.at[:10]}" if self.at else f"run {self.run_id}"
        if self.back == 1:
            return f"sealed in the previous ceremony ({when})"
        return f"sealed {self.back} ceremonies ago ({when})"


PREVIOUS_RECORDS = 20  # how far back previous records are followed


@dataclass(frozen=True)
class PreviousSeals:
    """The witnessed seals the previous ceremonies leave (bag label -> seal), and, when an
    older record named in the chain is not there, which one (its bags read as unsealed)."""

    seals: dict[str, Seal]
    missing: str | None = None


def previous_seals(path: str | Path) -> PreviousSeals:
    """The witnessed seal each bag is left under by the previous ceremonies: the newest record
    that touched the bag says (its last seal; opened after it: under no seal, left out),
    however many records back, each record naming its own previous record
    (``PREVIOUS_RECORDS`` at most). A record is a run directory (its journal verified first) or
    an exported ``record.json``. An older record that is not where the newer one names it
    (moved, or named on another machine) ends the chain there: its bags read as unsealed, so
    opening them is an exception that says so, not a ceremony that cannot start.

    Raises:
        PreviousRecordError: ``path`` cannot be read, a record is not a record, or the
            records name each other in a cycle.
    """
    seals: dict[str, Seal] = {}
    decided: set[str] = set()  # labels a newer record left sealed or opened
    seen: list[str] = []
    where: str | Path | None = path
    for back in range(1, PREVIOUS_RECORDS + 1):
        if not where:
            break
        if back > 1 and not Path(where).exists():
            missing = f"{where} (named by {seen[-1]}) is not there"
            return PreviousSeals(seals, missing)
        key = str(Path(where).resolve())
        if key in seen:
            chain = " -> ".join([*seen, key])
            raise PreviousRecordError(f"the previous records name each other in a cycle: {chain}")
        seen.append(key)
        run_id, bags, where = _one_record(Path(where))
        left: dict[str, Seal | None] = {}
        for bag in bags:
            label = str(bag["label"])
            if bag.get("event") == "seal":
                left[label] = Seal(str(bag["bag_id"]), run_id, str(bag.get("at") or ""), back)
            elif bag.get("event") == "open":  # opened and not sealed again: under no seal
                left[label] = None
        for label, seal in left.items():
            if label not in decided and seal is not None:
                seals[label] = seal
        decided |= set(left)
    return PreviousSeals(seals)


def _one_record(where: Path) -> tuple[str, list[dict[str, Any]], str | None]:
    """One previous record: its run id, its bag events, and the previous record it names.

    Raises:
        PreviousRecordError: it cannot be read, or is not a record.
    """
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
        state = replay(snap.events())
        return state.run_id or where.name, state.bags, named_previous(where, state.inputs)
    try:
        data = json.loads(where.read_text(encoding="utf-8"))
        bags, run_id = data["bags"], str(data.get("run_id") or where)
    except OSError as exc:
        raise PreviousRecordError(f"cannot read {where}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise PreviousRecordError(f"{where} is not a ceremony record.json") from None
    named = data.get("previous_record")
    return run_id, bags, str(named) if named else None


def named_previous(run_dir: Path, inputs: dict[str, Any]) -> str | None:
    """The previous record a run's ceremony named (its plan copy's), None when none."""
    plan = plan_copy(run_dir)
    return None if plan is None else previous_record_of(plan, inputs)


def previous_record_problem(plan: Plan, inputs: dict[str, Any]) -> str | None:
    """What is wrong with the previous record a ceremony names with these inputs (it cannot
    be read, or is not a record), else None: refused before a run exists, by the start form
    and by a headless start (found at the first bag, a typo stopped the ceremony with that bag
    open, and the run was left interrupted)."""
    where = previous_record_of(plan, inputs)
    if not where:
        return None
    try:
        previous_seals(where)
    except PreviousRecordError as exc:
        return f"previous record: {exc}"
    return None


def previous_record_of(plan: Plan, inputs: dict[str, Any]) -> str | None:
    """The previous record ``plan``'s ceremony names with these inputs; None when it names
    none (or its reference cannot be resolved: the engine says why)."""
    if plan.ceremony is None or not plan.ceremony.previous_record:
        return None
    try:
        named = resolve(
            plan.ceremony.previous_record,
            lambda ref: inputs.get(ref.parts[0]) if ref.root == "inputs" else None,
        )
    except RefError:
        return None
    return str(named) if named else None
