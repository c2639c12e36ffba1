"""The sandbox's audit-log shipping starts with a period it can ship: `sandbox up` ships one at
once (the plans find audit logs from the first minute), also in the seconds after a period ends
when the period just ended is not shippable yet (late commits)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from drconsole.sandbox import auditlog


@pytest.mark.parametrize("into_period_s", [0.0, 1.0, auditlog.LAG_S, 30.0, 59.9])
def test_a_fresh_start_has_a_period_to_ship(tmp_path: Path, into_period_s: float) -> None:
    every = timedelta(seconds=auditlog.EVERY_S)
    now = datetime(2026, 11, 30, 15, 0, tzinfo=UTC) + timedelta(seconds=into_period_s)
    start = auditlog._shipped_until(tmp_path, every, now)  # nothing shipped here yet
    assert start + every + timedelta(seconds=auditlog.LAG_S) <= now
    assert now - start < 3 * every  # the newest that can go, not an older one


def test_shipping_ticks_just_after_each_period_ends() -> None:
    """Before, ticks came every 60 s from the program's start, so a period could wait up to a
    whole period (and the lag) before it went."""
    from drconsole.sandbox.periodic import next_due

    assert next_due(1000.0, 60.0, None) == 1060.0  # the snapshot schedule: an interval on
    assert next_due(1000.0, 60.0, 2.0) == 1022.0  # 1020 ended a period: 2 s after it
    assert next_due(1021.9, 60.0, 2.0) == 1022.0
    assert next_due(1022.0, 60.0, 2.0) == 1082.0  # due now has just run: the next one
    assert next_due(1023.0, 60.0, 2.0) == 1082.0
