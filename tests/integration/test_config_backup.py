"""The application config backup and restore (plans config-backup and config-restore) on real
services: the Kubernetes API simulator reached through the official client, and a moto server
(the S3 API over HTTP) holding the bucket. A round trip through the bucket with a ConfigMap and
Secrets; a backup with one byte changed (in the bucket, or on disk with its .sha256 rewritten
too) or sealed under another key is refused before anything is applied; no secret value reaches
the bucket in the clear, the record, the report or the screen."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from drconsole.adapters.base import CheckFailed, PermanentError
from drconsole.adapters.kubernetes import KubeAdapter
from drconsole.adapters.sealed import load_key
from drconsole.journal.journal import read_events, verify
from drconsole.sandbox.k8ssim import Simulator, qsign_objects
from drconsole.sandbox.s3 import MotoServer
from tests.conftest import REPO, Cli, CliResult
from tests.integration.test_vault import outputs

pytestmark = pytest.mark.slow

BACKUP = REPO / "plans" / "config-backup.yaml"
RESTORE = REPO / "plans" / "config-restore.yaml"
SECRET_VALUES = ("practice-only-db-password", "tls-private-key-value")


def write_key(path: Path) -> Path:
    path.write_text(os.urandom(32).hex() + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def site(moto: MotoServer, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A drill site with the QSIGN namespace (plus a Secret written as stringData), the bucket
    and a backup key; the targets file is ``tmp_path/targets.yaml``."""
    with Simulator(ready_delay_s=0.2) as sim:
        sim.seed(qsign_objects(2))
        config = sim.kubeconfig(tmp_path / "kubeconfig", "primary")
        kube = {"kubeconfig": str(config), "context": "primary", "namespace": "qsign"}
        KubeAdapter(kube).core().create_namespaced_secret(
            "qsign",
            {"metadata": {"name": "qsign-tls"}, "stringData": {"tls.key": SECRET_VALUES[1]}},
        )
        section = {
            "drill": True,
            "s3": {**moto.section(), "download_dir": str(tmp_path / "downloads")},
            "kubernetes": kube,
            "backup_key": {"file": str(write_key(tmp_path / "backup.key"))},
        }
        (tmp_path / "targets.yaml").write_text(yaml.safe_dump({"sites": {"primary": section}}))
        yield section


def run_plan(
    cli: Cli,
    tmp_path: Path,
    plan: Path,
    steps: dict[str, Any] | None = None,
    *inputs: str,
) -> tuple[CliResult, Path]:
    """``drconsole run PLAN --headless`` against ``tmp_path/targets.yaml``."""
    answers = tmp_path / "answers.yaml"
    answers.write_text(yaml.safe_dump({"operator": "oncall", "steps": steps or {}}))
    args = ["run", plan, "--headless", "--targets", tmp_path / "targets.yaml"]
    args += ["--answers", answers, "--runs-dir", tmp_path / "runs"]
    for item in inputs:
        args += ["--input", item]
    result = cli(*args)
    return result, result.run_dir


def started(run_dir: Path) -> set[str]:
    return {e.data["step"] for e in read_events(run_dir) if e.type == "step_started"}


def assert_no_value_anywhere(
    cli: Cli, run_dir: Path, printed: str, values: tuple[str, ...]
) -> None:
    report = cli("report", run_dir).out + cli("report", run_dir, "--format", "json").out
    record = "".join(p.read_text(errors="replace") for p in run_dir.rglob("*") if p.is_file())
    everything = printed + report + record
    for value in values:
        assert value not in everything
        assert base64.b64encode(value.encode()).decode() not in everything
    assert verify(run_dir).ok


def live(site: dict[str, Any]) -> tuple[dict[str, str], dict[str, str] | None, set[str]]:
    """The ConfigMap's data, the credentials Secret's data (None when gone), api-server pods."""
    k = KubeAdapter(site["kubernetes"])
    config = k.core().read_namespaced_config_map("qsign-config", "qsign").data
    try:
        secret = k.core().read_namespaced_secret("qsign-api-credentials", "qsign").data
    except Exception:  # noqa: BLE001 - deleted
        secret = None
    pods = {p["name"] for p in k.pods("app=qsign-api")}
    return config, secret, pods


def damage(site: dict[str, Any]) -> None:
    """What an incident did: the config changed, a Secret deleted."""
    core = KubeAdapter(site["kubernetes"]).core()
    body = core.read_namespaced_config_map("qsign-config", "qsign")
    body.data = {"LOG_LEVEL": "debug"}
    core.replace_namespaced_config_map("qsign-config", "qsign", body)
    core.delete_namespaced_secret("qsign-api-credentials", "qsign")


