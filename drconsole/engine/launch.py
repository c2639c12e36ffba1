"""Starting and resuming runs: everything between a command line (or the TUI) and the engine.

``prepare_new`` checks inputs and targets and creates the run directory; ``prepare_resume``
rebuilds a killed run from its directory. Both return an :class:`Engine` ready to ``run()``.

Both check everything they can before they write anything, and both take the run's driver lock
(``runs/lock.py``) before they write: the engine's journal holds it until it is closed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drconsole import __version__
from drconsole.adapters import registry
from drconsole.engine import policy
from drconsole.engine.answers import AnswersError, AnswersOperator, check_fits
from drconsole.engine.context import Observer, RunContext
from drconsole.engine.events import EventType, NewEvent
from drconsole.engine.modes import Mode
from drconsole.engine.operator import Operator
from drconsole.engine.runner import Engine
from drconsole.journal.files import describe_write_error, write_private
from drconsole.journal.journal import JournalError, JournalWriter, is_run_dir
from drconsole.people import text_problem
from drconsole.plans import inputs as plan_inputs
from drconsole.plans.model import Plan
from drconsole.plans.refs import Ref, RefError, has_refs, resolve
from drconsole.plans.validate import LoadResult, load_plan
from drconsole.runs.index import Snapshot
from drconsole.runs.lock import LOCK_FILE, RunLock, RunLocked
from drconsole.runs.read import previous_record_problem
from drconsole.runs.rundir import PLAN_COPY, TARGETS_COPY, new_run_dir
from drconsole.runs.state import FINISHED, RunState, apply, replay
from drconsole.targets import Targets, TargetsError, load_targets
from drconsole.timeutil import format_timestamp, utcnow


class LaunchError(Exception):
    """The run cannot start or resume; the message says why and what to do."""


@dataclass
class Prepared:
    """An engine ready to run and the directory it writes to."""

    engine: Engine
    run_dir: Path


def check_targets_for(plan_result: LoadResult, targets: Targets | None) -> None:
    """Every site a plan names must be in the targets file.

    Raises:
        LaunchError: a site is missing, or sites are named and there is no targets file.
    """
    assert plan_result.plan is not None
    # a site given by reference (${inputs.site}) is checked when the step runs; a step whose
    # condition reads its own site from the targets (when: "${targets.dr.postgres}") runs
    # only when the site is there, and is skipped, saying so, when it is not
    sites = sorted(
        {
            s.site
            for s in plan_result.plan.steps
            if s.site
            and "${" not in s.site
            and not str(s.when or "").startswith(f"${{targets.{s.site}.")
        }
    )
    if not sites:
        return
    if targets is None:
        raise LaunchError(
            f"plan {plan_result.plan.id} acts on site(s) {', '.join(sites)}: pass --targets FILE"
        )
    for site in sites:
        try:
            targets.site(site)
        except TargetsError as exc:
            raise LaunchError(str(exc)) from None


def check_answers(
    operator: Operator,
    plan: Plan,
    mode: Mode,
    state: RunState | None = None,
    targets: Targets | None = None,
) -> None:
    """The operator's name and an answers file against the plan (the secrets it names for the
    steps still to run included, and their typed confirmations), before anything is written.

    Raises:
        LaunchError: what does not fit, one problem per line.
    """
    remaining = None
    if state is not None:
        remaining = [s.id for s in state.steps.values() if s.status not in FINISHED]
    try:
        if problem := text_problem(operator.name, "the operator's name", name=True):
            raise AnswersError(problem)
        check_fits(operator, plan, remaining)
    except AnswersError as exc:
        raise LaunchError(str(exc)) from None
    if unconfirmed := _unconfirmed(operator, plan, mode, remaining, targets):
        raise LaunchError(
            "the answers file has no typed confirmation for destructive step(s) "
            f"{', '.join(unconfirmed)} (nothing was run: the run would have stopped there, "
            "after the steps before it had run); add them, e.g. steps: {"
            + ", ".join(f"{s}: {{typed: {_typed_example(plan, s)}}}" for s in unconfirmed)
            + "}"
            + (", or in a drill pass --yes" if mode is Mode.DRILL else "")
        )


def _unconfirmed(
    operator: Operator,
    plan: Plan,
    mode: Mode,
    remaining: list[str] | None,
    targets: Targets | None,
) -> list[str]:
    """The destructive steps still to run whose typed confirmation an answers file (headless)
    cannot give: found only at the step, their run would fail there after the steps before had
    stopped a database or the writers, and a resume would end a run killed mid-way for good.
    A step with a condition (``when``) is left to ask at the step, unless the condition reads
    only the targets file and holds (the PITR's standby rebuild, when the targets have dr)."""
    if not isinstance(operator, AnswersOperator) or operator.yes or mode is Mode.DRY_RUN:
        return []
    wanted = set(remaining) if remaining is not None else {s.id for s in plan.steps}
    given = operator.answers.steps
    return [
        step.id
        for step in plan.steps
        if step.id in wanted
        and step.kind in ("action", "manual")  # the kinds that ask (engine/steps)
        and _runs_for_sure(step.when, targets)
        and policy.destructive(step, registry.lookup(step.call) if step.call else None)
        and (step.id not in given or given[step.id].typed is None)
    ]


def _runs_for_sure(when: bool | str | None, targets: Targets | None) -> bool:
    """Whether a step's condition is known to hold before the run: none, or one that reads
    only the targets file and is true there. Any other condition may skip the step."""
    if when is None:
        return True
    if targets is None or not isinstance(when, str) or not has_refs(when):
        return False

    def lookup(ref: Ref) -> Any:
        if ref.root != "targets":
            raise RefError(f"{ref.text} is not known before the run")
        try:
            value: Any = targets.site(ref.parts[0]).as_dict()
        except TargetsError as exc:
            raise RefError(str(exc)) from None
        for part in ref.parts[1:]:
            if not isinstance(value, dict) or part not in value:
                raise RefError(f"{ref.text}: not in the targets file")
            value = value[part]
        return value

    try:
        return not policy.is_false(resolve(when, lookup))
    except RefError:
        return False


def _typed_example(plan: Plan, step_id: str) -> str:
    text = str(plan.step(step_id).confirm or "")
    return repr(text) if text and "${" not in text else "TEXT"


def prepare_new(
    validated: LoadResult | Path,
    *,
    runs_dir: Path,
    operator: Operator,
    mode: Mode,
    given_inputs: Mapping[str, Any],
    targets_path: Path | None = None,
    yes: bool = False,
    observers: list[Observer] | None = None,
) -> Prepared:
    """Check everything, create the run directory with the validated plan's text, and journal
    ``run_started``.

    Raises:
        LaunchError: the plan, inputs, targets or options are not usable (nothing was created).
    """
    if yes and mode is Mode.REAL:
        raise LaunchError(
            "--yes is refused in real mode: every confirmation in a real recovery "
            "is made by a person. Use an answers file, or --mode drill"
        )
    # the plan the operator saw validated (the console's form) is the one copied, never the
    # file read again: it may have changed since; a path (the CLI) is read and validated here
    result = load_plan(validated) if isinstance(validated, Path) else validated
    if not result.ok or result.plan is None:
        raise LaunchError("the plan is not valid:\n" + "\n".join(str(p) for p in result.problems))
    plan = result.plan
    targets = None
    if targets_path is not None:
        try:
            targets = load_targets(targets_path)
        except TargetsError as exc:
            raise LaunchError(str(exc)) from None
    check_targets_for(result, targets)
    check_answers(operator, plan, mode, targets=targets)
    start = utcnow()
    try:
        values = plan_inputs.collect(plan, given_inputs, start)
    except plan_inputs.InputError as exc:
        raise LaunchError(str(exc)) from None
    if (problem := previous_record_problem(plan, values)) is not None:
        raise LaunchError(f"{problem}; give the run directory or record.json of the ceremony")
    incident = plan_inputs.incident_time(values, start)
    try:
        run_dir = new_run_dir(runs_dir, plan.id, start)
    except OSError as exc:
        raise LaunchError(
            f"cannot create a run directory under {runs_dir}: {exc.strerror or exc}"
        ) from None
    lock = _lock(run_dir, operator.name)
    journal: JournalWriter | None = None
    try:
        write_private(run_dir / PLAN_COPY, result.text)
        if targets_path is not None:
            write_private(run_dir / TARGETS_COPY, targets_path.read_bytes())
        (run_dir / "artefacts").mkdir(mode=0o700)
        journal = JournalWriter.create(run_dir, lock=lock)
        engine = Engine(
            RunContext(
                plan,
                journal=journal,
                state=RunState(),
                operator=operator,
                mode=mode,
                inputs=values,
                targets=targets,
                observers=observers,
                run_dir=run_dir,
            )
        )
        objectives = plan.objectives
        engine.ctx.emit(
            NewEvent(
                EventType.RUN_STARTED,
                {
                    "run_id": run_dir.name,
                    "plan": {
                        "id": plan.id,
                        "title": plan.title,
                        "kind": plan.kind.value,
                        "version": plan.version,
                        "sha256": result.sha256,
                        "file": result.file,
                    },
                    "mode": mode.value,
                    "operator": operator.name,
                    "yes": yes,
                    "inputs": values,
                    "incident_at": format_timestamp(incident),
                    "objectives": {
                        # 0s is an objective (no data may be lost), not the absence of one
                        "rto_s": None if objectives.rto is None else objectives.rto.total_seconds(),
                        "rpo_s": None if objectives.rpo is None else objectives.rpo.total_seconds(),
                    },
                    "targets_file": str(targets_path) if targets_path else None,
                    "steps": [s.id for s in plan.steps],
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                    "drconsole": __version__,
                },
            )
        )
    except (OSError, JournalError) as exc:
        if journal is not None:
            journal.close()
        lock.release()
        shutil.rmtree(run_dir, ignore_errors=True)  # nothing was recorded: leave nothing
        why = str(exc) if isinstance(exc, JournalError) else _os_problem(exc, run_dir)
        raise LaunchError(f"cannot start the run: {why}") from None
    return Prepared(engine, run_dir)


def prepare_resume(
    run_dir: Path,
    *,
    operator: Operator,
    observers: list[Observer] | None = None,
    yes: bool = False,
) -> Prepared:
    """Reopen a run that stopped before it finished.

    Raises:
        LaunchError: not a run, driven by another process, finished already, journal broken,
            plan changed, ``yes`` for a real-mode run, or a full disk (nothing was written).
    """
    if not is_run_dir(run_dir):
        raise LaunchError(f"{run_dir} is not a run directory (it has no journal.jsonl)")
    lock = _lock(run_dir, operator.name)
    try:
        try:
            snap = Snapshot.read(run_dir)  # read once, under the lock: verified, then replayed
        except OSError as exc:
            raise LaunchError(f"cannot read the journal of {run_dir}: {exc.strerror}") from None
        report = snap.verify()
        if not report.ok and report.torn_tail is None:
            raise LaunchError(
                f"the journal of {run_dir} does not verify ({report.describe()}); "
                "it will not be extended. Keep it as evidence and start a new run"
            )
        state = replay(snap.events())
        plan, targets = _resumable(run_dir, state)
        check_answers(operator, plan, Mode(state.mode), state, targets)
        if yes and state.mode == Mode.REAL.value:
            raise LaunchError(
                f"--yes is refused: run {state.run_id} is in real mode, where every "
                "confirmation is made by a person. Resume without --yes (with an answers file)"
            )
        try:
            journal = JournalWriter.reopen(run_dir, checked=report, lock=lock)
        except (JournalError, OSError) as exc:
            raise LaunchError(
                f"cannot reopen the journal of {run_dir}: {exc}; it is as it was. "
                "Free space there if the disk is full, then resume again"
            ) from None
    except BaseException:
        lock.release()
        raise
    if journal.repaired is not None:
        apply(state, journal.repaired)  # as a replay will see it
    engine = Engine(
        RunContext(
            plan,
            journal=journal,
            state=state,
            operator=operator,
            mode=Mode(state.mode),
            inputs=dict(state.inputs),
            targets=targets,
            observers=observers,
            run_dir=run_dir,
        )
    )
    try:
        engine.ctx.emit(
            NewEvent(
                EventType.RUN_RESUMED,
                {
                    "operator": operator.name,
                    "pid": os.getpid(),
                    "interrupted": state.interrupted_steps(),
                },
            )
        )
    except JournalError as exc:
        journal.close()
        raise LaunchError(
            f"cannot resume {run_dir}: {exc}; the journal is as it was. "
            "Free space there, then resume again"
        ) from None
    return Prepared(engine, run_dir)


def _lock(run_dir: Path, operator: str) -> RunLock:
    """The run's driver lock, or a :class:`LaunchError` naming who holds it."""
    try:
        return RunLock.acquire(run_dir, operator)
    except RunLocked as exc:
        raise LaunchError(str(exc)) from None
    except OSError as exc:
        raise LaunchError(f"cannot lock the run: {_os_problem(exc, run_dir / LOCK_FILE)}") from None


def _os_problem(exc: OSError, fallback: Path) -> str:
    return describe_write_error(exc, Path(exc.filename) if exc.filename else fallback)


def _resumable(run_dir: Path, state: RunState) -> tuple[Plan, Targets | None]:
    """The plan and targets a stopped run continues with.

    Raises:
        LaunchError: no run start, finished already, plan changed or invalid, bad targets.
    """
    if not state.run_id:
        raise LaunchError(f"{run_dir} has no run_started event: not a usable run")
    if state.finished:
        raise LaunchError(
            f"run {state.run_id} finished already ({state.result}); "
            "there is nothing to resume. Start a new run"
        )
    plan_file = run_dir / PLAN_COPY
    raw = plan_file.read_bytes() if plan_file.exists() else b""
    if hashlib.sha256(raw).hexdigest() != state.plan.get("sha256"):
        raise LaunchError(
            f"{plan_file} is missing or differs from the plan this run started "
            "with; the run cannot be resumed safely"
        )
    result = load_plan(plan_file)
    if result.plan is None:
        raise LaunchError(
            "the run's plan no longer validates:\n" + "\n".join(str(p) for p in result.problems)
        )
    targets = None
    if (run_dir / TARGETS_COPY).exists():
        try:
            targets = load_targets(run_dir / TARGETS_COPY)
        except TargetsError as exc:
            raise LaunchError(str(exc)) from None
    return result.plan, targets
