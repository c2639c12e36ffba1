"""The run screen: what the run is doing now, what it needs from you, and the clocks.

Header: plan, mode in words (REAL is unmistakable), operator, the RTO clock (elapsed, objective,
time left, projected finish) and the RPO (pending or reached, against objective). Left: the
steps in plan order with status in words and a symbol. Right: the selected step's guidance,
parameters, outputs, live output and retry countdown. Bottom: the journal as it is written.

:class:`RunView` draws all of it from a plan and a run state; :class:`RunScreen` drives the run
with an engine, ``tui/watch_screen.py`` follows another process's run read-only.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, RichLog, Static

from drconsole.engine import clocks
from drconsole.engine.events import EventType, describe, show
from drconsole.engine.launch import Prepared
from drconsole.engine.modes import Mode
from drconsole.journal.journal import Event
from drconsole.plans.model import Plan, Step
from drconsole.plans.refs import Ref, RefError, resolve_known
from drconsole.runs.state import FINISHED, RunResult, RunState, StepStatus
from drconsole.timeutil import format_duration, format_timestamp, parse_timestamp, utcnow
from drconsole.tui.labels import MODE_LABELS
from drconsole.tui.marked_table import MarkedTable

STATUS_WORDS = {
    StepStatus.PENDING: "· waiting",
    StepStatus.RUNNING: "▶ RUNNING",
    StepStatus.SUCCEEDED: "✓ done",
    StepStatus.FAILED: "✗ FAILED",
    StepStatus.SKIPPED: "↷ skipped",
    StepStatus.MARKED_DONE: "✓ marked done",
    StepStatus.CANCELLED: "✗ cancelled",
    StepStatus.SIMULATED: "~ dry-run",
}
NOT_RUN = "– not run"


class RunView(Screen[None]):
    """One run drawn from its plan and state (``run_state``); subclasses say where they come
    from, ``event`` is called with each journaled event."""

    AUTO_FOCUS = "#steps"

    BINDINGS = [
        Binding("r", "report", "Report"),
        Binding("f", "follow", "Follow"),
        Binding("escape", "leave", "Back"),
        Binding("question_mark", "app.help", "Help"),
    ]

    def __init__(self, plan: Plan, run_dir: Path) -> None:
        super().__init__()
        self.plan = plan
        self.run_dir = run_dir
        self.selected = self.plan.steps[0].id
        self.following = True
        # rows the cursor was put on by the screen (the first row when the table is built, then
        # each step followed), whose highlight has not come yet: it is not the person's key
        self._moved: list[str] = [self.selected]
        self._guidance = ""  # the selected step's guidance, shown once settled
        self._guidance_busy = False
        self.live_lines: dict[str, list[str]] = {}
        self.retry_at: dict[str, float] = {}
        # the projected finish last explained (or first shown), and the steps finished then
        self._projected: tuple[datetime, set[str]] | None = None
        self._held_by: str | None = None  # what the last 'later' line said the run waits on
        self.result: RunResult | None = None
        self.finished = False
        self._detail_of: str | None = None  # the step the detail pane shows
        self.next_update: datetime | None = None  # the incident's next update, once told

    @property
    def run_state(self) -> RunState:
        raise NotImplementedError

    @property
    def mode(self) -> Mode:
        return Mode(self.run_state.mode)

    def who(self) -> str:
        """Who the title names (the operator, or that this screen only watches)."""
        return self.run_state.who()

    def lookup(self, ref: Ref) -> Any:
        """What a reference in the plan's words stands for now: the run's inputs and the
        outputs its steps have given (the run screen's engine also knows the targets).

        Raises:
            RefError: not known (yet).
        """
        state = self.run_state
        if ref.root == "inputs" and ref.parts[0] in state.inputs:
            return state.inputs[ref.parts[0]]
        record = state.steps.get(ref.parts[0]) if ref.root == "steps" else None
        if record is not None and ref.parts[-1] in record.outputs:
            return record.outputs[ref.parts[-1]]
        raise RefError(f"{ref.text}: not known yet")

    def measure(self) -> clocks.Clocks:
        """RTO and RPO right now."""
        now = utcnow()
        return clocks.measure(self.run_state, now, self._critical_path(now)[0])

    def _critical_path(self, now: datetime) -> tuple[timedelta, list[str]]:
        """The estimated time left on the longest chain of unfinished steps, and its steps."""
        needs = {s.id: list(s.needs) for s in self.plan.steps}
        estimates = {s.id: s.estimate for s in self.plan.steps if s.estimate is not None}
        return clocks.remaining_critical_path(needs, estimates, self.run_state, now)

    def start(self) -> None:
        """Called once the screen is drawn: start feeding it events."""

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        mode = self.mode
        yield Static(id="run-title", classes=f"mode-{mode.value}")
        yield Static(id="run-clocks")
        with Horizontal(id="run-body"):
            yield MarkedTable(id="steps", cursor_type="row", zebra_stripes=False)
            with VerticalScroll(id="detail"):
                yield Static(id="detail-head")  # then #detail-guidance, once a step has some
                yield Static(id="detail-facts")
                yield RichLog(id="detail-live", max_lines=500, wrap=True)
        yield RichLog(id="journal-log", max_lines=2000, wrap=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#steps", DataTable)
        # fixed widths that fit the steps pane at 80 columns; the detail pane shows full ids
        table.add_column("status", key="status", width=11)
        table.add_column("step", key="step", width=16)
        table.add_column("time", key="time", width=6)
        table.add_column("try", key="tries", width=3)
        for step in self.plan.steps:
            table.add_row("", step.id, "", "", key=step.id)
        state = self.run_state
        for step in self.plan.steps:
            self._update_row(step.id, state)
        self._title()
        self._clocks()
        self._show_detail()
        self.set_interval(1.0, self._tick)
        self.start()

    # ------------------------------------------------------------------ observer
    def event(self, event: Event, state: RunState) -> None:
        data = event.data
        step_id = str(data.get("step") or "")
        line = self._log_line(event)
        if line:
            self.query_one("#journal-log", RichLog).write(line)
        if event.type == "attempt_failed" and data.get("retry_in_s") is not None:
            age = (utcnow() - parse_timestamp(event.ts)).total_seconds()  # a watcher comes late
            self.retry_at[step_id] = time.monotonic() + float(data["retry_in_s"]) - age
        if event.type in ("step_started", "step_finished"):
            self.retry_at.pop(step_id, None)
        if step_id and step_id in state.steps:
            self._update_row(step_id, state)
            if event.type == "step_started" and self.following:
                self._select(step_id)
            elif step_id == self.selected:
                self._show_detail()
        if event.type == "run_finished":
            for step in self.plan.steps:  # the steps it never reached now read "not run"
                self._update_row(step.id, state)
        if event.type in ("milestone", "clock", "run_finished", "run_interrupted"):
            self._clocks()
        if event.type in ("participants", "presence", "exception"):
            self._title()

    def live(self, step_id: str, line: str) -> None:
        self.live_lines.setdefault(step_id, []).append(line)
        if step_id == self.selected:
            self.query_one("#detail-live", RichLog).write(line)

    # ------------------------------------------------------------------ rendering
    def _title(self) -> None:
        state = self.run_state
        mode = MODE_LABELS[self.mode]
        result = ""
        if self.finished:
            result = f" │ {self.result.value.upper() if self.result else 'INTERRUPTED'}"
        ceremony = ""
        if self.plan.ceremony is not None and state.participants:
            here = len(state.participants) - len(state.absent)
            ceremony = (
                f" │ CEREMONY: {here} of {len(state.participants)} in the room"
                f", {len(state.exceptions)} exception(s)"
            )
        width = max(20, (self.size.width or 80) - 2)
        first = _fit(f"{mode}{result} │ {self.plan.title}", width)
        second = _fit(f"{ceremony.removeprefix(' │ ') + ' │ ' if ceremony else ''}"
                      f"{self.who()} │ run {state.run_id}", width)  # fmt: skip
        self.query_one("#run-title", Static).update(f"{first}\n{second}")

    def _clocks(self) -> None:
        c = self.measure()
        finish = ""
        if c.projected_finish is not None:
            finish = f", finish ≈{format_timestamp(c.projected_finish)[11:19]}Z"
            self._explain_projection(c.projected_finish)
        if c.rto_objective is None and c.rpo_objective is None:
            # a ceremony or a check with no objective: its time, not RTO and RPO jargon
            text = f"Elapsed {format_duration(c.rto_elapsed)}{finish} (no RTO or RPO objective)"
        else:
            rto = f"RTO {format_duration(c.rto_elapsed)} {_of(c.rto_objective)}: "
            status = c.rto_status
            rto += status.upper() if status in ("missed", "over budget") else status
            if c.rto_left is not None and c.rto_status in ("running", "over budget"):
                rto += f", {format_duration(c.rto_left)} left"
            rpo = f"RPO {format_duration(c.rpo_achieved) if c.rpo_achieved is not None else '-'} "
            rpo += f"{_of(c.rpo_objective)}: "
            rpo += c.rpo_status.upper() if c.rpo_status == "missed" else c.rpo_status
            if c.rpo_reason and self.finished:
                rpo += f" ({c.rpo_reason})"
            text = f"{rto}{finish}  │  {rpo}"
        found = clocks.incident(self.run_state, utcnow())
        if found is not None:
            text += f"\n{found.summary()}"
            self._remind(found)
        widget = self.query_one("#run-clocks", Static)
        if found is not None:
            widget.styles.height = "auto"  # the incident's line wraps on a narrow terminal
        widget.update(text)

    def _explain_projection(self, projected: datetime) -> None:
        """When the projected finish is a minute or more from the one last explained (or first
        shown), the log says by how much and why, naming the step (id and title) and whom it
        waits for: one line, within 80 columns where the step's title allows. A finish that
        goes on sliding for the same wait is said again only each SAID_AGAIN_AFTER."""
        state = self.run_state
        done = {s.id for s in state.steps.values() if s.status in FINISHED}
        if self._projected is None:
            self._projected = (projected, done)
            return
        before, done_before = self._projected
        moved = projected - before
        if abs(moved) < timedelta(minutes=1):
            return
        now = utcnow()
        step, why = self._sooner(done - done_before) if moved < timedelta(0) else self._later(now)
        held_by = (step.id if step else why.split(" (")[0]) if moved > timedelta(0) else None
        if held_by is not None and held_by == self._held_by and moved < SAID_AGAIN_AFTER:
            return  # the same wait, already said: again only once it has cost a while more
        self._projected = (projected, done)
        self._held_by = held_by
        minutes = round(abs(moved) / timedelta(minutes=1))
        start = (
            f"{format_timestamp(now)[11:19]} finish ≈{format_timestamp(projected)[11:16]}Z, "
            f"{minutes}m {'sooner' if moved < timedelta(0) else 'later'}: "
        )
        self.query_one("#journal-log", RichLog).write(_explained(start, step, why))

    def _sooner(self, ended: set[str]) -> tuple[Step | None, str]:
        """Why the finish moved sooner: the step that ended since with most of its estimate
        left (finished early, failed and went on, skipped)."""
        left = []
        for step in self.plan.steps:
            record = self.run_state.steps.get(step.id)
            if step.id in ended and record is not None and step.estimate is not None:
                took = timedelta(seconds=record.duration_s or 0)
                if took < step.estimate:
                    left.append((step.estimate - took, took, step, record.status))
        if not left:
            return None, "steps finished sooner than their estimates"
        _, took, step, status = max(left, key=lambda found: found[0])
        of = f"{format_duration(took)} of {format_duration(step.estimate)}"
        why = {
            StepStatus.SKIPPED: f"skipped (estimate {format_duration(step.estimate)})",
            StepStatus.SUCCEEDED: f"took {of}",
        }.get(status, f"{status.value.replace('_', ' ')} after {of}")
        return step, why + (f" (+{len(left) - 1} more)" if len(left) > 1 else "")

    def _later(self, now: datetime) -> tuple[Step | None, str]:
        """Why the finish moved later: what the longest chain of steps left waits for (a
        person's answer or decision, a retry, a step past its estimate or without one)."""
        state = self.run_state
        asking = state.asking or {}
        who, question = asking.get("who"), asking.get("question")
        _, chain = self._critical_path(now)
        if asking and (not chain or asking.get("step") not in {s.id for s in self.plan.steps}):
            return None, f"waiting for {who} ({question})"  # a ceremony's sign-in, closing
        if not chain:
            return None, "no step left to run"
        step = self.plan.step(chain[0])
        record = state.steps.get(step.id)
        if asking.get("step") == step.id:
            decision = {"after failure": "failed", "interrupted step": "was interrupted"}
            if question in decision:
                return step, f"{decision[question]}, {who} to decide"
            return step, f"waits for {who} ({question})"
        if record is None or record.status is not StepStatus.RUNNING or not record.started_at:
            return step, "not started yet"
        if step.id in self.retry_at and record.failures:
            failed = record.failures[-1]
            return step, f"attempt {failed.get('attempt')} failed, retrying"
        ran = format_duration(now - record.started_at)
        if step.estimate is None:
            return step, f"running {ran}, no estimate"
        return step, f"running {ran}, estimate {format_duration(step.estimate)}"

    def _remind(self, found: clocks.IncidentClocks) -> None:
        """In the log: the severity's cadence once, then each time an update falls due."""
        if found.next_update is None:
            return
        line = found.announcement(self.next_update)
        if line is not None:
            self.query_one("#journal-log", RichLog).write(line)
        self.next_update = found.next_update

    def _tick(self) -> None:
        if not self.finished:
            self._clocks()
        if self.selected in self.retry_at:
            self._show_facts()

    def _update_row(self, step_id: str, state: RunState) -> None:
        record = state.steps.get(step_id)
        if record is None:
            return
        table = self.query_one("#steps", DataTable)
        status = STATUS_WORDS[record.status]
        if record.status is StepStatus.PENDING and state.result is not None:
            status = NOT_RUN  # the run ended (failed, aborted) before it: it will never run
        table.update_cell(step_id, "status", status)
        table.update_cell(
            step_id,
            "time",
            format_duration(record.duration_s) if record.duration_s is not None else "",
        )
        table.update_cell(step_id, "tries", str(record.attempts or ""))

    def _select(self, step_id: str) -> None:
        self.selected = step_id
        table = self.query_one("#steps", DataTable)
        row = table.get_row_index(step_id)
        if table.cursor_row != row:
            self._moved.append(step_id)  # its highlight comes later, maybe after more moves
            table.move_cursor(row=row)
        self._show_detail()

    def _show_detail(self) -> None:
        if self.selected == self._detail_of:  # the same step: only its facts change
            self._show_facts()
            return
        self._detail_of = self.selected
        step = self.plan.step(self.selected)
        self.query_one("#detail-head", Static).update(
            f"{step.label}  [{step.kind}{', DESTRUCTIVE' if step.destructive else ''}]"
        )
        self._show_guidance(resolve_known(step.guidance or step.manual or "", self.lookup))
        live = self.query_one("#detail-live", RichLog)
        live.clear()
        for line in self.live_lines.get(self.selected, []):
            live.write(line)
        self._show_facts()

    def _show_guidance(self, text: str) -> None:
        """The step's guidance as Markdown, mounted under the head for the first step that has
        some (an empty Markdown takes no room): markdown-it, linkify and pygments cost about
        4 MB, which a run whose steps have no guidance never loads."""
        self._guidance = text
        if self._guidance_busy or (not text and not self.query("#detail-guidance")):
            return
        self._guidance_busy = True
        self.run_worker(self._settle_guidance(), group="guidance")

    async def _settle_guidance(self) -> None:
        """Show the newest guidance, one update at a time: a Markdown updated before it is
        mounted shows its first text, and an update that overlaps another leaves the older
        text (or both) on screen, under the name of another step."""
        from textual.widgets import Markdown

        try:
            found = self.query("#detail-guidance")
            if found:
                markdown = found.first(Markdown)
            else:
                markdown = Markdown(id="detail-guidance")
                await self.query_one("#detail", VerticalScroll).mount(
                    markdown, after="#detail-head"
                )
            shown = None
            while shown != self._guidance:
                shown = self._guidance
                await markdown.update(shown)
        finally:
            self._guidance_busy = False

    def _show_facts(self) -> None:
        record = self.run_state.steps.get(self.selected)
        lines = []
        if record is not None:
            lines.append(
                f"Status: {STATUS_WORDS[record.status]}"
                + (f", attempt {record.attempts}" if record.attempts > 1 else "")
            )
            if record.description:
                lines.append(f"Does: {record.description}")
            for key, value in record.params.items():
                lines.append(f"  with.{key} = {show(value, key)}")
            at = self.retry_at.get(self.selected)
            if at is not None:
                last = record.failures[-1] if record.failures else {}
                lines.append(f"Attempt {last.get('attempt')} failed: {last.get('error')}")
                lines.append(f"Next attempt in {max(0, round(at - time.monotonic()))} s")
            if record.error:
                lines.append(f"Error: {record.error}")
            if record.reason:
                lines.append(f"Note: {record.reason}")
            for key, value in record.outputs.items():
                lines.append(f"  out.{key} = {show(value, key)[:200]}")
        self.query_one("#detail-facts", Static).update("\n".join(lines))

    @staticmethod
    def _log_line(event: Event) -> str | None:
        if event.type == EventType.CLOCK:
            return None  # the clocks have their own line above
        return f"{event.ts[11:19]} {describe(event)}"

    # ------------------------------------------------------------------ actions
    @on(DataTable.RowHighlighted, "#steps")
    def _row(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value in self._moved:  # following moved it there, not the person
            del self._moved[: self._moved.index(event.row_key.value) + 1]
            return
        if event.row_key.value and event.row_key.value != self.selected:
            self.selected = str(event.row_key.value)
            self.following = False
            self._show_detail()

    def action_follow(self) -> None:
        self.following = True
        running = [s for s, r in self.run_state.steps.items() if r.status is StepStatus.RUNNING]
        if running:
            self._select(running[0])
        self.notify("Following the running step.")

    def action_report(self) -> None:
        from drconsole.tui.report_screen import ReportScreen

        self.app.push_screen(ReportScreen(self.run_dir))

    def action_leave(self) -> None:
        self.app.pop_screen()


class RunScreen(RunView, inherit_bindings=False):
    """One run, live, driven by this process's engine."""

    BINDINGS = [
        Binding("a", "abort", "Abort run"),
        Binding("r", "report", "Report"),
        Binding("f", "follow", "Follow"),
        Binding("b", "presence", "Break"),
        Binding("x", "exception", "Exception"),
        Binding("escape", "leave", "Back"),
        Binding("question_mark", "app.help", "Help"),
    ]

    def __init__(self, prepared: Prepared) -> None:
        super().__init__(prepared.engine.plan, prepared.run_dir)
        self.prepared = prepared
        self.engine = prepared.engine

    @property
    def run_state(self) -> RunState:
        return self.engine.state

    @property
    def mode(self) -> Mode:
        return self.engine.mode

    def who(self) -> str:
        return self.run_state.who(self.engine.operator.name)

    def lookup(self, ref: Ref) -> Any:
        return self.engine.ctx.lookup(ref)  # the targets too

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Break and exception keys exist only in ceremonies; abort only while the run runs."""
        if action in ("presence", "exception"):
            return self.plan.ceremony is not None and not self.finished
        if action == "abort":
            return not self.finished
        return True

    def start(self) -> None:
        self.engine.observers.append(self)
        self.run_worker(self._drive(), exclusive=True, group="engine", exit_on_error=False)

    async def _drive(self) -> None:
        error: str | None = None
        try:
            self.result = await self.engine.run()
        except Exception as exc:  # the journal itself failed (a full disk): say so, keep going
            error = f"{type(exc).__name__}: {exc}"
        finally:
            self.engine.journal.close()
            self.finished = True
            self.refresh_bindings()  # abort is gone from the footer
            self._title()
            self._clocks()
            self._show_detail()
        if self.result is not None:
            self.notify(
                f"Run finished: {self.result.value.upper()}. Press r for the report.", timeout=10
            )
            if self.result is not RunResult.SUCCEEDED:
                await self._sandbox_hint()
            return
        why = error or self.engine.stop_reason or "stopped"
        message = f"Run INTERRUPTED: {why}. It is resumable: drconsole resume {self.engine.run_dir}"
        if error is not None:  # not journaled: the journal could not be written
            self.query_one("#journal-log", RichLog).write(f"ERROR  {error}")
        self.notify(message, severity="error", timeout=30)

    async def _sandbox_hint(self) -> None:
        """Under a failed run on a sandbox a drill left off its baseline: what and how to fix."""
        from drconsole.sandbox.baseline import hint

        found = await asyncio.to_thread(hint, self.run_state.targets_file)
        if found is not None:
            self.query_one("#journal-log", RichLog).write(f"SANDBOX  {found}")
            self.notify(found, severity="warning", timeout=30)

    def action_abort(self) -> None:
        if self.finished:
            self.notify("The run has finished.")
            return
        from drconsole.tui.modals import ChoiceModal

        def chosen(answer: Any) -> None:
            if answer and answer[0] == "abort":
                self.engine.abort(f"aborted by {self.engine.operator.name} from the console")

        self.app.push_screen(
            ChoiceModal(
                None,
                "Abort the run?",
                "Running steps are cancelled and the run ends as ABORTED (it cannot be resumed).",
                [("abort", "x", "Abort the run"), ("keep", "k", "Keep running")],
            ),
            chosen,
        )

    def action_presence(self) -> None:
        """Someone leaves the room or comes back (two people at least stay)."""
        from drconsole.engine.ceremony import CeremonyError
        from drconsole.engine.operator import FieldSpec
        from drconsole.tui.modals import EvidenceModal

        state = self.engine.state
        if not state.participants:
            self.notify("Nobody has signed in yet.")
            return
        out = ", ".join(p["initials"] for p in state.participants
                        if p["initials"].casefold() in state.absent) or "nobody"  # fmt: skip
        fields = [
            FieldSpec("initials", prompt="Initials of who leaves or comes back"),
            FieldSpec("event", "choice", prompt="leaves or back", choices=["leaves", "back"]),
            FieldSpec("reason", prompt="Reason (for a break)", required=False),
        ]

        def done(values: Any) -> None:
            if not values:
                return
            try:
                if values.get("event") == "back":
                    self.engine.ceremony.come_back(values["initials"])
                elif values.get("event") == "leaves":
                    self.engine.ceremony.leave(values["initials"], values.get("reason") or "break")
                else:
                    raise CeremonyError("say 'leaves' or 'back'")
            except CeremonyError as exc:
                self.notify(f"REFUSED: {exc}", severity="error", timeout=15)

        question = self.engine.question(self.plan.step(self.selected))
        self.app.push_screen(
            EvidenceModal(question, fields, None, title="Break", text=f"Out of the room: {out}"),
            done,
        )

    def action_exception(self) -> None:
        """The witness or administrator writes down an exception to the script."""
        from drconsole.engine.ceremony import CeremonyError
        from drconsole.engine.operator import FieldSpec
        from drconsole.tui.modals import EvidenceModal

        fields = [
            FieldSpec("expected", prompt="What the script expected", required=False),
            FieldSpec("happened", prompt="What happened"),
            FieldSpec("decision", prompt="The ceremony administrator's decision"),
        ]

        def done(values: Any) -> None:
            if not values:
                return
            try:
                number = self.engine.ceremony.note_exception(
                    self.selected, values.get("expected", ""), values.get("happened", ""),
                    values.get("decision", ""),
                )  # fmt: skip
            except CeremonyError as exc:
                self.notify(f"REFUSED: {exc}", severity="error")
                return
            self.notify(f"Exception #{number} recorded at step {self.selected}.")

        question = self.engine.question(self.plan.step(self.selected))
        title = f"Exception at step {self.selected}"
        self.app.push_screen(EvidenceModal(question, fields, None, title=title), done)

    def action_leave(self) -> None:
        if self.finished:
            self.app.pop_screen()
            return
        from drconsole.tui.modals import ChoiceModal

        def chosen(answer: Any) -> None:
            if answer and answer[0] == "stop":
                self.engine.interrupt(f"left by {self.engine.operator.name} from the console")

        self.app.push_screen(
            ChoiceModal(
                None,
                "Leave the run?",
                "The run stops now and stays resumable from the home screen.",
                [("stop", "s", "Stop and leave"), ("keep", "k", "Keep running")],
            ),
            chosen,
        )


def _of(objective: timedelta | None) -> str:
    """``of 15m`` against the plan's objective; said plainly when the plan sets none."""
    return f"of {format_duration(objective)}" if objective is not None else "(no objective set)"


# a finish held up by the same step (or person) keeps sliding with the clock while they wait:
# said when it has moved a minute, then again only each time it has moved this much more
SAID_AGAIN_AFTER = timedelta(minutes=5)


def _explained(start: str, step: Step | None, why: str, width: int = 80) -> str:
    """``start``, the step as ``id (title)``, then ``why``; the title cut short with an
    ellipsis (to 10 characters at least) where the line would pass ``width``."""
    if step is None:
        return start + why
    title = step.title or ""
    over = len(start) + len(step.id) + len(title) + len(why) + 4 - width
    if over > 0 and len(title) > 10:
        title = title[: max(9, len(title) - over - 1)] + "…"
    return f"{start}{step.id} ({title}) {why}" if title else f"{start}{step.id} {why}"


def _fit(text: str, width: int) -> str:
    """One title line within the screen's width (cut with an ellipsis, never wrapped)."""
    return text if len(text) <= width else text[: width - 1] + "…"
