"""A DataTable whose highlighted row carries a "»" in a first narrow column, so the row under
the cursor is visible without colour (a monochrome terminal, a colour-blind operator)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable

MARK = "»"  # not ▶, which the run screen uses for RUNNING
_MARK_KEY = "mark"


class MarkedTable(DataTable[Any]):
    """Use like a DataTable: the marker column is added before the first column."""

    def add_column(
        self, label: Any, *, width: int | None = None, key: str | None = None, default: Any = None
    ) -> Any:
        if not self.columns and key != _MARK_KEY:
            super().add_column("", width=1, key=_MARK_KEY)
        return super().add_column(label, width=width, key=key, default=default)

    def add_row(
        self, *cells: Any, height: int | None = 1, key: str | None = None, label: Any = None
    ) -> Any:
        mark = MARK if self.row_count == self.cursor_row else ""
        return super().add_row(mark, *cells, height=height, key=key, label=label)

    def watch_cursor_coordinate(self, old: Coordinate, new: Coordinate) -> None:
        if old.row != new.row:
            self._mark(old.row, "")
        self._mark(new.row, MARK)
        super().watch_cursor_coordinate(old, new)

    def _mark(self, row: int, text: str) -> None:
        if 0 <= row < self.row_count:
            self.update_cell_at(Coordinate(row, 0), Text(text))
