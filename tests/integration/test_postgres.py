"""PostgreSQL recovery on real clusters: the sandbox, point-in-time restore (the DR standby
rebuilt after it), the recovery window (as the start form asks it), test restores, verify on a
corrupted backup, resume after SIGKILL mid-restore, the recovery point of a restore that
replays no commit, and no scratch restore left after a kill (resume or sandbox down)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from drconsole.adapters.base import ActionContext, PermanentError
from drconsole.adapters.hsm import HsmAdapter
from drconsole.adapters.pgrestore import RestoreParams, drop_scratch, restore
from drconsole.adapters.postgres import PostgresAdapter
from drconsole.engine.precheck import precheck
from drconsole.journal.journal import read_events, verify
from drconsole.plans.validate import load_plan
from drconsole.sandbox import manager
from drconsole.targets import load_targets
from drconsole.timeutil import format_timestamp, parse_timestamp, utcnow
from tests.conftest import REPO, Cli, CliResult, kill_run, running_sandbox, start_run

pytestmark = pytest.mark.slow

PITR = REPO / "plans" / "pitr-restore.yaml"
MONTHLY = REPO / "plans" / "monthly-db-recovery-test.yaml"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Path]:
    with running_sandbox("drconsole-sbx-") as root:
        yield root


def dsn(sandbox: Path) -> str:
    state = manager.load_state(sandbox)
    assert state is not None
    return f"host=127.0.0.1 port={state.primary_port} dbname=qsign user=qsign"


def utc_now_text() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def answers(tmp_path: Path) -> Path:
    path = tmp_path / "answers.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "operator": "dba-1",
                "steps": {
                    "confirm": {"confirm": True},
                    "restore": {"typed": "restore qsign"},
                    "rebuild-standby": {"typed": "rebuild dr"},
                },
            }
        )
    )
    return path


def run_pitr(cli: Cli, sandbox: Path, tmp_path: Path, target: str) -> tuple[CliResult, Path]:
    result = cli.run(
        PITR,
        "--input",
        f"target_time={target}",
        targets=sandbox / "targets.yaml",
        answers=answers(tmp_path),
        runs=tmp_path / "runs",
    )
    return result, result.run_dir


def outputs(run_dir: Path, step: str) -> dict[str, Any]:
    ends = [
        e.data for e in read_events(run_dir) if e.type == "step_finished" and e.data["step"] == step
    ]
    return dict(ends[-1]["outputs"]) if ends else {}


def started(run_dir: Path) -> set[str]:
    return {e.data["step"] for e in read_events(run_dir) if e.type == "step_started"}


def insert(sandbox: Path, payload: str) -> None:
    with psycopg.connect(dsn(sandbox), autocommit=True) as conn:
        conn.execute("INSERT INTO signatures (payload, digest) VALUES (%s, 'x')", (payload,))


def exists(sandbox: Path, payload: str) -> bool:
    with psycopg.connect(dsn(sandbox), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM signatures WHERE payload = %s", (payload,)
        ).fetchone()
    return bool(row and row[0])


def test_the_sandbox_comes_up_down_and_up_again(sandbox: Path) -> None:
    assert "up already; nothing to do" in manager.up(sandbox)
    status = manager.status(sandbox)
    assert "primary" in status
    assert "accepting writes" in status
    assert "standby (in recovery)" in status
    assert "writer             running" in status
    assert (sandbox / "PRACTICE-ONLY.txt").read_text().startswith("PRACTICE ONLY")
    targets = yaml.safe_load((sandbox / "targets.yaml").read_text())
    assert set(targets["sites"]) == {"sandbox", "primary", "dr", "hsm", "dev-hsm"}
    said = manager.down(sandbox)
    assert "primary stopped" in said
    assert "writer stopped" in said
    # clusters, OpenBao servers, moto, the S3 fault proxy, Kubernetes simulators
    assert manager.status(sandbox).count("DOWN") == 8
    again = manager.up(sandbox)
    assert (
        "started: primary, standby, writer, openbao primary, openbao dr, s3 (moto), "
        "S3 fault proxy, kubernetes simulator primary, kubernetes simulator dr" in again
    )
    assert again.count("unsealed (3 of 5)") == 2  # the sandbox unseals its own servers
    assert "export PGPORT=" in manager.env(sandbox, "dr")


def test_the_sandbox_practice_hsm_stands_in_for_the_vendor_commands(
    sandbox: Path, cli: Cli, tmp_path: Path
) -> None:
    assert "practice HSM       SoftHSM2 tokens" in manager.status(sandbox)
    sites = yaml.safe_load((sandbox / "targets.yaml").read_text())["sites"]
    prod = HsmAdapter(sites["hsm"]["hsm"], "hsm")
    dev = HsmAdapter(sites["dev-hsm"]["hsm"], "dev-hsm")
    kcv = prod.key_check(ActionContext(), "qsign-master-key", None)["kcv"]
    backup = tmp_path / "hsm-backup.enc"
    said = cli("sandbox", "hsm", "backup", backup, "--dir", sandbox)
    assert said.code == 0
    assert Path(f"{backup}.sha256").exists()
    assert cli("sandbox", "hsm", "restore", backup, "--dir", sandbox).code == 0
    assert dev.key_check(ActionContext(), "qsign-master-key", kcv)["matches"] is True
    assert "1 object(s)" in cli("sandbox", "hsm", "clear", "--dir", sandbox).out
    assert not dev.key_check(ActionContext(), "qsign-master-key", None, False)["present"]
    missing = cli("sandbox", "hsm", "restore", tmp_path / "nope", "--dir", sandbox)
    assert missing.code == 1
    assert "no such backup file" in missing.err


def adapter(sandbox: Path, site: str = "primary") -> PostgresAdapter:
    targets = yaml.safe_load((sandbox / "targets.yaml").read_text())
    return PostgresAdapter(targets["sites"][site]["postgres"])


def test_replication_status_from_both_sides(sandbox: Path) -> None:
    insert(sandbox, "replicated")
    deadline = time.monotonic() + 10
    while (standby := adapter(sandbox, "dr").replication_status(900))["past_rpo"] is not False:
        assert time.monotonic() < deadline, standby["state"]
        time.sleep(0.1)
    assert standby["role"] == "standby"
    assert standby["lag_bytes"] >= 0
    assert standby["last_replayed_commit"] is not None
    assert (standby["streaming"], standby["wal_receiver"]) == (True, "streaming")
    assert standby["state"].startswith("streaming; last replayed commit ")
    assert standby["state"].endswith("within the RPO of 15m00s")
    primary = adapter(sandbox).replication_status()
    assert primary["role"] == "primary"
    assert primary["standbys"][0]["state"] == "streaming"


def test_a_target_outside_the_window_is_refused_and_nothing_is_stopped(
    cli: Cli, sandbox: Path, tmp_path: Path
) -> None:
    result, run_dir = run_pitr(cli, sandbox, tmp_path, "2020-01-01T00:00:00Z")
    assert result.code == 1
    assert "outside the recovery window" in result.out
    assert started(run_dir) == {"flush-wal", "window"}
    assert "accepting writes" in manager.status(sandbox)
    assert manager.writer_pid(sandbox) is not None


def test_a_pitr_lands_before_a_row_written_after_the_target(
    cli: Cli, sandbox: Path, tmp_path: Path
) -> None:
    insert(sandbox, "before-target")
    time.sleep(1.1)
    target = utc_now_text()
    time.sleep(1.1)
    insert(sandbox, "after-target")
    result, run_dir = run_pitr(cli, sandbox, tmp_path, target)
    assert result.code == 0, result.out
    assert exists(sandbox, "before-target")
    assert not exists(sandbox, "after-target")
    point = outputs(run_dir, "restore")
    assert parse_timestamp(point["recovered_to"]) <= parse_timestamp(target)
    assert outputs(run_dir, "newest-row")["value"] is True
    assert Path(outputs(run_dir, "safety-copy")["path"]).is_dir()
    assert "RPO" in result.out
    assert "(met)" in result.out
    assert manager.writer_pid(sandbox) is not None  # writers started again
    # the DR standby, on the timeline the restore abandoned, is rebuilt from the restored
    # primary: it streams again and no longer holds the row the restore threw away
    rebuilt = outputs(run_dir, "rebuild-standby")
    assert Path(rebuilt["moved_aside"]).is_dir()
    assert outputs(run_dir, "standby-streams")["streaming"] is True
    on_dr = adapter(sandbox, "dr").query(
        "SELECT count(*) FROM signatures WHERE payload = 'after-target'", []
    )
    assert on_dr["value"] == 0
    assert "NOT streaming" not in manager.status(sandbox)
    report = cli("report", run_dir).out
    assert "Rebuild the DR standby from the restored primary" in report


def test_the_start_form_takes_a_target_seconds_old_and_refuses_one_in_the_future(
    sandbox: Path,
) -> None:
    """The plan archives the newest WAL (flush-wal) before its window check: the form, which
    asks the window before that, lets the window end now, not at the last WAL archived."""
    plan = load_plan(PITR).plan
    assert plan is not None
    targets = load_targets(sandbox / "targets.yaml")
    deadline = time.monotonic() + 10
    while True:  # a target after the last WAL archived: the window's old end refused it
        target = format_timestamp(utcnow() - timedelta(seconds=1))
        last = adapter(sandbox).archive_state()["last_archived_time"]
        if parse_timestamp(last) < parse_timestamp(target):
            break
        assert time.monotonic() < deadline, "WAL archived every second"
        time.sleep(0.5)
    form = precheck(plan, "target_time", {"target_time": target}, targets)
    assert form is not None
    assert not form.refused, form.text
    assert "the newest WAL is archived before the restore" in form.text
    future = format_timestamp(utcnow() + timedelta(minutes=1))
    ahead = precheck(plan, "target_time", {"target_time": future}, targets)
    assert ahead is not None
    assert ahead.refused
    assert "outside the recovery window" in ahead.text


def test_a_test_restore_leaves_the_live_cluster_untouched(
    cli: Cli, sandbox: Path, tmp_path: Path
) -> None:
    pidfile = Path(manager.load_state(sandbox).layout().primary) / "postmaster.pid"  # type: ignore[union-attr]
    before = pidfile.read_text().splitlines()[0]
    with psycopg.connect(dsn(sandbox), autocommit=True) as conn:
        timeline = conn.execute("SELECT timeline_id FROM pg_control_checkpoint()").fetchone()
    result = cli.run(MONTHLY, targets=sandbox / "targets.yaml")
    assert result.code == 0, result.out
    run_dir = result.run_dir
    assert outputs(run_dir, "live-fingerprint")["count"] >= 500
    assert pidfile.read_text().splitlines()[0] == before
    with psycopg.connect(dsn(sandbox), autocommit=True) as conn:
        assert (
            conn.execute("SELECT timeline_id FROM pg_control_checkpoint()").fetchone() == timeline
        )
    assert list((sandbox / "scratch").iterdir()) == []


def test_verify_catches_a_corrupted_backup_file(
    cli: Cli, sandbox: Path, tmp_path: Path, write_plan: Callable[..., Path]
) -> None:
    plan = write_plan(
        "id: v\ntitle: V\nkind: verification\nsteps:\n"
        "  - {id: verify, check: postgres.verify_repo, site: primary}\n"
    )
    repo = sandbox / "pgbackrest" / "repo" / "backup" / "qsign"
    victim = next(p for p in sorted(repo.glob("*/pg_data/base/*/*")) if p.stat().st_size > 8192)
    original = victim.read_bytes()
    try:
        with victim.open("r+b") as handle:
            handle.seek(100)
            handle.write(b"CORRUPT!")
        result = cli.run(plan, targets=sandbox / "targets.yaml")
        assert result.code == 1
        assert "invalid checksum" in result.out
        assert victim.name in result.out
    finally:
        victim.write_bytes(original)
    again = cli.run(plan, targets=sandbox / "targets.yaml")
    assert again.code == 0, again.out


def test_a_run_killed_during_the_restore_resumes_and_finishes(
    cli: Cli, sandbox: Path, tmp_path: Path
) -> None:
    insert(sandbox, "kill-before")
    time.sleep(1.1)
    target = utc_now_text()
    time.sleep(1.1)
    insert(sandbox, "kill-after")
    proc, run_dir = start_run(
        [str(PITR), "--headless", "--targets", str(sandbox / "targets.yaml"),
         "--answers", str(answers(tmp_path)), "--input", f"target_time={target}",
         "--runs-dir", str(tmp_path / "runs")],
        "restore",
    )  # fmt: skip
    time.sleep(0.5)
    kill_run(proc)
    result = cli("resume", run_dir, "--headless", "--answers", answers(tmp_path))
    assert result.code == 0, result.out
    assert verify(run_dir).ok
    resumed = [e.data for e in read_events(run_dir) if e.type == "run_resumed"]
    assert resumed[0]["interrupted"] == ["restore"]
    kinds = [f"{e.type}:{e.data.get('step', '')}" for e in read_events(run_dir)]
    assert kinds.count("step_finished:restore") == 1
    assert kinds.count("step_started:stop-db") == 1
    assert exists(sandbox, "kill-before")
    assert not exists(sandbox, "kill-after")


def test_a_restore_that_replays_no_commit_still_reports_its_recovery_point(
    sandbox: Path,
) -> None:
    pg = adapter(sandbox)
    manager.writer_stop(sandbox)
    try:
        backup = pg.backup("full")
        time.sleep(1.1)
        target = utc_now_text()  # no commit between the backup's end and the target
        time.sleep(1.1)
        insert(sandbox, "after-the-quiet-target")
        pg.archive_check()
        to_target = restore(
            pg,
            RestoreParams(type="time", target=target, set=backup["label"]),
            ActionContext(),
            scratch=True,
        )
        drop_scratch(pg, to_target["data_dir"])
        immediate = restore(
            pg, RestoreParams(type="immediate", set=backup["label"]), ActionContext(), scratch=True
        )
        drop_scratch(pg, immediate["data_dir"])
    finally:
        manager.writer_start(sandbox)
    assert to_target["last_replayed_commit"] is None  # what left the RPO unmeasured
    assert to_target["recovered_to"] == target
    assert "the target time" in to_target["recovery_point_basis"]
    assert immediate["last_replayed_commit"] is None
    assert immediate["recovered_to"] == backup["stop"]
    assert f"the end of backup {backup['label']}" in immediate["recovery_point_basis"]


def scratch_servers(sandbox: Path) -> list[str]:
    """Command lines of the PostgreSQL servers running from the sandbox's scratch directory."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(sandbox / "scratch") in text and "postgres" in text:
            found.append(text)
    return found


