"""The drill facilitator's faults on one real sandbox: each injected, seen with the service's own
client, caught by the shipped plan that should catch it, healed back to a state in which that
plan passes again; the sandbox's log; the refusals; the report's and history's injections; the
facilitator's view injecting and healing by keys in Pilot. The module heals what it injects."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
import requests
import yaml
from botocore.exceptions import ClientError
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from drconsole import faultlog
from drconsole.adapters.objectstore import ObjectStore
from drconsole.journal.journal import read_events
from drconsole.report import history
from drconsole.report.build import build, to_markdown
from drconsole.report.html_report import to_html
from drconsole.runs.read import read_run
from drconsole.sandbox import dns, faults, manager, s3
from drconsole.sandbox.programs import SNAPSHOTS
from tests.conftest import REPO, Cli, CliResult, running_sandbox

pytestmark = pytest.mark.slow
DAILY = REPO / "plans" / "daily-backup-check.yaml"
UNSEAL = REPO / "plans" / "vault-unseal.yaml"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Path]:
    with running_sandbox("drconsole-facilitator-") as root:
        yield root
        assert faults.active(root) == {}, "the module left a fault injected"


def run(
    cli: Cli, tmp_path: Path, sandbox: Path, plan: Path,
    answers: dict[str, Any] | None = None, *extra: str,
) -> tuple[CliResult, Path]:  # fmt: skip
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "answers.yaml"
    path.write_text(yaml.safe_dump({"operator": "oncall", "steps": answers or {}}))
    result = cli.run(
        plan,
        *[a for x in extra for a in ("--input", x)],
        mode="drill",
        targets=sandbox / "targets.yaml",
        answers=path,
        runs=tmp_path / "runs",
    )
    return result, result.run_dir


def failed_steps(run_dir: Path) -> dict[str, str]:
    return {
        e.data["step"]: str(e.data.get("error"))
        for e in read_events(run_dir)
        if e.type == "step_finished" and e.data["status"] == "failed"
    }


def s3_client(sandbox: Path, endpoint: str | None = None) -> Any:
    section = yaml.safe_load((sandbox / "targets.yaml").read_text())["sites"]["primary"]["s3"]
    return boto3.client(
        "s3",
        endpoint_url=endpoint or section["endpoint"],
        region_name=s3.REGION,
        aws_access_key_id=s3.PRACTICE_KEY,
        aws_secret_access_key=s3.PRACTICE_SECRET,
        config=boto3.session.Config(retries={"total_max_attempts": 1}),
    )


def log(sandbox: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (sandbox / faultlog.LOG).read_text().splitlines()]


def test_refusals(sandbox: Path, tmp_path: Path, cli: Cli) -> None:
    not_a_sandbox = cli("sandbox", "inject", "seal-vault", "--dir", tmp_path)
    assert not_a_sandbox.code == 1
    assert "not a drconsole sandbox" in not_a_sandbox.err
    assert "Traceback" not in not_a_sandbox.err
    unknown = cli("sandbox", "inject", "flood", "--dir", sandbox)
    assert "unknown fault 'flood'; use one of: crashloop" in unknown.err
    assert cli("sandbox", "inject", "lag-standby", "--site", "primary", "--dir", sandbox).code == 1
    assert "nothing to heal" in cli("sandbox", "heal", "dns-drift", "--dir", sandbox).err
    targets = sandbox / "targets.yaml"
    kept = targets.read_text()
    doc = yaml.safe_load(kept)
    doc["sites"]["primary"]["drill"] = False
    targets.write_text(yaml.safe_dump(doc))
    try:
        refused = cli("sandbox", "inject", "seal-vault", "--dir", sandbox)
    finally:
        targets.write_text(kept)
    assert refused.code == 1
    assert "site 'primary' is not marked for drills" in refused.err
    assert faults.active(sandbox) == {}


def test_seal_vault_caught_by_unseal_plan(sandbox: Path, tmp_path: Path, cli: Cli) -> None:
    said = cli("sandbox", "inject", "seal-vault", "--dir", sandbox, "--operator", "Fran")
    assert said.code == 0, said.err
    addr = yaml.safe_load((sandbox / "targets.yaml").read_text())["sites"]["primary"]["vault"]
    assert requests.get(f"{addr['addr']}/v1/sys/seal-status").json()["sealed"] is True
    entry = log(sandbox)[-1]
    assert (entry["action"], entry["fault"], entry["site"]) == ("inject", "seal-vault", "primary")
    assert entry["who"]["operator"] == "Fran"
    assert entry["at"].endswith("Z")
    folder = sandbox / "openbao" / "primary"
    result, run_dir = run(
        cli, tmp_path, sandbox, UNSEAL,
        {"custodians": {"signoffs": [{"name": n, "role": "key_custodian"} for n in "ABC"]},
         "unseal": {"secrets": [{"file": str(folder / f"PRACTICE-ONLY-share-{i}")}
                                for i in (1, 2, 3)]}},
    )  # fmt: skip
    assert result.code == 0, result.out + result.err
    assert requests.get(f"{addr['addr']}/v1/sys/seal-status").json()["sealed"] is False
    status = next(
        e for e in read_events(run_dir) if e.type == "step_finished" and e.data["step"] == "status"
    )
    assert status.data["outputs"]["sealed"] is True  # the plan saw what was injected
    healed = cli("sandbox", "heal", "seal-vault", "--dir", sandbox)
    assert healed.code == 0
    assert "unsealed already (by the drill)" in healed.out
    report = build(read_run(run_dir))
    [found] = report["injections"]
    assert found["fault"] == "seal-vault"
    assert found["who"].startswith("Fran@")


def test_backup_faults_caught_by_daily_check(sandbox: Path, tmp_path: Path, cli: Cli) -> None:
    result, run_dir = run(cli, tmp_path, sandbox, DAILY)
    assert result.code == 0, failed_steps(run_dir)  # the baseline passes
    direct = s3_client(sandbox)
    # the stale backup: no copy visible, the freshness check fails
    assert cli("sandbox", "inject", "stale-backup", "--dir", sandbox).code == 0
    assert direct.list_objects_v2(Bucket=s3.BUCKET, Prefix="pgbackrest/").get("KeyCount") == 0
    result, run_dir = run(cli, tmp_path / "2", sandbox, DAILY)
    assert result.code != 0
    assert "no backups under pgbackrest/" in failed_steps(run_dir)["pg-copies-fresh"]
    report = build(read_run(run_dir))
    [stale] = report["injections"]
    assert (stale["fault"], stale["noticed_by"]) == ("stale-backup", "pg-copies-fresh")
    assert stale["notice_s"] >= 0
    assert "## Injected faults" in to_markdown(report)
    page = to_html(read_run(run_dir))
    assert "class='injection'" in page
    assert "⚡ stale-backup@primary injected; noticed after" in page
    assert cli("sandbox", "heal", "stale-backup", "--dir", sandbox).code == 0
    # the corrupt backup: the newest Vault snapshot's bytes differ from its SHA-256
    assert cli("sandbox", "inject", "corrupt-backup", "--dir", sandbox).code == 0
    undo = faults.active(sandbox)["corrupt-backup@primary"]
    body = direct.get_object(Bucket=s3.BUCKET, Key=undo["key"])["Body"].read()
    side = direct.get_object(Bucket=s3.BUCKET, Key=undo["key"] + ".sha256")["Body"].read()
    assert hashlib.sha256(body).hexdigest() != side.split()[0].decode()
    result, run_dir = run(cli, tmp_path / "3", sandbox, DAILY)
    assert result.code != 0
    assert "does not match its checksum" in failed_steps(run_dir)["vault-download"]
    [corrupt] = build(read_run(run_dir))["injections"]
    assert (corrupt["fault"], corrupt["noticed_by"]) == ("corrupt-backup", "vault-download")
    assert cli("sandbox", "heal", "corrupt-backup", "--dir", sandbox).code == 0
    assert direct.list_objects_v2(Bucket=s3.BUCKET, Prefix="pgbackrest/").get("KeyCount") >= 1
    assert SNAPSHOTS.pid(sandbox)  # the schedule runs again
    result, run_dir = run(cli, tmp_path / "4", sandbox, DAILY)
    assert result.code == 0, failed_steps(run_dir)
    h = history.history(tmp_path / "2" / "runs")
    assert [f["fault"] for f in h["faults"]] == ["stale-backup"]
    assert {f["fault"] for f in history.history(tmp_path / "3" / "runs")["faults"]} == {
        "corrupt-backup"
    }
    assert "time to notice, drill after drill" in history.to_markdown(h)


@pytest.mark.parametrize("refused_put", [1, 2], ids=["damaged-copy", "its-sha256"])
def test_a_corrupt_backup_that_fails_half_way_leaves_the_sandbox_as_it_was(
    sandbox: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch, refused_put: int
) -> None:
    """The bucket refuses a write as S3 does under load (503 SlowDown), the damaged copy's or
    its .sha256's: the inject fails saying so, and nothing is left changed (no new version of
    an existing snapshot, no .sha256, the snapshot schedule running, nothing recorded as
    injected), so nothing is left for a later 'sandbox up' to undo silently."""
    assert SNAPSHOTS.pid(sandbox)
    direct = s3_client(sandbox)

    def versions() -> set[tuple[str, str]]:
        listed = direct.list_object_versions(Bucket=s3.BUCKET, Prefix=faults.SNAPSHOTS)
        return {(v["Key"], v["VersionId"]) for v in listed.get("Versions", [])}

    before = versions()
    puts = itertools.count(1)
    real_client = ObjectStore.client

    def refuse(**_: Any) -> None:
        if next(puts) == refused_put:
            error = {"Code": "SlowDown", "Message": "Please reduce your request rate."}
            raise ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 503}},
                              "PutObject")  # fmt: skip

    refusing: list[Any] = []  # the clients are the process's (aws.boto_client): let them go

    def client(store: ObjectStore) -> Any:
        made = real_client(store)
        if made not in refusing:
            made.meta.events.register("before-call.s3.PutObject", refuse)
            refusing.append(made)
        return made

    monkeypatch.setattr(ObjectStore, "client", client)
    said = cli("sandbox", "inject", "corrupt-backup", "--dir", sandbox)
    monkeypatch.undo()
    for made in refusing:
        made.meta.events.unregister("before-call.s3.PutObject", refuse)
    assert said.code != 0
    assert "could not inject corrupt-backup on primary: ClientError" in said.err
    assert "SlowDown" in said.err
    assert "nothing is left changed (undone; the Vault snapshot schedule runs again)" in said.err
    assert "Traceback" not in said.err
    assert faults.active(sandbox) == {}
    assert SNAPSHOTS.pid(sandbox)  # running again, as it was
    added = versions() - before
    assert before <= versions()
    assert not {key for key, _ in added} & {key for key, _ in before}, added
    assert not any(key.endswith(".sha256") for key, _ in added), added


def test_sandbox_up_keeps_a_corrupt_backup_injected(sandbox: Path, cli: Cli) -> None:
    """'sandbox up' restarts what stopped, but not the snapshot schedule a corrupt-backup
    paused: a fresh snapshot would silently undo the fault. It says so; heal starts it."""
    assert cli("sandbox", "inject", "corrupt-backup", "--dir", sandbox).code == 0
    key = faults.active(sandbox)["corrupt-backup@primary"]["key"]
    said = cli("sandbox", "up", "--dir", sandbox)
    assert said.code == 0, said.err
    assert "stays paused while corrupt-backup is injected" in said.out
    assert SNAPSHOTS.pid(sandbox) is None
    store = s3.MotoServer(sandbox, manager.load_state(sandbox).bao_ports["s3"]).store()
    assert store.objects(faults.SNAPSHOTS)[-1]["key"] == key  # the damaged copy, still newest
    assert cli("sandbox", "heal", "corrupt-backup", "--dir", sandbox).code == 0
    assert SNAPSHOTS.pid(sandbox)
    assert "stays paused" not in cli("sandbox", "up", "--dir", sandbox).out


def test_s3_errors_through_the_proxy(sandbox: Path, tmp_path: Path, cli: Cli) -> None:
    said = cli("sandbox", "inject", "s3-errors", "--share", "0.5", "--dir", sandbox)
    assert said.code == 0, said.err
    proxied = s3_client(sandbox)
    codes = []
    for _ in range(40):
        try:
            proxied.head_bucket(Bucket=s3.BUCKET)
            codes.append(200)
        except Exception as exc:  # noqa: BLE001 - botocore's ClientError
            codes.append(int(exc.response["ResponseMetadata"]["HTTPStatusCode"]))  # type: ignore[attr-defined]
    assert set(codes) == {200, 503}
    moto = manager._moto(manager.load_state(sandbox))  # type: ignore[arg-type]
    assert moto is not None
    direct = s3_client(sandbox, moto.endpoint)
    assert all(direct.head_bucket(Bucket=s3.BUCKET) for _ in range(10))  # moto itself is fine
    assert cli("sandbox", "heal", "s3-errors", "--dir", sandbox).code == 0
    assert all(proxied.head_bucket(Bucket=s3.BUCKET) for _ in range(20))


def test_lag_crashloop_and_dns(sandbox: Path, tmp_path: Path, cli: Cli) -> None:
    state = manager.load_state(sandbox)
    assert state is not None
    dsn = state.layout().dsn(state.standby_port, "postgres", "postgres")
    assert cli("sandbox", "inject", "lag-standby", "--dir", sandbox).code == 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SELECT pg_get_wal_replay_pause_state()").fetchone() == ("paused",)
    # the failover's standby check (its own step, with an RPO short enough to see the lag)
    failover = yaml.safe_load((REPO / "plans" / "dr-site-failover.yaml").read_text())
    step = next(s for s in failover["steps"] if s["id"] == "standby-state")
    time.sleep(3)
    plan = tmp_path / "standby.yaml"
    check = {k: step[k] for k in ("id", "title", "check", "site")}
    check["with"] = {"rpo_s": 1}
    check["expect"] = {"past_rpo": False}
    plan.write_text(yaml.safe_dump({"id": "standby-check", "title": "standby", "kind": "drill",
                                    "version": "1", "steps": [check]}))  # fmt: skip
    result, run_dir = run(cli, tmp_path, sandbox, plan)
    assert result.code != 0
    assert "standby-state" in failed_steps(run_dir)
    assert cli("sandbox", "heal", "lag-standby", "--dir", sandbox).code == 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SELECT pg_get_wal_replay_pause_state()").fetchone() == ("not paused",)
    time.sleep(1)
    result, run_dir = run(cli, tmp_path / "2", sandbox, plan)
    assert result.code == 0, failed_steps(run_dir)

    k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
        str(sandbox / "k8s" / "kubeconfig"), context="primary"
    )
    core = k8s_client.CoreV1Api()
    assert cli("sandbox", "inject", "crashloop", "--dir", sandbox).code == 0

    def reasons() -> set[str]:
        pods: Any = core.list_namespaced_pod("qsign", label_selector="app=qsign-api").items
        return {
            str(c.state.waiting.reason if c.state.waiting else "Running")
            for p in pods
            if not p.metadata.deletion_timestamp
            for c in p.status.container_statuses
        }

    deadline = time.monotonic() + 10
    while reasons() != {"CrashLoopBackOff"} and time.monotonic() < deadline:
        time.sleep(0.2)
    assert reasons() == {"CrashLoopBackOff"}
    assert cli("sandbox", "heal", "crashloop", "--dir", sandbox).code == 0
    deadline = time.monotonic() + 10
    while reasons() != {"Running"} and time.monotonic() < deadline:
        time.sleep(0.2)
    assert reasons() == {"Running"}

    assert cli("sandbox", "inject", "dns-drift", "--dir", sandbox).code == 0
    moto = manager._moto(state)
    assert moto is not None
    route53 = boto3.client(
        "route53",
        endpoint_url=moto.endpoint,
        region_name="us-east-1",
        aws_access_key_id=s3.PRACTICE_KEY,
        aws_secret_access_key=s3.PRACTICE_SECRET,
    )
    zone = route53.list_hosted_zones_by_name(DNSName="qsign.example.")["HostedZones"][0]["Id"]

    def api() -> str:
        sets = route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
        return str(next(r["ResourceRecords"][0]["Value"] for r in sets if r["Name"] == dns.RECORD))

    assert api() == faults.DRIFT_TARGET
    assert cli("sandbox", "heal", "dns-drift", "--dir", sandbox).code == 0
    assert api() == "api.primary.qsign.example."


def test_reset_heals_every_fault(sandbox: Path, cli: Cli) -> None:
    for fault in ("seal-vault", "lag-standby", "s3-errors", "dns-drift"):
        assert cli("sandbox", "inject", fault, "--dir", sandbox).code == 0
    said = cli("sandbox", "reset", "--dir", sandbox)
    assert said.code == 0, said.err
    assert faults.active(sandbox) == {}
    assert [e["fault"] for e in log(sandbox)[-4:]] == ["seal-vault", "lag-standby", "s3-errors",
                                                       "dns-drift"]  # fmt: skip
    assert all(e["action"] == "heal" and e["who"]["operator"] == "sandbox reset"
               for e in log(sandbox)[-4:])  # fmt: skip


def test_facilitator_view_by_keys(sandbox: Path, tmp_path: Path, cli: Cli) -> None:
    from drconsole.tui.facilitate_screen import FacilitateApp, sandbox_of

    result, run_dir = run(cli, tmp_path, sandbox, REPO / "plans" / "hello-drill.yaml", None,
                          "file=/etc/hostname")  # fmt: skip
    assert sandbox_of(run_dir) == sandbox

    async def go() -> None:
        app = FacilitateApp(run_dir, sandbox, operator="Fran")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            panel = str(app.screen.query_one("#faults").render())
            assert "9 dns-drift" in panel
            await pilot.press("9")  # asks first
            await pilot.press("n")  # and a no injects nothing
            await pilot.pause(0.3)
            assert faults.active(sandbox) == {}
            await pilot.press("9", "y")
            for _ in range(50):
                await pilot.pause(0.1)
                if "dns-drift@primary" in faults.active(sandbox):
                    break
            assert "dns-drift@primary" in faults.active(sandbox)
            await pilot.pause(1.2)
            assert "pri IN" in str(app.screen.query_one("#faults").render())
            await pilot.press("9")  # heals, without asking
            for _ in range(50):
                await pilot.pause(0.1)
                if not faults.active(sandbox):
                    break
            assert faults.active(sandbox) == {}
            assert log(sandbox)[-1]["who"]["operator"] == "Fran"

    asyncio.run(go())
