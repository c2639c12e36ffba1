"""Vault's second backup on real OpenBao servers and a moto bucket: the KV export (sealed, with
its .sha256, in vault/secrets/) and its restore into a fresh Vault, one path and then all; a
path the export does not hold is refused before anything is written; no secret value reaches
the bucket in the clear, the record, the report or the screen."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hvac.exceptions
import pytest
import yaml

from drconsole.adapters.oscmd import free_port
from drconsole.sandbox import openbao
from drconsole.sandbox.s3 import MotoServer
from tests.conftest import REPO, Cli
from tests.integration.test_config_backup import (
    assert_no_value_anywhere,
    run_plan,
    started,
    write_key,
)
from tests.integration.test_vault import outputs

pytestmark = pytest.mark.slow

EXPORT = REPO / "plans" / "vault-kv-export.yaml"
RESTORE = REPO / "plans" / "vault-kv-restore.yaml"
VALUES = tuple(
    v for secret in openbao.SAMPLE_SECRETS.values() for v in secret.values() if v != "qsign"
)


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, openbao.BaoServer]]:
    """The sandbox's two OpenBao servers alone: the primary with the sample secrets, the DR
    one empty (no KV mount)."""
    root = Path(tempfile.mkdtemp(prefix="drconsole-kv-"))
    ports = {
        f"bao_{name}{suffix}": free_port()
        for name in ("primary", "dr")
        for suffix in ("", "_cluster")
    }
    try:
        openbao.create(root, ports)
        yield {s.name: s for s in openbao.servers(root, ports)}
    finally:
        for server in openbao.servers(root, ports):
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def targets(servers: dict[str, openbao.BaoServer], moto: MotoServer, tmp_path: Path) -> Path:
    key = {"file": str(write_key(tmp_path / "backup.key"))}
    s3 = {**moto.section(), "download_dir": str(tmp_path / "downloads")}
    sites = {
        name: {
            "drill": True,
            "vault": {
                "addr": server.addr,
                "token_file": str(server.dir / "PRACTICE-ONLY-root-token"),
            },
            "s3": s3,
            "backup_key": key,
        }
        for name, server in servers.items()
    }
    path = tmp_path / "targets.yaml"
    path.write_text(yaml.safe_dump({"sites": sites}))
    return path


def kv(server: openbao.BaoServer) -> Any:
    return server.client(server.practice_init()["root_token"]).secrets.kv.v2


def read(server: openbao.BaoServer, path: str) -> dict[str, Any] | None:
    try:
        return dict(
            kv(server).read_secret_version(
                path=path, mount_point="secret", raise_on_deleted_version=True
            )["data"]["data"]
        )
    except (hvac.exceptions.InvalidPath, hvac.exceptions.InvalidRequest):
        return None


def test_export_then_restore_one_path_and_then_all_into_a_fresh_vault(
    cli: Cli,
    servers: dict[str, openbao.BaoServer],
    moto: MotoServer,
    targets: Path,
    tmp_path: Path,
) -> None:
    result, run_dir = run_plan(cli, tmp_path, EXPORT)
    assert result.code == 0, result.out
    export = outputs(run_dir, "export")
    assert export["paths"] == sorted(openbao.SAMPLE_SECRETS)
    assert export["count"] == 2
    body = (
        moto.store()
        .client()
        .get_object(Bucket="qsign-backups", Key=f"vault/secrets/{export['name']}")["Body"]
        .read()
        .decode()
    )
    assert "qsign/db" in body  # paths are readable, values sealed
    for value in VALUES:
        assert value not in body
    assert_no_value_anywhere(cli, run_dir, result.out, VALUES)

    dr = servers["dr"]
    assert read(dr, "qsign/db") is None
    result, run_dir = run_plan(cli, tmp_path, RESTORE, None, "site=dr", "path=qsign/db")
    assert result.code == 0, result.out
    one = outputs(run_dir, "restore")
    assert (one["restored"], one["mount_created"]) == (["qsign/db"], True)
    assert read(dr, "qsign/db") == openbao.SAMPLE_SECRETS["qsign/db"]
    assert read(dr, "qsign/signing") is None
    assert_no_value_anywhere(cli, run_dir, result.out, VALUES)

    result, run_dir = run_plan(cli, tmp_path, RESTORE, None, "site=dr")
    assert result.code == 0, result.out
    every = outputs(run_dir, "restore")
    assert every["restored"] == ["qsign/signing"]
    assert every["unchanged"] == ["qsign/db"]  # it held the exported data already: no new version
    for path, secret in openbao.SAMPLE_SECRETS.items():
        assert read(dr, path) == secret
    assert_no_value_anywhere(cli, run_dir, result.out, VALUES)


def test_a_path_the_export_does_not_hold_is_refused_before_writing(
    cli: Cli,
    servers: dict[str, openbao.BaoServer],
    targets: Path,
    tmp_path: Path,
) -> None:
    result, _ = run_plan(cli, tmp_path, EXPORT, None, "prefix=qsign/")
    assert result.code == 0, result.out
    kv(servers["primary"]).create_or_update_secret(
        path="qsign/db", secret={"username": "qsign", "password": "changed-after-export"},
        mount_point="secret",
    )  # fmt: skip
    versions = kv(servers["primary"]).read_secret_metadata(path="qsign/db", mount_point="secret")
    result, run_dir = run_plan(cli, tmp_path, RESTORE, None, "path=qsign/db, qsign/nope")
    assert result.code != 0
    assert "the export holds no secret qsign/nope; nothing was written" in result.out
    after = kv(servers["primary"]).read_secret_metadata(path="qsign/db", mount_point="secret")
    assert after["data"]["current_version"] == versions["data"]["current_version"]
    assert "restore" in started(run_dir)
    # the right path alone puts the exported value back as a new version
    result, run_dir = run_plan(cli, tmp_path, RESTORE, None, "path=qsign/db")
    assert result.code == 0, result.out
    assert read(servers["primary"], "qsign/db") == openbao.SAMPLE_SECRETS["qsign/db"]
    assert outputs(run_dir, "restore")["versions"]["qsign/db"] == (
        versions["data"]["current_version"] + 1
    )
    assert_no_value_anywhere(cli, run_dir, result.out, (*VALUES, "changed-after-export"))
    assert os.stat(outputs(run_dir, "fetch")["path"]).st_size > 0
