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
