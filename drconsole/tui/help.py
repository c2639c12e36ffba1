"""Help (?) and the command palette's plans and runs."""

from __future__ import annotations

from functools import partial
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.command import Hit, Hits, Provider
from textual.containers import VerticalScroll

from drconsole.tui.once import AnswerOnce

HELP = """\
# drconsole keys

**Escape** or **?** closes this help. Everything has a key; the footer shows the ones that work
here. The mouse is optional.

## Home
- **Enter**: run the highlighted plan (in the mode shown at the top), or open a run: an
  unfinished run is resumed, a finished one shows its report
- **Tab**: move between the plans and the runs
- **m**: change the mode: DRILL (destructive steps only on drill targets), DRY-RUN (nothing is
  called), REAL (acts on production; asks first, and every destructive step needs the target's
  name typed)
- **g**: refresh; **Ctrl+P**: command palette (plans and runs by name); **q**: quit

## Run
- **Up/Down**: look at a step (guidance, parameters, outputs, live output, retry countdown)
- **f**: follow the running step again; **r**: the report (export with **e**)
- **a**: abort the run (asks first; an aborted run cannot be resumed)
- **Escape**: leave; a running run stops and stays resumable

## Questions
- **Confirm**: y / n
- **Destructive step**: type the text shown; anything else, or Enter alone, is refused
- **Secret**: typed characters are hidden and never stored
- **Sign-off**: each person types their own name and role; the same person twice is refused
- **Escape** on a question: no answer (the step is not done)

States are always written in words next to any colour: done, FAILED, RUNNING, waiting,
skipped, MISSED, over budget. The highlighted row is shown in reverse video and the focused
section's title starts with ">", so neither needs colour to be seen.
"""


class HelpScreen(AnswerOnce):
    BINDINGS = [Binding("escape", "dismiss", "Close"), Binding("question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        from textual.widgets import Markdown  # markdown-it is slow to import: only when shown

        with VerticalScroll(classes="modal"):
            yield Markdown(HELP)


def _candidates(plan_dirs: list[Any], runs_dir: Any) -> list[tuple[str, str, Any, Any]]:
    """(text, help, method name, arguments) for every valid plan and recent run."""
    from pathlib import Path

    from drconsole.plans.validate import load_plan
    from drconsole.runs import rundir

    found: list[tuple[str, str, Any, Any]] = []
    for directory in plan_dirs:
        for path in sorted(Path(directory).glob("*.yaml")):
            result = load_plan(path)
            if result.plan is not None:
                found.append(
                    (f"Run plan {path.stem}", result.plan.title, "start_plan", (path, result))
                )
    for summary in rundir.list_runs(runs_dir)[:30]:
        method = "open_report" if summary.state.finished else "resume_run"
        found.append(
            (
                f"Open run {summary.path.name}",
                summary.state.plan.get("title", ""),
                method,
                (summary.path,),
            )
        )
    return found


class PlansAndRuns(Provider):
    """Command palette: run a plan or open a run by name (files read in a thread)."""

    async def search(self, query: str) -> Hits:
        import asyncio

        app: Any = self.app
        matcher = self.matcher(query)
        candidates = await asyncio.to_thread(_candidates, app.plan_dirs, app.runs_dir)
        for text, help_text, method, args in candidates:
            score = matcher.match(text)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(text),
                    partial(getattr(app, method), *args),
                    help=help_text,
                )
