"""The run's report, read from its journal, with export to the run directory (Markdown and
the self-contained HTML page with the timeline; for a ceremony, its record as Markdown and as a
printable HTML page)."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Markdown

from drconsole.journal.files import describe_write_error, write_private
from drconsole.report import html_report
from drconsole.report.build import build, to_markdown
from drconsole.report.record import build_record, to_html
from drconsole.report.record import to_markdown as record_markdown
from drconsole.runs.read import read_run


class ReportScreen(Screen[None]):
    BINDINGS = [
        Binding("e", "export", "Export"),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.run = run = read_run(run_dir)  # read and verified once: shown and exported
        built = build(run)
        self.report = to_markdown(built)  # exported whole
        shown = to_markdown(built, narrow=True)  # its tables fit the screen
        record = build_record(run)
        self.record = record if record["participants"] else None
        self.text = shown
        if self.record is not None:
            self.text = record_markdown(self.record) + "\n\n---\n\n" + shown

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(self.text)
        yield Footer()

    def action_export(self) -> None:
        outputs = [
            ("report.md", self.report),
            ("report.html", html_report.to_html(self.run)),
        ]
        if self.record is not None:
            outputs += [
                ("record.md", record_markdown(self.record)),
                ("record.html", to_html(self.record)),
            ]
        written = []
        for name, text in outputs:
            try:  # whole or not at all, private to the operator
                write_private(self.run_dir / name, text + "\n")
            except OSError as exc:
                self.notify(describe_write_error(exc, self.run_dir / name), severity="error")
                break
            written.append(str(self.run_dir / name))
        if written:
            self.notify("Written: " + ", ".join(written), timeout=15)
