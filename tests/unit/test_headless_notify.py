"""A headless run says what the run screen's log says about an incident's notifications: the
severity and its cadence once, then ``NOTIFY ...`` when an update falls due, at that moment."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from drconsole.engine.clocks import SEVERITIES
from drconsole.timeutil import format_timestamp, parse_timestamp, utcnow
from tests.conftest import Cli

PLAN = """
id: sev
title: An incident with a severity
kind: restore
objectives: {rto: 1h}
inputs:
  severity: {type: choice, choices: [P1, P2, P3, P4], default: P1}
  incident_at: {type: timestamp}
steps:
  - id: hold
    wait: 3s
  - id: restored
    milestone: service_restored
    needs: [hold]
"""


def test_a_headless_run_reminds_when_an_update_falls_due(
    cli: Cli, write_plan: Callable[..., Path], tmp_path: Path
) -> None:
    p1 = SEVERITIES["P1"]
    due = utcnow().replace(microsecond=0) + timedelta(seconds=2)  # P1: every 15 minutes
    incident_at = due - p1.update_every
    plan = write_plan(PLAN)
    result = cli.run(
        plan, "--yes", "--input", f"incident_at={format_timestamp(incident_at)}",
        "--targets", "/dev/null", mode="drill",
    )  # fmt: skip
    assert result.code == 0, result.out
    lines = result.out.splitlines()
    severity = [line for line in lines if "SEVERITY" in line]
    assert len(severity) == 1, lines
    assert severity[0].endswith(f"] SEVERITY  {p1.describe()}"), lines
    notify = [line for line in lines if "NOTIFY" in line]
    said = (
        "NOTIFY    P1: an update to all stakeholders is due now "
        "(every 15m00s until service is restored)"
    )
    assert len(notify) == 1, lines
    assert notify[0].endswith(f"] {said}"), lines
    clock = re.match(r"\[(\d\d:\d\d:\d\d)\]", notify[0])
    assert clock is not None
    at = parse_timestamp(f"{due:%Y-%m-%d}T{clock.group(1)}Z")
    assert due <= at <= due + timedelta(seconds=2), (at, due)  # when it fell due, not later
    assert lines.index(notify[0]) < next(i for i, x in enumerate(lines) if "MILESTONE" in x)
