"""The timeline as an inline SVG Gantt chart: a row per step that ran, in the order they
started, so parallel branches sit side by side in time; waits for people hatched, failed
attempts marked with a cross, the critical path drawn heavy and named, milestones as dashed
lines and the RTO objective as a solid one. Nothing is said by colour alone: every mark has a
word in the legend, a ``<title>`` and a row in the report's tables. No external resource.
"""

from __future__ import annotations

import html

from drconsole.report.timeline import Bar, Timeline
from drconsole.timeutil import format_duration

WIDTH = 1000
LABEL_W = 330  # the step names' column
RIGHT = 70  # room for the last bar's duration
ROW = 24
TOP = 40  # the axis
FILL = {"succeeded": "#5b8ac6", "failed": "#c0392b", "simulated": "#9bb3d1"}
OTHER_FILL = "#9a9a9a"
_NICE = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400]


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _short(text: str, limit: int = 46) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _tick(span: float) -> float:
    """A round tick interval giving at most about eight ticks over ``span`` seconds."""
    for step in _NICE:
        if span / step <= 8:
            return float(step)
    return float(_NICE[-1]) * max(1.0, span / (8 * _NICE[-1]))


class _Scale:
    def __init__(self, span: float) -> None:
        self.span = max(span, 0.001)
        self.x0, self.x1 = LABEL_W + 10, WIDTH - RIGHT

    def x(self, t: float) -> float:
        t = min(max(t, 0.0), self.span)
        return round(self.x0 + (self.x1 - self.x0) * t / self.span, 2)


def axis_span(tl: Timeline) -> float:
    """The seconds the axis covers: the run, and the RTO deadline when it is near enough to
    show without squashing the bars (at most twice the run's length)."""
    span = max(tl.end, 0.001)
    if tl.rto_deadline is not None and span < tl.rto_deadline <= 2 * span:
        span = tl.rto_deadline
    return span


def svg(tl: Timeline) -> str:
    """The chart. Each bar is a ``rect`` with class ``bar`` and ``data-step``."""
    span = axis_span(tl)
    scale = _Scale(span)
    rows = len(tl.bars)
    chart_bottom = TOP + rows * ROW + 6
    notes = [*tl.milestones, *tl.injections]
    height = chart_bottom + 20 * (len(notes) + 1) + 10
    out = [
        f'<svg viewBox="0 0 {WIDTH} {height}" '
        f'class="gantt" role="img" aria-label="timeline of the run, one bar per step">',
        "<defs><pattern id='hatch' width='6' height='6' patternUnits='userSpaceOnUse' "
        "patternTransform='rotate(45)'><rect width='6' height='6' fill='#f6d365'/>"
        "<line x1='0' y1='0' x2='0' y2='6' stroke='#7a5c00' stroke-width='2.5'/></pattern></defs>",
    ]
    out += _axis(scale, span, chart_bottom)
    for row, bar in enumerate(tl.bars):
        out += _bar(scale, bar, TOP + row * ROW)
    y = chart_bottom + 20
    lines = [  # milestones dashed; a facilitator's injected faults dotted, in orange
        *[(when, f"◆ {name} at +{format_duration(when)}", "milestone", "#222", "4 3")
          for name, when in tl.milestones],
        *[(when, f"{text} (at +{format_duration(max(when, 0))})", "injection", "#d35400", "1 3")
          for text, when in tl.injections],
    ]  # fmt: skip
    for when, text, cls, colour, dash in lines:
        x = scale.x(when)
        out.append(
            f"<line class='{cls}' x1='{x}' y1='{TOP - 4}' x2='{x}' y2='{y - 11}' "
            f"stroke='{colour}' stroke-width='{2 if cls == 'injection' else 1}' "
            f"stroke-dasharray='{dash}'/>"
        )
        out.append(_label(x, y, text, f"{cls}-label" if cls == "milestone" else cls))
        y += 20
    out.append(_rto(tl, scale, span, chart_bottom, y))
    out.append("</svg>")
    return "\n".join(out)


CHAR_PX = 7.5  # a character's width at font-size 13, a little over the sans fonts' average


def _label(x: float, y: float, text: str, cls: str) -> str:
    """A note beside its line, on the side where it fits in the chart: right of the line, else
    left of it, else from the left edge (a facilitator's note of 80 characters in the middle of
    the chart ran off its right edge)."""
    width = len(text) * CHAR_PX
    if x + 4 + width <= WIDTH:
        anchor, at = "start", x + 4
    elif x - 4 - width >= 0:
        anchor, at = "end", x - 4
    else:
        anchor, at = "start", max(0.0, WIDTH - width)
    return (
        f"<text class='{cls}' x='{at}' y='{y}' text-anchor='{anchor}' "
        f"font-size='13'>{_e(text)}</text>"
    )


