"""A timeline note stays inside the chart: the facilitator's note ('⚡ seal-vault@dr injected;
noticed after 26s by vault-restore; ...') started in the middle of the chart and ran off its
right edge on the debrief page ('... by v')."""

from __future__ import annotations

import re

import pytest

from drconsole.report.gantt import CHAR_PX, WIDTH, _label

NOTE = "⚡ seal-vault@dr injected; noticed after 26s by vault-restore; not recovered (at +36s)"


def extent(svg: str, text: str) -> tuple[float, float]:
    found = re.search(r"x='([0-9.\-]+)' y='[^']*' text-anchor='(start|end)'", svg)
    assert found is not None
    x, anchor = float(found.group(1)), found.group(2)
    width = len(text) * CHAR_PX
    return (x, x + width) if anchor == "start" else (x - width, x)


@pytest.mark.parametrize("x", [5.0, 300.0, WIDTH / 2 + 60, WIDTH - 200, WIDTH - 5])
@pytest.mark.parametrize("text", [NOTE, "◆ service_restored at +4m10s", "x" * 200])
def test_a_note_stays_inside_the_chart(x: float, text: str) -> None:
    left, right = extent(_label(x, 100, text, "injection"), text)
    assert left >= 0
    assert right <= WIDTH or left == 0  # wider than the chart: it starts at the left edge


def test_a_short_note_sits_beside_its_line() -> None:
    left, _ = extent(_label(300.0, 100, "◆ m at +1s", "milestone"), "◆ m at +1s")
    assert left == 304.0
