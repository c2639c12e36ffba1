"""The History screen (``h`` on home): what is overdue by the guide's schedule, then per plan the
RTO trend in words, the RTO of each drill as a text bar against the objective line (met or
MISSED written beside each, never colour alone) and the latest runs. Fits 80x24; scrolls for
more. The history is read in a thread from the index (``report/index.py``)."""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from drconsole.report.history import clock_words, history, rto_chart

LATEST = 3  # runs listed under each plan's chart


def history_text(found: dict[str, Any], width: int) -> str:
    """The screen's text for a history (plain text, ``width`` columns at most)."""
    where = str(found["runs_dir"])
    room = width - len(f"History: {found['count']} runs in ")
    where = where if len(where) <= room else "…" + where[-room + 1 :]
    lines = [f"History: {found['count']} runs in {where}", ""]
    late = [d for d in found["schedule"] if d["state"] != "ok"]
    lines.append("Schedule: " + ("every duty is up to date" if not late else ""))
    lines += [f"  {d['says']}" for d in late]
    for entry in found["plans"]:
        lines += ["", f"{entry['title']} ({entry['plan']})", f"  trend: {entry['trend']['says']}"]
        lines += ["  " + line for line in rto_chart(entry["runs"], width=width - 2)]
        for run in entry["runs"][:LATEST]:
            lines.append(
                f"  {run['started_at'][:16].replace('T', ' ')} {run['mode']:<7} "
                f"{run['result']:<10} RTO {clock_words(run['rto'])}"
            )
    if not found["plans"]:
        lines += ["", "No runs yet."]
    return "\n".join(line if len(line) <= width else line[: width - 1] + "…" for line in lines)


class HistoryScreen(Screen[None]):
    BINDINGS = [
        Binding("g", "refresh", "Refresh"),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="history-body"):
            yield Static("reading the history…", id="history", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.action_refresh()

    def action_refresh(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _load(self) -> None:
        app: Any = self.app
        text = history_text(history(app.runs_dir), max(app.size.width - 2, 40))
        app.call_from_thread(self.query_one("#history", Static).update, text)
