"""The full-site restore (plans/full-site-restore.yaml) after ``sandbox lose-site`` on one real
sandbox: the primary's database and Vault data moved aside and its namespace deleted, the site
is rebuilt from the pgBackRest repository and the bucket alone. Rows written before the last
archived WAL, the Vault secrets of the last snapshot and the config come back, the api-server
is scaled up, the five checks pass and the RPO is the older of the two recovery points; then
``sandbox reset`` brings the sandbox to its baseline. And the plan's other path, the database
back to a time (``restore_to: time``): a row committed before the target comes back, one
after it does not; on a fresh sandbox with no config backup, it stops before anything is
stopped or restored and says to run config-backup first."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from drconsole.adapters.kubernetes import KubeAdapter
from drconsole.journal.journal import read_events
from drconsole.sandbox import manager, openbao
from drconsole.sandbox.reset import reset
from drconsole.timeutil import format_timestamp, parse_timestamp
from tests.conftest import REPO, Cli, CliResult, running_sandbox
from tests.integration.test_failover import custodians, shares
from tests.integration.test_vault import outputs

pytestmark = pytest.mark.slow

PLAN = REPO / "plans" / "full-site-restore.yaml"
CHECKS = ("check-pods", "check-db", "check-vault", "check-api", "check-signatures")


def primary(sandbox: Path) -> dict[str, Any]:
    return dict(yaml.safe_load((sandbox / "targets.yaml").read_text())["sites"]["primary"])


def rows(sandbox: Path, sql: str, *args: object) -> Any:
    layout = manager._require(sandbox).layout()
    with psycopg.connect(layout.dsn(layout.primary_port), autocommit=True) as conn:
        return conn.execute(sql, args).fetchall()


def backed_up(cli: Cli, sandbox: Path) -> tuple[openbao.BaoServer, str]:
    """The config backed up, a Vault secret written and snapshotted: the primary's server and
    its root token."""
    backed = cli.run(
        REPO / "plans" / "config-backup.yaml", mode="drill", targets=sandbox / "targets.yaml"
    )
    assert backed.code == 0, backed.out
    server = next(s for s in openbao.servers(sandbox, manager._require(sandbox).bao_ports or {})
                  if s.name == "primary")  # fmt: skip
    token = server.practice_init()["root_token"]
    server.client(token).secrets.kv.v2.create_or_update_secret(
        path="qsign/drill", secret={"marker": "before-the-loss"}, mount_point="secret"
    )
    manager.snapshot(sandbox, "primary")
    return server, token


def insert(sandbox: Path, payload: str) -> datetime:
    """A signature row; when it committed, by the database's clock."""
    found = rows(
        sandbox,
        "INSERT INTO signatures (payload, digest) VALUES (%s, 'x') RETURNING clock_timestamp()",
        payload,
    )
    committed: datetime = found[0][0]
    return committed


def lose_site(sandbox: Path) -> KubeAdapter:
    """Every row's WAL archived, then the site lost; its Kubernetes, namespace gone."""
    manager._require(sandbox).layout().backrest().run("check")
    said = manager.lose_site(sandbox)
    assert "namespace qsign deleted" in said
    assert list((sandbox / "openbao" / "primary").glob("data.before-lose-site-*"))
    kube = KubeAdapter(primary(sandbox)["kubernetes"])
    with pytest.raises(Exception):  # noqa: B017, PT011 - the namespace is gone
        kube.core().read_namespace("qsign")
    return kube


def restore(cli: Cli, sandbox: Path, tmp_path: Path, *options: str) -> Path:
    """Run the full-site restore with every answer; its run directory."""
    result = run_restore(cli, sandbox, tmp_path, *options)
    assert result.code == 0, result.out
    return result.run_dir


def run_restore(cli: Cli, sandbox: Path, tmp_path: Path, *options: str) -> CliResult:
    """The full-site restore with every answer, as it ended."""
    answers = tmp_path / "answers.yaml"
    answers.write_text(yaml.safe_dump({
        "operator": "oncall",
        "steps": {
            "confirm": {"confirm": True},
            "config-apply": {"typed": "restore config primary"},
            "db-restore": {"typed": "restore qsign"},
            "vault-restore": {"typed": "restore vault primary"},
            "custodians": custodians(),
            "unseal": {"secrets": shares(sandbox)},
        },
    }))  # fmt: skip
    return cli.run(PLAN, *options, mode="drill", targets=sandbox / "targets.yaml", answers=answers)


