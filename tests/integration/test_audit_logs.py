"""Audit logs (RPO 1 h, RTO 4 h) in the bucket's audit/, one object per hour named by the hour
it starts: a missing hour is found and named by the daily check; a time range is restored with
every object checked against its checksum (plan audit-log-restore), a damaged one named and not
kept; and on a real sandbox the shipping puts the writer's signatures in the bucket, and the
daily backup check names the hour a planted gap leaves out."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from drconsole.adapters import aws
from drconsole.adapters.base import CheckFailed
from drconsole.adapters.objectstore import ObjectStore, audit_key, period_floor, period_start
from drconsole.sandbox import auditlog, manager
from drconsole.sandbox.s3 import MotoServer
from drconsole.timeutil import format_timestamp
from tests.conftest import REPO, Cli, running_sandbox
from tests.integration.test_config_backup import run_plan
from tests.integration.test_vault import outputs

pytestmark = pytest.mark.slow

RESTORE = REPO / "plans" / "audit-log-restore.yaml"
DAILY = REPO / "plans" / "daily-backup-check.yaml"
HOUR = timedelta(hours=1)


def this_hour() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def hour_name(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%MZ")


def plant(store: ObjectStore, prefix: str, hours: list[datetime]) -> dict[str, bytes]:
    """An audit log object for each hour (its SHA-256 stored by S3); the bodies by key."""
    bodies = {}
    for at in hours:
        body = gzip.compress(json.dumps({"time": at.isoformat(), "event": "x"}).encode(), mtime=0)
        key = audit_key(prefix, at)
        store.client().put_object(
            Bucket=store.bucket, Key=key, Body=body, ChecksumAlgorithm="SHA256"
        )
        bodies[key] = body
    return bodies


@pytest.fixture
def store(moto: MotoServer, request: pytest.FixtureRequest) -> tuple[ObjectStore, str]:
    """The bucket and a prefix of this test's own."""
    return moto.store(), f"audit-{request.node.name[:30]}/"


def test_a_missing_hour_is_found_and_named(store: tuple[ObjectStore, str]) -> None:
    s3, prefix = store
    now = this_hour()
    gap = now - 3 * HOUR
    plant(s3, prefix, [now - n * HOUR for n in range(6, 0, -1) if now - n * HOUR != gap])
    with pytest.raises(CheckFailed) as caught:
        s3.audit_hours(prefix, 3600, None, None, 86400, 0)
    assert caught.value.evidence["missing"] == [hour_name(gap)]
    assert f"1 of {caught.value.evidence['checked']} period(s) of 3600 s: {hour_name(gap)}" in (
        caught.value.message
    )
    # the hours before the first object are not counted as missing: shipping began then
    assert caught.value.evidence["from"] == hour_name(now - 6 * HOUR)
    # within its range, an hour with its object passes
    fine = s3.audit_hours(prefix, 3600, format_timestamp(gap + HOUR), format_timestamp(now), 0, 0)
    assert (fine["missing"], fine["checked"]) == ([], 2)
    with pytest.raises(CheckFailed, match="no audit logs under nothing-here/ at all"):
        s3.audit_hours("nothing-here/", 3600, None, None, 86400, 0)


def test_key_names_carry_the_period_start() -> None:
    at = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    key = audit_key("audit/", at)
    assert key == "audit/2026/11/26/qsign-audit-20261126T030000Z.jsonl.gz"
    assert period_start(key) == at
    assert period_start("audit/readme.txt") is None


