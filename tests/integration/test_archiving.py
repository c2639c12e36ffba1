"""WAL archiving that breaks never looks healthy, on a real sandbox. The DR standby archives
(archive_mode = always), so a failover's .history reaches the archive and a point-in-time
restore after it takes the next timeline; when a .history is kept out of the archive (as
before the fix), the restore reuses the DR's timeline, pushes collide ("different checksum"),
the daily check fails naming archiving, and sandbox reset makes the practice archive again so
that the daily check passes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from drconsole.adapters.base import ActionContext
from drconsole.adapters.pgrestore import RestoreParams, restore
from drconsole.adapters.postgres import PostgresAdapter
from drconsole.journal.journal import read_events
from drconsole.sandbox import manager, reset
from drconsole.timeutil import format_timestamp, utcnow
from tests.conftest import REPO, Cli, running_sandbox

pytestmark = pytest.mark.slow
DAILY = REPO / "plans" / "daily-backup-check.yaml"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Path]:
    with running_sandbox("drconsole-archiving-") as root:
        yield root


def adapter(sandbox: Path, site: str) -> PostgresAdapter:
    targets = yaml.safe_load((sandbox / "targets.yaml").read_text())
    return PostgresAdapter(targets["sites"][site]["postgres"])


def sql(pg: PostgresAdapter, statement: str) -> Any:
    with pg.session() as conn:
        row = conn.execute(statement).fetchone()
        return row[0] if row else None


def write_and_switch(pg: PostgresAdapter, payload: str) -> None:
    """A commit, then a new WAL segment (the finished one goes to the archive)."""
    with pg.session() as conn:
        conn.execute(
            "INSERT INTO signatures (payload, digest) VALUES (%s, md5(%s))", (payload, payload)
        )
        conn.execute("SELECT pg_switch_wal()")


def wait_for(what: str, predicate: Any, within_s: float = 90) -> None:
    deadline = time.monotonic() + within_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within_s:g} s")
        time.sleep(0.5)


def failover_then_pitr(sandbox: Path, hide_history: bool) -> tuple[int, int]:
    """Promote the DR standby (the primary stopped), let it archive, then restore the primary
    to a time before the failover. Returns the DR's timeline and the restore's."""
    manager.writer_stop(sandbox)
    pg, dr = adapter(sandbox, "primary"), adapter(sandbox, "dr")
    write_and_switch(pg, "before-the-target")
    target = format_timestamp(utcnow())
    time.sleep(0.05)
    write_and_switch(pg, "after-the-target")
    pg.archive_check()
    wait_for(
        "the standby replays the primary's last row",
        lambda: sql(dr, "SELECT count(*) FROM signatures WHERE payload = 'after-the-target'"),
    )
    pg.stop()
    dr_timeline = dr.promote_standby()["timeline"]
    history = f"{dr_timeline:08X}.history"
    for n in range(2):
        write_and_switch(dr, f"written-at-dr-{n}")
    repo = sandbox / "pgbackrest" / "repo" / "archive" / "qsign" / "15-1"
    wait_for(f"{history} in the archive", (repo / history).exists)
    wait_for(
        "the DR's own WAL archived",
        lambda: any(repo.glob(f"{dr_timeline:08X}*/{dr_timeline:08X}*")),
    )
    if hide_history:  # what happened when the promoted standby did not archive
        (repo / history).unlink()
    dr.stop()  # fenced, as a failback does
    restored = restore(
        pg, RestoreParams(type="time", target=target), ActionContext(), scratch=False
    )
    for n in range(4):
        write_and_switch(pg, f"after-the-restore-{n}")
    return dr_timeline, int(restored["timeline"])


def daily_check(cli: Cli, sandbox: Path, tmp_path: Path) -> tuple[int, dict[str, str]]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    answers = tmp_path / "answers.yaml"
    answers.write_text(yaml.safe_dump({"operator": "oncall", "steps": {}}))
    result = cli.run(
        DAILY, mode="drill", targets=sandbox / "targets.yaml", answers=answers,
        runs=tmp_path / "runs",
    )  # fmt: skip
    failed = {
        e.data["step"]: str(e.data.get("error"))
        for e in read_events(result.run_dir)
        if e.type == "step_finished" and e.data["status"] == "failed"
    }
    return result.code, failed


def test_after_a_failover_a_pitr_takes_a_timeline_of_its_own(sandbox: Path) -> None:
    standby = adapter(sandbox, "dr").archive_state()
    assert standby["archive_mode"] == "always"
    assert standby["healthy"], standby["state"]
    assert "WAL archiving      primary ok: " in manager.status(sandbox)
    dr_timeline, pitr_timeline = failover_then_pitr(sandbox, hide_history=False)
    assert pitr_timeline == dr_timeline + 1  # the DR's .history was in the archive
    pg = adapter(sandbox, "primary")
    wait_for(
        "the restored primary's WAL archived",
        lambda: str(pg.archive_state()["last_archived_wal"]).startswith(f"{pitr_timeline:08X}"),
    )
    health = pg.archive_health()
    assert health["healthy"], health["state"]
    assert not health["failing"]
    window = pg.recovery_window(None)
    assert window["latest_from"].startswith("the last archived WAL file, ")
    assert "failing" not in window["latest_from"]


def test_a_timeline_collision_fails_the_daily_check_and_reset_repairs_it(
    sandbox: Path, cli: Cli, tmp_path: Path
) -> None:
    assert "the sandbox is at its baseline" in reset.reset(sandbox)
    dr_timeline, pitr_timeline = failover_then_pitr(sandbox, hide_history=True)
    assert pitr_timeline == dr_timeline  # the timeline already used: the collision
    pg = adapter(sandbox, "primary")
    wait_for("the archive command fails", lambda: pg.archive_state()["failing"])
    state = pg.archive_state()
    assert "with a different checksum" in str(state["server_error"])
    assert "NOT HEALTHY: archiving fails" in manager.status(sandbox)
    window = pg.recovery_window(None)
    assert "archiving is failing" in window["latest_from"]
    code, failed = daily_check(cli, sandbox, tmp_path / "1")
    assert code != 0
    assert "WAL archiving is not healthy: archiving fails" in failed["pg-archiving"]
    assert "different checksum" in failed["pg-archiving"]

    said = reset.reset(sandbox)
    assert "the practice archive was in conflict" in said
    assert "the sandbox is at its baseline" in said, said
    assert pg.archive_health()["healthy"]
    assert pg.writable()["accepts_writes"] is True
    code, failed = daily_check(cli, sandbox, tmp_path / "2")
    assert code == 0, failed


def test_after_a_failover_with_no_failback_reset_remakes_the_archive_so_restores_reach_now(
    sandbox: Path,
) -> None:
    """A failover promotes the DR (its .history reaches the archive); reset without a failback
    starts the primary again on its old timeline. Restores take the archive's newest timeline,
    so every point-in-time restore after the reset followed the DR's branch and stopped short
    of its target ('recovery ended before configured recovery target was reached'): reset
    did not see the abandoned branch (no conflict, the newest backup on the primary's
    timeline)."""
    assert "the sandbox is at its baseline" in reset.reset(sandbox)
    pg, dr = adapter(sandbox, "primary"), adapter(sandbox, "dr")
    pg.stop()  # sandbox fail-primary, then the failover's promotion
    dr_timeline = dr.promote_standby()["timeline"]
    repo = sandbox / "pgbackrest" / "repo" / "archive" / "qsign"
    wait_for("the DR's .history archived", lambda: any(repo.glob(f"*/{dr_timeline:08X}.history")))

    said = reset.reset(sandbox)
    assert f"the practice archive was holding timeline {dr_timeline:08X}" in said
    assert "the sandbox is at its baseline" in said, said
    manager.writer_stop(sandbox)
    write_and_switch(pg, "before-the-target")
    target = format_timestamp(utcnow())
    time.sleep(0.05)
    write_and_switch(pg, "after-the-target")
    pg.archive_check()
    restored = restore(pg, RestoreParams(type="time", target=target), ActionContext(), scratch=True)
    try:
        scratch = PostgresAdapter({**pg.section, "port": restored["port"]})
        assert sql(scratch, "SELECT count(*) FROM signatures WHERE payload = 'before-the-target'")
        assert not sql(
            scratch, "SELECT count(*) FROM signatures WHERE payload = 'after-the-target'"
        )
    finally:
        state = manager.load_state(sandbox)
        assert state is not None
        manager.drop_scratch_restores(state)
        manager.writer_start(sandbox)