def test_the_site_is_rebuilt_from_backups_after_lose_site_then_reset(
    cli: Cli, tmp_path: Path
) -> None:
    with running_sandbox("drconsole-fullsite-") as sandbox:
        server, token = backed_up(cli, sandbox)
        insert(sandbox, "full-site")
        kube = lose_site(sandbox)
        run_dir = restore(cli, sandbox, tmp_path)

        assert rows(sandbox, "SELECT count(*) FROM signatures WHERE payload = 'full-site'") == [
            (1,)
        ]
        secret = server.client(token).secrets.kv.v2.read_secret_version(
            path="qsign/drill", mount_point="secret", raise_on_deleted_version=True
        )
        assert secret["data"]["data"] == {"marker": "before-the-loss"}
        assert kube.core().read_namespaced_config_map("qsign-config", "qsign").data
        assert kube.apps().read_namespaced_deployment("qsign-api", "qsign").spec.replicas == 3
        finished = {e.data["step"] for e in read_events(run_dir) if e.type == "step_finished"
                    and e.data.get("status") == "succeeded"}  # fmt: skip
        assert set(CHECKS) <= finished, finished
        db = outputs(run_dir, "db-restore")["recovered_to"]
        snap = outputs(run_dir, "vault-snapshot")["taken_at"]
        point = outputs(run_dir, "recovery-point")["older"]
        assert parse_timestamp(point) == min(parse_timestamp(db), parse_timestamp(snap))

        done = reset(sandbox)
        assert "the sandbox is at its baseline" in done, done
        assert not list((sandbox / "openbao" / "primary").glob("data.before-*"))

        manager.lose_site(sandbox)  # and straight from the lost site, with no restore
        done = reset(sandbox)
        assert "OpenBao primary made a new cluster of its own" in done, done
        assert "the sandbox is at its baseline" in done, done
        assert kube.apps().read_namespaced_deployment("qsign-api", "qsign").spec.replicas == 3
        assert rows(sandbox, "SELECT count(*) FROM signatures WHERE payload = 'full-site'") == [
            (1,)
        ]


def test_the_database_goes_back_to_a_time_when_the_site_is_rebuilt(
    cli: Cli, tmp_path: Path
) -> None:
    with running_sandbox("drconsole-fullsite-time-") as sandbox:
        # a fresh sandbox has no config backup: nothing is stopped or restored, and the
        # failure says to run config-backup first
        early = run_restore(cli, sandbox, tmp_path)
        assert early.code == 1
        assert "run plans/config-backup.yaml first" in early.out
        started = {e.data["step"] for e in read_events(early.run_dir) if e.type == "step_started"}
        assert not started & {"db-stop", "db-restore", "vault-restore", "config-apply"}, started
        assert rows(sandbox, "SELECT pg_is_in_recovery()") == [(False,)]

        server, token = backed_up(cli, sandbox)
        before = insert(sandbox, "before-the-target")
        time.sleep(1.0)
        target = before + timedelta(seconds=0.5)
        after = insert(sandbox, "after-the-target")
        assert after > target
        lose_site(sandbox)
        run_dir = restore(
            cli, sandbox, tmp_path,
            "--input", "restore_to=time", "--input", f"target_time={format_timestamp(target)}",
        )  # fmt: skip

        count = "SELECT count(*) FROM signatures WHERE payload = %s"
        assert rows(sandbox, count, "before-the-target") == [(1,)]
        assert rows(sandbox, count, "after-the-target") == [(0,)]
        restored = outputs(run_dir, "db-restore")
        assert restored["type"] == "time"
        assert before <= parse_timestamp(restored["recovered_to"]) <= target
        point = outputs(run_dir, "recovery-point")["older"]
        snap = outputs(run_dir, "vault-snapshot")["taken_at"]
        recovered = parse_timestamp(restored["recovered_to"])
        assert parse_timestamp(point) == min(recovered, parse_timestamp(snap))
        secret = server.client(token).secrets.kv.v2.read_secret_version(
            path="qsign/drill", mount_point="secret", raise_on_deleted_version=True
        )
        assert secret["data"]["data"] == {"marker": "before-the-loss"}
        events = read_events(run_dir)
        finished = {e.data["step"] for e in events if e.type == "step_finished"
                    and e.data.get("status") == "succeeded"}  # fmt: skip
        assert set(CHECKS) <= finished, finished
