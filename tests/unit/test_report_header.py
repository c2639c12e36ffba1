"""The HTML report's first line names the operator as written: a run nobody resumed read
``operator kim- ·`` (the empty 'resumed by' part printed as a dash; seen on the debrief)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import Cli


def test_the_operator_of_a_run_not_resumed_has_no_dash(
    cli: Cli, write_plan: Callable[..., Path]
) -> None:
    plan = write_plan("id: p\ntitle: P\nkind: drill\nsteps:\n  - {id: a, milestone: m}\n")
    run_dir = cli.run(plan, "--operator", "kim").run_dir
    page = cli("report", run_dir, "--format", "html").out
    assert "mode · operator kim · started" in page