def _axis(scale: _Scale, span: float, bottom: float) -> list[str]:
    step = _tick(span)
    out = [
        f"<text x='0' y='16' font-size='13' font-weight='bold'>step (in the order started)"
        f"</text><text x='{scale.x0}' y='16' font-size='13' font-weight='bold'>time from the "
        "run's start</text>"
    ]
    t = 0.0
    while t <= span + 1e-9:
        x = scale.x(t)
        out.append(f"<line x1='{x}' y1='{TOP - 6}' x2='{x}' y2='{bottom}' stroke='#ddd'/>")
        out.append(
            f"<text x='{x}' y='{TOP - 9}' font-size='12' text-anchor='middle'>"
            f"+{format_duration(t)}</text>"
        )
        t += step
    return out


def _bar(scale: _Scale, bar: Bar, y: float) -> list[str]:
    x, x_end = scale.x(bar.start), scale.x(bar.end)
    width = max(x_end - x, 2.0)
    critical = " critical" if bar.critical else ""
    how = f"{bar.status}, {format_duration(bar.duration)}"
    if bar.waits:
        how += f", {format_duration(bar.people_s)} waiting for people"
    if bar.attempts > 1:
        how += f", {bar.attempts} attempts"
    if bar.critical:
        how += ", on the critical path"
    weight = " font-weight='bold'" if bar.critical else ""
    out = [
        f"<g class='row{critical}'><title>{_e(bar.name)}: {_e(how)}</title>",
        f"<text x='0' y='{y + 16}' font-size='13'{weight}>"
        f"{'▶ ' if bar.critical else ''}{_e(_short(bar.name))}</text>",
        f"<rect class='bar{critical}' data-step='{_e(bar.step)}' x='{x}' y='{y + 3}' "
        f"width='{width:.2f}' height='{ROW - 6}' fill='{FILL.get(bar.status, OTHER_FILL)}' "
        f"stroke='{'#000' if bar.critical else 'none'}' stroke-width='2'/>",
    ]
    for wait in bar.waits:
        wx = scale.x(wait.start)
        out.append(
            f"<rect class='wait' x='{wx}' y='{y + 3}' width='{max(scale.x(wait.end) - wx, 1.5)}'"
            f" height='{ROW - 6}' fill='url(#hatch)'/>"
        )
    for when, _error in bar.retries:
        rx = scale.x(when)
        out.append(
            f"<path class='retry' d='M{rx - 4} {y + 2} l8 8 m0 -8 l-8 8' stroke='#000' "
            "stroke-width='2'/>"
        )
    word = format_duration(bar.duration) + (f" ({bar.attempts} tries)" if bar.attempts > 1 else "")
    if bar.status not in ("succeeded", "simulated"):
        word += f" {bar.status}"
    if x_end + 6 + 8 * len(word) <= WIDTH:
        out.append(f"<text x='{x_end + 4}' y='{y + 16}' font-size='12'>{_e(word)}</text>")
    else:
        out.append(
            f"<text x='{x - 4}' y='{y + 16}' font-size='12' text-anchor='end'>{_e(word)}</text>"
        )
    out.append("</g>")
    return out


def _rto(tl: Timeline, scale: _Scale, span: float, bottom: float, y: float) -> str:
    """The RTO objective: a line where it falls, else a note at the edge it lies beyond."""
    if tl.rto_deadline is None:
        return _label(scale.x0, y, "no RTO objective, or no incident time", "rto-label")
    deadline = tl.rto_deadline
    if 0 <= deadline <= span:
        x = scale.x(deadline)
        return (
            f"<line class='rto' x1='{x}' y1='{TOP - 4}' x2='{x}' y2='{y - 11}' stroke='#b00' "
            f"stroke-width='2'/>"
            + _label(x, y, f"RTO objective ends at +{format_duration(deadline)}", "rto-label")
        )
    if deadline < 0:
        text = f"◀ RTO objective ended {format_duration(-deadline)} before the run started"
        return _label(scale.x0, y, text, "rto-label")
    text = f"RTO objective ends at +{format_duration(deadline)}, beyond the chart ▶"
    return _label(scale.x1, y, text, "rto-label")
