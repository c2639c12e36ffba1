"""The operator's questions as modal screens. Each returns its answer through ``dismiss``.

Keyboard first: every modal can be answered without a mouse; Escape means "no answer" (the
engine then records the step as not confirmed, never as confirmed). Enter alone never confirms
a destructive step: the typed text must match.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Static

from drconsole.engine.operator import FailureChoice, FieldSpec, InterruptedChoice, Question
from drconsole.tui.once import AnswerOnce


class _Modal(AnswerOnce):
    BINDINGS = [Binding("escape", "cancel", "No answer")]
    AUTO_FOCUS: ClassVar[str | None] = "Input"

    def __init__(self, q: Question | None, title: str) -> None:
        super().__init__()
        self.q = q
        self.title_text = title

    def header(self, guidance: bool = True) -> ComposeResult:
        yield Label(self.title_text, classes="modal-title")
        if self.q is not None:
            yield Label(f"Step: {self.q.title} ({self.q.step_id})", classes="modal-step")
        if guidance:
            yield from self.guidance()

    def guidance(self) -> ComposeResult:
        if self.q is not None and self.q.guidance:
            from textual.widgets import Markdown  # markdown-it: only for a step with guidance

            with VerticalScroll(classes="modal-guidance"):
                yield Markdown(self.q.guidance)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_mount(self) -> None:
        self.call_after_refresh(self._fit)

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit)

    def _fit(self) -> None:
        """Crowded (its last line, the fields' hint or the keys, past the bottom edge), the
        guidance and a form's values take only the room left, and scroll; otherwise the modal
        is as tall as it needs. At 80x24 a stopped ceremony's attestation hid 'a: I agree'."""
        modal = self.query_one(".modal")
        if modal.children and not modal.content_region.contains_region(modal.children[-1].region):
            modal.add_class("crowded")


class ConfirmModal(_Modal):
    """Done, or not. Keys: y; n, then n again (a step not done fails, and a failed step may end
    the run for good, so one stray key never says so). Escape and Enter answer nothing: nothing
    has the focus, and Escape only says which keys answer."""

    AUTO_FOCUS: ClassVar[str | None] = ""  # "" focuses nothing (None would take the app's)

    BINDINGS = [
        Binding("y", "answer(True)", "Yes, done"),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "which_keys", "Which keys", show=False),
    ]
    NOT_DONE = (
        "ANSWER NO? n again: no, recorded as such (a step not done fails, which can end the "
        "run; a ceremony's check becomes an exception). Any other key: back."
    )
    KEYS = "Escape answers nothing here: y when it is done, n if it cannot be done."

    def __init__(self, q: Question, prompt: str) -> None:
        super().__init__(q, "Confirm")
        self.prompt = prompt
        self.armed = False  # n was pressed once: n again answers no

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal"):
            yield from self.header()
            yield Static(self.prompt, classes="modal-prompt")
            hint = Static("", id="confirm-hint", classes="modal-problem")
            hint.display = False
            yield hint
            with Horizontal(classes="modal-buttons"):
                yield Button("y: Yes, done", id="yes", variant="success")
                yield Button("n: No", id="no", variant="error")

    def _say(self, text: str | None) -> None:
        hint = self.query_one("#confirm-hint", Static)
        hint.update(text or "")
        hint.display = text is not None

    def on_key(self, event: Any) -> None:
        if self.armed and event.key != "n":  # any other key: back, nothing answered
            event.stop()
            event.prevent_default()
            self.armed = False
            self._say(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_answer(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        if value or self.armed:
            self.dismiss(value)
            return
        self.armed = True
        self._say(self.NOT_DONE)

    def action_which_keys(self) -> None:
        self._say(self.KEYS)


class TypedConfirmModal(_Modal):
    """The operator types the target's name. The engine compares it (and journals a refusal,
    then asks again with the reason); Enter on an empty field is no answer and stays here.

    What the step will do and where, the input and a refusal come first, under the step's
    title; its guidance takes the room left below them (a long guidance pushed the input out
    of sight at 80x24)."""

    def __init__(self, q: Question, prompt: str, expected: str, problem: str | None) -> None:
        super().__init__(q, "DESTRUCTIVE STEP: type to confirm")
        self.prompt = prompt
        self.expected = expected
        self.problem = problem

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal destructive"):
            yield from self.header(guidance=False)
            yield Static(self.prompt, classes="modal-prompt")
            yield Input(placeholder=f"type: {self.expected}", id="typed")
            yield Static(
                f"REFUSED: {self.problem}"
                if self.problem
                else "Enter checks the text; Escape cancels (nothing is done).",
                id="problem",
                classes="modal-problem" if self.problem else "modal-hint",
            )
            yield from self.guidance()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        typed = event.value.strip()
        if not typed:
            problem = self.query_one("#problem", Static)
            problem.update("Nothing typed: Enter alone never confirms. Escape cancels.")
            problem.set_classes("modal-problem")
            return
        self.dismiss(typed)


class SecretModal(_Modal):
    """A masked input; the value is never shown, logged or kept by the screen."""

    def __init__(self, q: Question, prompt: str, problem: str | None) -> None:
        super().__init__(q, "Secret input (masked)")
        self.prompt = prompt
        self.problem = problem

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal"):
            yield from self.header()
            yield Static(self.prompt, classes="modal-prompt")
            yield Input(password=True, id="secret", placeholder="typed characters are hidden")
            yield Static(
                f"REFUSED: {self.problem}" if self.problem else "Enter gives it; Escape cancels.",
                id="problem",
                classes="modal-problem" if self.problem else "modal-hint",
            )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        value = event.value
        event.input.value = ""
        if not value:
            problem = self.query_one("#problem", Static)
            problem.update("Nothing typed: Enter alone gives no secret. Escape cancels.")
            problem.set_classes("modal-problem")
            return
        self.dismiss(value)


class SignoffModal(_Modal):
    """Named people with roles; the engine checks distinctness and roles and may ask again."""

    def __init__(self, q: Question, signers: int, roles: list[str], problem: str | None) -> None:
        super().__init__(
            q, "Sign-off: one person" if signers == 1 else f"Sign-off: {signers} distinct people"
        )
        self.count = max(signers, len(roles))
        self.roles = roles
        self.problem = problem

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal"):
            yield from self.header()
            need = ", ".join(self.roles) or "any role"
            yield Static(
                f"Each signer types their own name. Roles needed: {need}.", classes="modal-prompt"
            )
            for i in range(self.count):
                # the roles in order; further signers get the last role (editable)
                role = self.roles[min(i, len(self.roles) - 1)] if self.roles else ""
                with Horizontal(classes="signer-row"):
                    yield Input(placeholder="name", id=f"name-{i}")
                    yield Input(value=role, placeholder="role", id=f"role-{i}")
            if self.problem:
                yield Static(f"REFUSED: {self.problem}", classes="modal-problem")
            yield Static(
                "Enter goes to the next signer, and signs after the last; Tab reaches the "
                "roles; Escape: no sign-off.",
                id="signoff-hint",
                classes="modal-hint",
            )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        rows = []
        for i in range(self.count):
            name = self.query_one(f"#name-{i}", Input).value.strip()
            role = self.query_one(f"#role-{i}", Input).value.strip()
            rows.append({"name": name, "role": role})
        empty = [i for i, r in enumerate(rows) if not r["name"]]
        if empty:
            # the next signer's name (roles are filled in already; Tab reaches them);
            # Enter on an empty name stays there and says why
            field = self.query_one(f"#name-{empty[0]}", Input)
            if event.input is field:
                self.query_one("#signoff-hint", Static).update(
                    f"Signer {empty[0] + 1} has no name yet: each signer types their own name. "
                    "Escape: no sign-off."
                )
            field.focus()
            return
        self.dismiss(rows)


class EvidenceModal(_Modal):
    """Recorded values (bag numbers, serials), checked by the engine against their form."""

    def __init__(
        self,
        q: Question,
        fields: list[FieldSpec],
        problem: str | None,
        title: str = "Record evidence",
        text: str | None = None,
        keys: str = "Enter: the next field, and records after the last. Escape: no answer.",
    ) -> None:
        super().__init__(q, title)
        self.text = text
        self.keys = keys
        self.fields = fields
        self.problem = problem

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal"):
            yield from self.header(guidance=False)
            if self.text or (self.q is not None and self.q.guidance):
                # what the step did and read, then its guidance: when crowded they take the
                # room the fields leave (at 80x24 a step's values hid the witness's field)
                with VerticalScroll(classes="modal-about"):
                    if self.text:
                        yield Static(self.text, classes="modal-prompt")
                    if self.q is not None and self.q.guidance:
                        from textual.widgets import Markdown  # markdown-it: only when needed

                        yield Markdown(self.q.guidance)
            if self.problem:
                yield Static(f"REFUSED: {self.problem}", classes="modal-problem")
            with VerticalScroll(classes="modal-fields", can_focus=False):
                for f in self.fields:
                    label = f.prompt or f.name
                    form = f" (form {f.pattern})" if f.pattern else ""
                    if f.choices and _numbered(f.choices):
                        form += " (type its number):" + "".join(
                            f"\n  {n}. {c}" for n, c in enumerate(f.choices, start=1)
                        )
                    elif f.choices:
                        form += f" (one of: {', '.join(f.choices)})"
                    # markup=False: a pattern's [A-Z] is text, not a style ("form [0-9]{7}")
                    need = "" if f.required else " (optional)"
                    yield Static(f"{label}{form}{need}", markup=False)
                    yield Input(id=f"ev-{f.name}")
            yield Static(self.keys, id="evidence-hint", classes="modal-hint")

    def on_mount(self) -> None:
        # the first field has the focus; show the fields from the top, its label too
        fields = self.query_one(".modal-fields", VerticalScroll)
        self.call_after_refresh(fields.scroll_home, animate=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        values = {f.name: self.query_one(f"#ev-{f.name}", Input).value.strip() for f in self.fields}
        if event.input.id != f"ev-{self.fields[-1].name}":
            self.focus_next(Input)
            return
        missing = [f for f in self.fields if f.required and not values[f.name]]
        if missing:  # a stray Enter records nothing: an exception's decision read 'none'
            hint = self.query_one("#evidence-hint", Static)
            hint.update(f"{missing[0].prompt or missing[0].name}: needed. Type it, then Enter.")
            hint.set_classes("modal-problem")
            self.query_one(f"#ev-{missing[0].name}", Input).focus()
            return
        for f in self.fields:  # a numbered choice's number stands for its text
            typed = values[f.name]
            if f.choices and _numbered(f.choices) and typed in _numbers(f.choices):
                values[f.name] = f.choices[int(typed) - 1]
        self.dismiss(values)


def _numbered(choices: list[str]) -> bool:
    """Choices listed one a line with a number to type: those a comma-separated line cannot
    tell apart, or that would wrap (the quarterly test's result read '(one of: passed: key
    present, check value matches, failed: ...)', and only the whole sentence was accepted)."""
    return any("," in c for c in choices) or len(", ".join(choices)) > 60


def _numbers(choices: list[str]) -> list[str]:
    return [str(n) for n in range(1, len(choices) + 1)]


class ChoiceModal(_Modal):
    """A decision among a few choices, each with a key. Nothing has the focus at first, so a
    stray Enter chooses nothing. With ``reason_for`` (the choice that needs a reason) a reason
    line is shown: Tab goes straight to it (never to the guidance, where a typed letter would
    choose), Enter there chooses ``reason_for``, and that choice's key with no reason asks for
    one instead of answering.

    With ``final`` (the choice that cannot be undone: abort), that choice's key asks again on
    the spot and only ``y`` then chooses it; any other key, Escape included, goes back to the
    choices and chooses nothing (one stray ``x`` aborted a run, for good)."""

    AUTO_FOCUS: ClassVar[str | None] = ""  # "" focuses nothing (None would take the app's)

    def __init__(
        self,
        q: Question | None,
        title: str,
        text: str,
        choices: list[tuple[str, str, str]],
        reason_for: str | None = None,
        final: str | None = None,
    ) -> None:
        super().__init__(q, title)
        self.text = text
        self.choices = choices
        self.reason_for = reason_for
        self.final = final
        self.armed = False  # the final choice's key was pressed: y confirms it

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal"):
            yield from self.header()
            yield Static(self.text, classes="modal-prompt")
            if self.reason_for is not None:
                key = next(k for v, k, _ in self.choices if v == self.reason_for)
                yield Input(placeholder="reason (recorded in the journal)", id="reason")
                yield Static(
                    f"{key} needs a reason: Tab, type it, then Enter.",
                    id="reason-hint",
                    classes="modal-hint",
                )
            if self.final is not None:
                label = next(lbl for v, _, lbl in self.choices if v == self.final)
                sure = Static(
                    f"{label.upper()}? It is final: the run cannot be resumed. "
                    "y: yes, for good. Any other key: back to the choices.",
                    id="final-hint",
                    classes="modal-problem",
                )
                sure.display = False
                yield sure
            with Horizontal(classes="modal-buttons"):
                for value, key, label in self.choices:
                    yield Button(f"{key}: {label}", id=f"choice-{value}")

    def _arm(self, armed: bool) -> None:
        self.armed = armed
        self.query_one("#final-hint", Static).display = armed

    def action_cancel(self) -> None:
        if self.armed:  # Escape after the final choice's key: back, nothing chosen
            self._arm(False)
            return
        super().action_cancel()

    def on_key(self, event: Any) -> None:
        if self.armed and event.key != "escape":
            event.stop()
            event.prevent_default()
            self._arm(False)
            if event.key == "y":
                self._choose(str(self.final), sure=True)
            return
        if (
            self.reason_for is not None
            and event.key == "tab"
            and not isinstance(self.focused, (Input, Button))
        ):
            event.stop()
            event.prevent_default()
            self.query_one("#reason", Input).focus()
            return
        if isinstance(self.focused, Input):
            return
        for value, key, _ in self.choices:
            if event.key == key:
                event.stop()
                self._choose(value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self.reason_for is not None and event.value.strip():
            self._choose(self.reason_for)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self._choose(str(event.button.id).removeprefix("choice-"))

    def _choose(self, value: str, sure: bool = False) -> None:
        if value == self.final and not sure:
            self._arm(True)
            return
        reason = self.query_one("#reason", Input).value.strip() if self.reason_for else ""
        if value == self.reason_for and not reason:
            hint = self.query_one("#reason-hint", Static)
            hint.update("A reason is needed first: type it here, then Enter.")
            hint.set_classes("modal-problem")
            self.query_one("#reason", Input).focus()
            return
        self.dismiss((value, reason))


def interrupted_modal(q: Question) -> ChoiceModal:
    return ChoiceModal(
        q,
        "Interrupted step",
        "The console stopped while this step ran. It is not safe to repeat by itself. "
        "Check the system, then choose.",
        [
            (InterruptedChoice.RERUN.value, "r", "Run it again"),
            (InterruptedChoice.MARK_DONE.value, "m", "Mark done (reason)"),
            (InterruptedChoice.ABORT.value, "x", "Abort the run"),
        ],
        reason_for=InterruptedChoice.MARK_DONE.value,
        final=InterruptedChoice.ABORT.value,
    )


def failure_modal(q: Question, error: str) -> ChoiceModal:
    return ChoiceModal(
        q,
        "Step failed",
        f"{error}\n\nWhat now?",
        [
            (FailureChoice.RETRY.value, "r", "Retry"),
            (FailureChoice.CONTINUE.value, "c", "Continue without it"),
            (FailureChoice.ABORT.value, "x", "Abort the run"),
        ],
        final=FailureChoice.ABORT.value,
    )
