"""Launch takes the plan the operator saw validated: the console validates a plan for its form,
and the run keeps THAT text (and its SHA-256), even when the file changed since."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from pathlib import Path

from drconsole.engine.answers import AnswersFile, AnswersOperator
from drconsole.engine.launch import prepare_new
from drconsole.engine.modes import Mode
from drconsole.journal.journal import read_events
from drconsole.plans.validate import load_plan
from drconsole.runs.rundir import PLAN_COPY

SEEN = """
id: seen
title: The plan in the form
kind: drill
steps:
  - {id: wait, wait: 0s}
"""

CHANGED = SEEN.replace("The plan in the form", "Changed behind the form's back")


def test_the_run_keeps_the_validated_plan_not_the_file_read_again(
    write_plan: Callable[[str], Path], tmp_path: Path
) -> None:
    path = write_plan(SEEN)
    validated, seen = load_plan(path), path.read_text()
    path.write_text(CHANGED)  # edited after the form showed it
    prepared = prepare_new(
        validated,
        runs_dir=tmp_path / "runs",
        operator=AnswersOperator(AnswersFile()),
        mode=Mode.DRILL,
        given_inputs={},
    )
    asyncio.run(prepared.engine.run())
    prepared.engine.journal.close()
    copy = (prepared.run_dir / PLAN_COPY).read_bytes()
    assert copy.decode() == seen
    started = next(e for e in read_events(prepared.run_dir) if e.type == "run_started")
    assert started.data["plan"]["title"] == "The plan in the form"
    assert started.data["plan"]["sha256"] == hashlib.sha256(copy).hexdigest()
