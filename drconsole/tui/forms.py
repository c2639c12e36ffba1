"""The start form: a plan's inputs, checked as typed (timestamps in UTC), before anything runs."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from drconsole.plans.inputs import INCIDENT_AT, InputError, coerce
from drconsole.plans.model import InputType, Plan
from drconsole.plans.validate import offline_capable
from drconsole.timeutil import format_timestamp, utcnow


class InputsModal(ModalScreen[dict[str, Any] | None]):
    """Asks every input; Enter on the last field starts; Escape goes back."""

    BINDINGS = [Binding("escape", "cancel", "Back")]
    AUTO_FOCUS = "Input"

    def __init__(self, plan: Plan, given: dict[str, Any], mode_words: str) -> None:
        super().__init__()
        self.plan = plan
        self.given = given
        self.mode_words = mode_words

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
                    yield Input(value="" if value is None else str(value), id=f"in-{name}")
            yield Static(
                "Enter on the last field starts the run.", id="form-problem", classes="modal-hint"
            )

    def on_mount(self) -> None:
        if not self.plan.inputs:
            self.dismiss({})

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
        if problems:
            problem = self.query_one("#form-problem", Static)
            problem.update("REFUSED: " + "; ".join(problems))
            problem.set_classes("modal-problem")
            return
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
