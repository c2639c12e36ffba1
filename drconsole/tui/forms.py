"""The start form: a plan's inputs, checked as typed (timestamps in UTC), before anything runs.

An input that names a check (``inputs.NAME.check``) is also tested against the site by that
read-only check, in a worker thread: the form shows what it read (the PITR's recovery window)
and refuses a value the check fails on, before a run exists.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Input, Label, Static

from drconsole.plans.inputs import INCIDENT_AT, InputError, coerce
from drconsole.plans.model import InputType, Plan
from drconsole.plans.validate import offline_capable
from drconsole.timeutil import format_timestamp, utcnow
from drconsole.tui.once import AnswerOnce


class InputsModal(AnswerOnce):
    """Asks every input; Enter on the last field starts; Escape goes back."""

    BINDINGS = [Binding("escape", "cancel", "Back")]
    AUTO_FOCUS = "Input"

    def __init__(
        self,
        plan: Plan,
        given: dict[str, Any],
        mode_words: str,
        targets_path: Path | None = None,
        live_checks: bool = True,
    ) -> None:
        super().__init__()
        self.plan = plan
        self.given = given
        self.mode_words = mode_words
        self.targets_path = targets_path
        self.live_checks = live_checks  # not in a dry run: it reads no site
        self.checked = [n for n, spec in plan.inputs.items() if spec.check]

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal"):
            yield Label(f"Start: {self.plan.title}", classes="modal-title")
            yield Static(f"Mode: {self.mode_words}", classes="modal-step")
            yield Static(plan_notes(self.plan), classes="modal-step")
            with VerticalScroll(can_focus=False):
                for name, spec in self.plan.inputs.items():
                    hint = {
                        InputType.TIMESTAMP: " (UTC, e.g. "
                        + format_timestamp(utcnow())[:19]
                        + "Z)",
                        InputType.DURATION: " (e.g. 15m)",
                        InputType.BOOL: " (yes/no)",
                        InputType.CHOICE: f" ({' | '.join(spec.choices or [])})",
                    }.get(spec.type, "")
                    if spec.prompt and "e.g." in spec.prompt:
                        hint = ""  # the plan's own prompt gives the example already
                    need = "" if spec.required else " (optional)"
                    if name == INCIDENT_AT:
                        need = " (optional; default now)"
                    about = f": {spec.description}" if spec.description and not spec.prompt else ""
                    yield Label(f"{spec.prompt or name}{about}{hint}{need}")
                    value = self.given.get(name, spec.default)
                    if isinstance(value, bool):
                        value = "yes" if value else "no"  # as its hint says, not True/False
                    yield Input(value="" if value is None else str(value), id=f"in-{name}")
                    if name in self.checked:
                        note = "checking against the site…" if self.live_checks else ""
                        yield Static(
                            note or "not checked before a dry run (it reads no site)",
                            id=f"check-{name}",
                            classes="modal-hint",
                        )
            yield Static(
                "Enter on the last field starts the run.", id="form-problem", classes="modal-hint"
            )

    def on_mount(self) -> None:
        # the first field still to fill in (required, empty) has the focus, else the first: the
        # ceremony's form put it on a field holding its default, and the backup file's path was
        # typed into the HSM's site; show the form from its top when that field is the first
        typed = self._typed()
        empty = [n for n, spec in self.plan.inputs.items() if spec.required and not typed[n]]
        if empty and empty[0] != next(iter(self.plan.inputs)):
            self.query_one(f"#in-{empty[0]}", Input).focus()
        else:
            self.call_after_refresh(self.query_one(VerticalScroll).scroll_home, animate=False)
        if self.live_checks:
            for name in self.checked:
                self._show_check(name, {k: v for k, v in self._typed().items() if k != name})

    def _typed(self) -> dict[str, str]:
        return {n: self.query_one(f"#in-{n}", Input).value.strip() for n in self.plan.inputs}

    async def _ask_check(self, name: str, typed: dict[str, str]) -> Any:
        from drconsole.engine.precheck import precheck
        from drconsole.targets import TargetsError, load_targets

        try:
            targets = load_targets(self.targets_path) if self.targets_path else None
        except TargetsError:
            return None  # the home screen and the launch say what is wrong with the file
        return await asyncio.to_thread(precheck, self.plan, name, typed, targets)

    @work(exclusive=False, group="checks", exit_on_error=False)
    async def _show_check(self, name: str, typed: dict[str, str]) -> None:
        """What the input's check reads now (without testing a value): e.g. the window."""
        result = await self._ask_check(name, typed)
        if result is not None:
            self.query_one(f"#check-{name}", Static).update(result.text)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        names = list(self.plan.inputs)
        if event.input.id != f"in-{names[-1]}":
            self.focus_next(Input)
            return
        values: dict[str, Any] = {}
        problems = []
        for name, spec in self.plan.inputs.items():
            raw = self.query_one(f"#in-{name}", Input).value.strip()
            if not raw:
                if spec.required:
                    problems.append(f"{name} is required")
                continue
            try:
                coerce(name, spec, raw)
                values[name] = raw
            except InputError as exc:
                problems.append(str(exc))
        from drconsole.runs.read import previous_record_problem

        why = "; ".join(problems) or previous_record_problem(self.plan, values)
        if why:
            self._refuse(why)
            return
        if self.live_checks and any(values.get(n) for n in self.checked):
            self._check_then_start(values)
            return
        self.dismiss(values)

    def _refuse(self, why: str) -> None:
        problem = self.query_one("#form-problem", Static)
        problem.update(f"REFUSED: {why}")
        problem.set_classes("modal-problem")

    @work(exclusive=True, group="start", exit_on_error=False)
    async def _check_then_start(self, values: dict[str, Any]) -> None:
        """Each checked input's check with the typed value: a refusal keeps the form open."""
        hint = self.query_one("#form-problem", Static)
        hint.update("Checking the values against the site…")
        hint.set_classes("modal-hint")
        notes = []
        for name in self.checked:
            if not values.get(name):
                continue
            result = await self._ask_check(name, self._typed())
            if result is None:
                continue
            self.query_one(f"#check-{name}", Static).update(result.text)
            if result.refused:
                self._refuse(f"{name}: {result.text}")
                return
            if result.unknown:
                notes.append(result.text)
        if notes:
            self.notify("; ".join(notes), title="Not checked before the start", timeout=10)
        self.dismiss(values)

    def action_cancel(self) -> None:
        self.dismiss(None)


def plan_notes(plan: Plan) -> str:
    """What to know before starting: offline or not, ceremony or not."""
    if offline_capable(plan):
        said = "OFFLINE-CAPABLE: this plan needs no network."
    else:
        said = "Needs the network to reach its systems."
    if plan.ceremony is not None:
        said += (
            " CEREMONY: everyone signs in first; the actor and the witness initial every step;"
            " b records a break, x an exception."
        )
    return said
