"""The run's report, read from its journal, with export to the run directory (and, for a
ceremony, its record as Markdown and as a printable HTML page)."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Markdown

from drconsole.report.build import build, read_run, to_markdown
from drconsole.report.record import build_record, to_html
from drconsole.report.record import to_markdown as record_markdown


class ReportScreen(Screen[None]):
    BINDINGS = [
        Binding("e", "export", "Export"),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = run_dir
        run = read_run(run_dir)
        self.report = to_markdown(build(run))
        record = build_record(run)
        self.record = record if record["participants"] else None
        self.text = self.report
        if self.record is not None:
            self.text = record_markdown(self.record) + "\n\n---\n\n" + self.report

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(self.text)
        yield Footer()

    def action_export(self) -> None:
        path = self.run_dir / "report.md"
        path.write_text(self.report + "\n", encoding="utf-8")
        written = [path]
        if self.record is not None:
            for name, text in (
                ("record.md", record_markdown(self.record)),
                ("record.html", to_html(self.record)),
            ):
                (self.run_dir / name).write_text(text + "\n", encoding="utf-8")
                written.append(self.run_dir / name)
        self.notify("Written: " + ", ".join(str(p) for p in written), timeout=15)
