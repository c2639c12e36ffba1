"""What every step kind is: a description, a dry run and a real run of one step, given the run
context (never the engine), and what it asks people (the answers file is checked against it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from drconsole.adapters.base import ActionSpec
from drconsole.engine.ceremony import CeremonySteps
from drconsole.engine.context import RunContext
from drconsole.engine.outcome import Outcome
from drconsole.engine.preview import placeholder
from drconsole.plans.model import Step
from drconsole.plans.validate import step_outputs
from drconsole.runs.state import StepStatus


@dataclass(frozen=True)
class StepRun:
    """One step about to run: the run's context and ceremony, the step, and for an action or
    check its action and resolved parameters."""

    ctx: RunContext
    ceremony: CeremonySteps
    step: Step
    spec: ActionSpec | None = None
    params: dict[str, Any] = field(default_factory=dict)


def simulated(run: StepRun) -> Outcome:
    """A dry run: nothing is called; each output is a placeholder later steps can name."""
    step = run.step
    outputs = {name: placeholder(step.id, name) for name in sorted(step_outputs(step) or ())}
    return Outcome(StepStatus.SIMULATED, outputs, reason="dry-run: nothing was called")


def asks_nothing(step: Step) -> set[str]:
    return set()


@dataclass(frozen=True)
class StepKind:
    """One kind of step (the name is the plan's key: ``action``, ``manual``, ``bag`` ...).

    ``asks`` names the answers-file sections the kind asks from (``engine/answers.py``);
    ``initials`` says whether the actor and the witness initial it in a ceremony.
    """

    name: str
    describe: Callable[[StepRun], str]
    execute: Callable[[StepRun], Awaitable[Outcome]]
    simulate: Callable[[StepRun], Outcome] = simulated
    asks: Callable[[Step], set[str]] = asks_nothing
    initials: bool = True
