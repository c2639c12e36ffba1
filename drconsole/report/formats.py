"""Every format a run's report is written in, by name: what ``drconsole report --format``,
the console's export and the audit pack share."""

from __future__ import annotations

import json
from collections.abc import Callable

from drconsole.report.build import build, to_markdown
from drconsole.report.html_report import to_html
from drconsole.report.junit import to_junit
from drconsole.report.metrics import to_prom
from drconsole.runs.read import ReadRun

RENDER: dict[str, Callable[[ReadRun], str]] = {
    "md": lambda run: to_markdown(build(run)),
    "json": lambda run: json.dumps(build(run), indent=2, ensure_ascii=False),
    "html": to_html,
    "junit": to_junit,
    "prom": to_prom,
}
FORMATS = tuple(RENDER)


def render(run: ReadRun, fmt: str) -> str:
    """The report of ``run`` in ``fmt`` (one of :data:`FORMATS`)."""
    return RENDER[fmt](run)
