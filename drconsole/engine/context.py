"""The run context: what a step kind may use of a run (and nothing of its scheduling).

It journals events (fsynced, folded into the state, then shown to the observers), asks people
(:class:`~drconsole.engine.asking.Asking`), resolves ``${...}`` references against the inputs,
the targets and earlier steps' outputs, and bridges worker threads to the event loop (live
output lines, secret questions).
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from pathlib import Path
from typing import Any, Protocol

from drconsole.adapters.base import PermanentError
from drconsole.engine.asking import Asking
from drconsole.engine.events import NewEvent
from drconsole.engine.modes import Mode
from drconsole.engine.operator import NoAnswer, Operator
from drconsole.engine.outcome import StepFailed
from drconsole.engine.preview import placeholder
from drconsole.journal.journal import Event, JournalWriter
from drconsole.plans.model import Plan, Step
from drconsole.plans.refs import Ref, RefError, resolve
from drconsole.runs.state import RunState, StepStatus, apply
from drconsole.secrets import Secret
from drconsole.targets import Targets, TargetsError


class Observer(Protocol):
    """Told of each journaled event (after fsync) and of live output lines."""

    def event(self, event: Event, state: RunState) -> None: ...

    def live(self, step_id: str, line: str) -> None: ...


class RunContext(Asking):
    """One run's plan, journal, state, people, mode, inputs, targets and directory."""

    def __init__(
        self,
        plan: Plan,
        *,
        journal: JournalWriter,
        state: RunState,
        operator: Operator,
        mode: Mode,
        inputs: dict[str, Any],
        targets: Targets | None = None,
        observers: list[Observer] | None = None,
        run_dir: Path | None = None,
    ) -> None:
        super().__init__(operator)
        self.plan = plan
        self.journal = journal
        self.state = state
        self.mode = mode
        self.inputs = inputs
        self.targets = targets or Targets()
        self.observers = list(observers or [])
        self.run_dir = run_dir or journal.run_dir
        self.loop: asyncio.AbstractEventLoop | None = None  # set when the run starts

    # ----------------------------------------------------------------- journal and observers
    def emit(self, new: NewEvent) -> Event:
        """Journal an event (fsynced), fold it into the state, then tell the observers."""
        event = self.journal.append(new.type.value, new.data)
        apply(self.state, event)
        for observer in self.observers:
            with suppress(Exception):
                observer.event(event, self.state)
        return event

    def live(self, step_id: str, line: str) -> None:
        clean = self.journal.redactor.clean(line)
        for observer in self.observers:
            with suppress(Exception):
                observer.live(step_id, clean)

    # ----------------------------------------------------------------- from worker threads
    def live_from_thread(self, step_id: str, line: str) -> None:
        assert self.loop is not None
        self.loop.call_soon_threadsafe(self.live, step_id, line)

    def secret_from_thread(self, step: Step, prompt: str, problem: str | None) -> Secret:
        assert self.loop is not None
        future = asyncio.run_coroutine_threadsafe(self.ask_secret(step, prompt, problem), self.loop)
        return future.result()

    async def ask_secret(self, step: Step, prompt: str, problem: str | None = None) -> Secret:
        """A secret for an adapter; never journaled (the redactor learns it)."""
        if problem is not None:
            self.refused(step, prompt, problem)
        async with self.asking(step, prompt):
            try:
                secret = await self.operator.secret(self.question(step), prompt, problem)
            except NoAnswer as exc:
                raise PermanentError(str(exc)) from None
        # masked already: a Secret registers its value when it is made
        self.answer(
            step, prompt, f"secret given ({secret.source.split(':')[0]})", self.operator.name
        )
        return secret

    # ----------------------------------------------------------------- references
    def lookup(self, ref: Ref) -> Any:
        if ref.root == "inputs":
            name = ref.parts[0]
            if name not in self.inputs:
                if name in self.plan.inputs:
                    return None
                raise RefError(f"{ref.text}: no such input")
            return self.inputs[name]
        if ref.root == "targets":
            try:
                value: Any = self.targets.site(ref.parts[0]).as_dict()
            except TargetsError as exc:
                raise RefError(f"{ref.text}: {exc}") from None
            for part in ref.parts[1:]:
                if not isinstance(value, dict) or part not in value:
                    raise RefError(f"{ref.text}: the targets file has no {part!r} there")
                value = value[part]
            return value
        step_id, _, output = ref.parts
        record = self.state.steps.get(step_id)
        if self.mode is Mode.DRY_RUN and record and record.status is StepStatus.SIMULATED:
            return placeholder(step_id, output)
        if record is None or output not in record.outputs:
            raise RefError(f"{ref.text}: step {step_id!r} gave no output {output!r}")
        return record.outputs[output]

    def resolve(self, value: Any) -> Any:
        """``value`` with its references resolved.

        Raises:
            StepFailed: a reference cannot be resolved.
        """
        try:
            return resolve(value, self.lookup)
        except RefError as exc:
            raise StepFailed(f"cannot resolve a parameter: {exc}") from None

    def site_name(self, step: Step) -> str | None:
        """The step's site; it may be a reference, e.g. ``${inputs.site}``."""
        if step.site is None:
            return None
        return str(self.resolve(step.site))
