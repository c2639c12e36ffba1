"""The run's report, read from its journal, with export to the run directory."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Markdown

from drconsole.report.build import build, to_markdown


class ReportScreen(Screen[None]):
    BINDINGS = [
        Binding("e", "export", "Export report.md"),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.text = to_markdown(build(run_dir))

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(self.text)
        yield Footer()

    def action_export(self) -> None:
        path = self.run_dir / "report.md"
        path.write_text(self.text + "\n", encoding="utf-8")
        self.notify(f"Written: {path}")