def kill_during_the_test_restore(sandbox: Path, tmp_path: Path) -> Path:
    """Start the monthly test restore and SIGKILL it once its scratch server runs."""
    proc, run_dir = start_run(
        [str(MONTHLY), "--headless", "--targets", str(sandbox / "targets.yaml"),
         "--runs-dir", str(tmp_path / "runs")],
        "restore",
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not list((sandbox / "scratch").glob("restore-*/postmaster.pid")):
        if time.monotonic() > deadline:
            kill_run(proc)
            raise AssertionError("the scratch server never started")
        time.sleep(0.01)
    kill_run(proc)
    finished = {e.data["step"] for e in read_events(run_dir) if e.type == "step_finished"}
    assert "restore" not in finished
    assert scratch_servers(sandbox), "the kill should have left the scratch server running"
    return run_dir


def test_a_run_killed_during_a_test_restore_leaves_no_scratch_after_resume(
    cli: Cli, sandbox: Path, tmp_path: Path
) -> None:
    run_dir = kill_during_the_test_restore(sandbox, tmp_path)
    left = [p.name for p in (sandbox / "scratch").glob("restore-*") if p.is_dir()]
    result = cli("resume", run_dir, "--headless")
    assert result.code == 0, result.out
    assert list((sandbox / "scratch").iterdir()) == []
    assert scratch_servers(sandbox) == []
    restore = outputs(run_dir, "restore")
    assert [Path(p).name for p in restore["scratch_removed"]] == left
    assert restore["scratch_left"] == []


def test_a_restore_past_the_archive_stops_with_the_servers_words_and_promotes_nothing(
    sandbox: Path,
) -> None:
    pg = adapter(sandbox)
    point = pg.create_restore_point("before-the-end")
    assert point["lsn"]
    manager.writer_stop(sandbox)
    pg.archive_check()
    pg.stop()
    future = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    with pytest.raises(PermanentError) as failed:
        restore(pg, RestoreParams(type="time", target=future), ActionContext(), scratch=False)
    assert "recovery ended before configured recovery target was reached" in str(failed.value)
    assert not pg.host().is_running()  # nothing was promoted at another point
    back = restore(
        pg, RestoreParams(type="name", target="before-the-end"), ActionContext(), scratch=False
    )
    assert back["recovered_to"] is not None
    assert pg.ping()["in_recovery"] is False
    manager.writer_start(sandbox)


def test_sandbox_down_after_a_kill_stops_and_removes_the_scratch_restore(
    sandbox: Path, tmp_path: Path
) -> None:
    # the module's last test: after the restores of the live primary above, its standby no
    # longer follows, and would not start again
    kill_during_the_test_restore(sandbox, tmp_path)
    said = manager.down(sandbox)
    assert "stopped and removed" in said
    assert list((sandbox / "scratch").iterdir()) == []
    assert scratch_servers(sandbox) == []
