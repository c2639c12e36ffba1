"""A DataTable whose highlighted row carries a "»" in a first narrow column, so the row under
the cursor is visible without colour (a monochrome terminal, a colour-blind operator).

Its cells and headings are plain text: a ``str`` is drawn as DataTable draws a one-line ``str``
cell, but not read as Rich markup (a plan, step or operator name is data, never styling; the
markup pass also loads Rich's emoji table, 0.6 MB, for the first cell). Rows are one line.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable

MARK = "»"  # not ▶, which the run screen uses for RUNNING
_MARK_KEY = "mark"


def plain(value: Any) -> Any:
    """A ``str`` as the one-line plain text DataTable would make of it; anything else as is."""
    return Text(value, no_wrap=True, end="") if isinstance(value, str) else value


class MarkedTable(DataTable[Any]):
    """Use like a DataTable: the marker column is added before the first column."""

    def add_column(
        self, label: Any, *, width: int | None = None, key: str | None = None, default: Any = None
    ) -> Any:
        if not self.columns and key != _MARK_KEY:
            super().add_column(Text(), width=1, key=_MARK_KEY)
        label = Text(label) if isinstance(label, str) else label
        return super().add_column(label, width=width, key=key, default=default)

    def add_row(
        self, *cells: Any, height: int | None = 1, key: str | None = None, label: Any = None
    ) -> Any:
        mark = MARK if self.row_count == self.cursor_row else ""
        texts = [plain(cell) for cell in (mark, *cells)]
        return super().add_row(*texts, height=height, key=key, label=label)

    def update_cell(
        self, row_key: Any, column_key: Any, value: Any, *, update_width: bool = False
    ) -> None:
        super().update_cell(row_key, column_key, plain(value), update_width=update_width)

    def update_cell_at(
        self, coordinate: Coordinate, value: Any, *, update_width: bool = False
    ) -> None:
        super().update_cell_at(coordinate, plain(value), update_width=update_width)

    def watch_cursor_coordinate(self, old: Coordinate, new: Coordinate) -> None:
        if old.row != new.row:
            self._mark(old.row, "")
        self._mark(new.row, MARK)
        super().watch_cursor_coordinate(old, new)

    def _mark(self, row: int, text: str) -> None:
        if 0 <= row < self.row_count:
            self.update_cell_at(Coordinate(row, 0), text)