def test_restore_a_time_range_with_checksums(
    cli: Cli,
    moto: MotoServer,
    store: tuple[ObjectStore, str],
    tmp_path: Path,
) -> None:
    s3, _ = store
    site = {"drill": True, "s3": {**moto.section(), "download_dir": str(tmp_path / "downloads")}}
    (tmp_path / "targets.yaml").write_text(yaml.safe_dump({"sites": {"primary": site}}))
    # the plan reads audit/: a day of our own, ten days back, so that no other test meets it
    day = this_hour() - timedelta(days=10)
    hours = [day + n * HOUR for n in range(5)]
    bodies = plant(s3, "audit/", [h for h in hours if h != hours[3]])
    since, until = format_timestamp(hours[0]), format_timestamp(hours[4] + HOUR)

    result, run_dir = run_plan(
        cli, tmp_path, RESTORE, {"hand-over": {"confirm": True}}, f"from={since}", f"to={until}"
    )
    assert result.code == 0, result.out  # a missing hour is a deviation, not a failed restore
    assert outputs(run_dir, "coverage")["missing"] == [hour_name(hours[3])]  # continued past
    assert hour_name(hours[3]) in result.out
    fetched = outputs(run_dir, "fetch")
    folder = Path(fetched["dir"])
    assert fetched["count"] == 4
    sums = {
        name: digest
        for digest, name in (
            line.split("  ") for line in (folder / "SHA256SUMS").read_text().splitlines()
        )
    }
    assert len(sums) == 4
    for key, body in bodies.items():
        name = key.rsplit("/", 1)[-1]
        assert (folder / name).read_bytes() == body
        assert sums[name] == hashlib.sha256(body).hexdigest()

    # an object changed after its checksum was recorded is named, and not kept
    damaged = audit_key("audit/", hours[1])
    s3.client().put_object(
        Bucket=s3.bucket, Key=f"{damaged}.sha256", Body=hashlib.sha256(b"other").hexdigest()
    )
    result, run_dir = run_plan(
        cli, tmp_path, RESTORE, {"hand-over": {"confirm": True}}, f"from={since}", f"to={until}"
    )
    assert result.code != 0
    assert damaged in result.out
    assert "does not match its checksum" in result.out
    assert not (folder / damaged.rsplit("/", 1)[-1]).exists()  # the first run's copy is gone
    assert damaged.rsplit("/", 1)[-1] not in (folder / "SHA256SUMS").read_text()
    s3.client().delete_object(Bucket=s3.bucket, Key=f"{damaged}.sha256")


def test_the_sandbox_ships_audit_logs_and_the_daily_check_names_a_gap(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_sandbox("drconsole-audit-") as sandbox:
        state = manager.load_state(sandbox)
        assert state is not None
        assert auditlog.pid(sandbox)
        s3 = manager._moto(state).store()  # type: ignore[union-attr]
        shipped = sorted(o["key"] for o in s3.objects("audit/"))
        assert shipped, "sandbox up ships the period just ended at once"
        # the shipped lines are the signatures the primary recorded in that period
        first = period_start(shipped[0])
        assert first is not None
        body = s3.client().get_object(Bucket=s3.bucket, Key=shipped[0])["Body"].read()
        lines = [json.loads(line) for line in gzip.decompress(body).decode().splitlines()]
        with psycopg.connect(state.layout().dsn(state.primary_port)) as conn:
            ids = [
                row[0]
                for row in conn.execute(
                    "SELECT id FROM signatures WHERE signed_at >= %s AND signed_at < %s "
                    "ORDER BY id",
                    (first, first + timedelta(seconds=auditlog.EVERY_S)),
                )
            ]
        assert [line["id"] for line in lines] == ids
        assert "audit logs         shipping running" in manager.status(sandbox)

        # hours before shipping began, planted with one missing: the daily check names it
        start = first.replace(minute=0, second=0, microsecond=0)
        gap = start - 3 * HOUR
        plant(s3, "audit/", [start - n * HOUR for n in range(5, 0, -1) if start - n * HOUR != gap])
        args = ["run", DAILY, "--headless", "--targets", sandbox / "targets.yaml"]
        result = cli(*args, "--runs-dir", tmp_path / "runs")
        run_dir = result.run_dir
        failed = {
            e.data["step"]: e.data
            for e in _events(run_dir)
            if e.type == "step_finished" and e.data.get("status") == "failed"
        }
        assert list(failed) == ["audit-hours"], result.out
        assert f"period(s) of 3600 s: {hour_name(gap)}" in result.out

        # a backlog goes in one call, on one database connection and the process's S3 client
        assert "stopped" in auditlog.stop(sandbox)  # it would race this call on shipped.json
        every = timedelta(seconds=1)
        until = period_floor(datetime.now(UTC), every) - 6 * every
        (sandbox / "audit" / "shipped.json").write_text(json.dumps({"until": until.isoformat()}))
        connects: list[Any] = []
        clients: list[Any] = []
        monkeypatch.setattr(psycopg, "connect", _counted(psycopg.connect, connects))
        monkeypatch.setattr(aws, "_new_client", _counted(aws._new_client, clients))
        backlog = auditlog.ship_due(sandbox, every.total_seconds())
        assert len(backlog) >= 3, backlog
        assert (len(connects), len(clients)) == (1, 0)  # the checks above made the S3 client
        assert backlog[0].startswith(audit_key("audit/", until))


def _counted(real: Any, calls: list[Any]) -> Any:
    def count(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(*args, **kwargs)

    return count


def _events(run_dir: Path) -> list[Any]:
    from drconsole.journal.journal import read_events

    return list(read_events(run_dir))