def test_config_round_trip_through_the_bucket(
    cli: Cli, site: dict[str, Any], moto: MotoServer, tmp_path: Path
) -> None:
    config_before, secret_before, _ = live(site)
    result, run_dir = run_plan(cli, tmp_path, BACKUP)
    assert result.code == 0, result.out
    export = outputs(run_dir, "export")
    assert export["configmaps"] == ["qsign-config"]
    assert export["secrets"] == ["qsign-api-credentials", "qsign-tls"]
    assert outputs(run_dir, "read-back")["expected_from"] == "sidecar .sha256"
    stored = (
        moto.store().client().get_object(Bucket="qsign-backups", Key=f"config/{export['name']}")
    )
    body = stored["Body"].read().decode()
    assert "LOG_LEVEL" in body  # ConfigMaps are readable; Secrets are not
    assert "DB_PASSWORD" in body  # key names are listed, values sealed
    for value in SECRET_VALUES:
        assert value not in body
        assert base64.b64encode(value.encode()).decode() not in body
    assert_no_value_anywhere(cli, run_dir, result.out, SECRET_VALUES)

    damage(site)
    _, gone, pods_before = live(site)
    assert gone is None
    result, run_dir = run_plan(
        cli, tmp_path, RESTORE, {"apply": {"typed": "restore config primary"}}
    )
    assert result.code == 0, result.out
    config_after, secret_after, pods_after = live(site)
    assert (config_after, secret_after) == (config_before, secret_before)
    assert outputs(run_dir, "apply")["created"] == ["qsign-api-credentials"]
    restarted = outputs(run_dir, "restart")
    assert restarted["restarted"] == ["deployment/qsign-api"]
    assert restarted["readers"]["deployment/qsign-api"] == [
        "ConfigMap/qsign-config",
        "Secret/qsign-api-credentials",
    ]
    assert len(pods_after) == 2
    assert not pods_after & pods_before
    tls = KubeAdapter(site["kubernetes"]).core().read_namespaced_secret("qsign-tls", "qsign")
    assert base64.b64decode(tls.data["tls.key"]).decode() == SECRET_VALUES[1]
    assert_no_value_anywhere(cli, run_dir, result.out, SECRET_VALUES)


def test_a_backup_with_one_byte_changed_in_the_bucket_is_refused_before_apply(
    cli: Cli, site: dict[str, Any], moto: MotoServer, tmp_path: Path
) -> None:
    result, run_dir = run_plan(cli, tmp_path, BACKUP)
    assert result.code == 0, result.out
    key = f"config/{outputs(run_dir, 'export')['name']}"
    client = moto.store().client()
    data = bytearray(client.get_object(Bucket="qsign-backups", Key=key)["Body"].read())
    data[len(data) // 2] ^= 0x01
    client.put_object(Bucket="qsign-backups", Key=key, Body=bytes(data))  # a new version
    damage(site)
    before = live(site)
    result, run_dir = run_plan(
        cli, tmp_path, RESTORE, {"apply": {"typed": "restore config primary"}}
    )
    assert result.code != 0
    assert "does not match its checksum" in result.out
    assert "apply" not in started(run_dir)
    assert live(site) == before  # nothing applied, nothing restarted


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("byte", "does not match its checksum"),
        ("byte-and-sha256", "does not authenticate under its key"),
        ("other-key", "was sealed under another key"),
        ("no-sha256", "has no config-"),
    ],
)
def test_a_changed_local_backup_is_refused_before_apply(
    site: dict[str, Any], tmp_path: Path, change: str, words: str
) -> None:
    k = KubeAdapter(site["kubernetes"])
    key = load_key(None, site)
    backup = Path(k.export_config(str(tmp_path / "out"), key)["path"])
    sidecar = Path(f"{backup}.sha256")
    if change.startswith("byte"):
        data = bytearray(backup.read_bytes())
        data[data.index(b"LOG_LEVEL") + 14] ^= 0x01  # inside the ConfigMap's value
        backup.write_bytes(bytes(data))
        if change == "byte-and-sha256":
            sidecar.write_text(f"{hashlib.sha256(data).hexdigest()}  {backup.name}\n")
    elif change == "other-key":
        key = os.urandom(32)
    else:
        sidecar.unlink()
    damage(site)
    before = live(site)
    with pytest.raises(CheckFailed, match=words):
        k.restore_config(str(backup), key, [])
    assert live(site) == before


def test_unknown_names_and_bad_keys_are_refused_with_what_to_do(
    site: dict[str, Any], tmp_path: Path
) -> None:
    k = KubeAdapter(site["kubernetes"])
    key = load_key(None, site)
    backup = k.export_config(str(tmp_path / "out"), key)["path"]
    with pytest.raises(PermanentError, match="no ConfigMap or Secret named nope; nothing was"):
        k.restore_config(backup, key, ["nope"])
    only = k.restore_config(backup, key, ["qsign-tls"])
    assert (only["configmaps"], only["secrets"]) == ([], ["qsign-tls"])
    short = tmp_path / "short.key"
    short.write_text("abcd\n")
    with pytest.raises(PermanentError, match="not 32 bytes as hex or base64"):
        load_key({"file": str(short)}, {})
    with pytest.raises(PermanentError, match="no backup key is named"):
        load_key(None, {})
    with pytest.raises(PermanentError, match="a secret must be named"):
        load_key({"value": "literal"}, {})
