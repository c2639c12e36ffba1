"""A Vault snapshot's time is when it was taken, not when it was fetched or inspected: raft's
metadata carries no time, so drconsole reads the object's LastModified (a download keeps it as
the file's time) and says so; the RPO measured from it is the snapshot's age. On a real moto
server, with a snapshot-shaped archive uploaded, then fetched seconds later."""

from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from drconsole.sandbox.s3 import MotoServer
from drconsole.timeutil import parse_timestamp
from tests.conftest import Cli
from tests.integration.test_vault import outputs

pytestmark = pytest.mark.slow

KEY = "vault/snapshots/vault-snapshot-20261130-060000.snap"
PLAN = f"""
id: snapshot-time
title: A snapshot's time
kind: restore
objectives: {{rpo: 1h}}
steps:
  - id: choose
    check: vault.newest_snapshot
    site: primary
    with: {{path: "s3://qsign-backups/{KEY}", rpo_s: 3600}}
  - id: fetch
    action: s3.download
    site: primary
    with: {{key: "{KEY}", path: "${{targets.primary.s3.download_dir}}/daily.snap"}}
  - id: inspect
    check: vault.snapshot_inspect
    with: {{path: "${{steps.fetch.outputs.path}}"}}
    needs: [fetch]
  - id: recovered
    milestone: data_recovered
    recovery_point: "${{steps.choose.outputs.taken_at}}"
    needs: [choose]
"""


def snapshot(path: Path) -> None:
    """A gzipped tar with a raft snapshot's members (its metadata has an index and a term,
    no time)."""
    with tarfile.open(path, "w:gz") as archive:
        for name, data in (
            ("meta.json", json.dumps({"Index": 42, "Term": 3, "Version": 1}).encode()),
            ("state.bin", b"state"),
            ("SHA256SUMS", b"sums"),
        ):
            member = tarfile.TarInfo(name)
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))


def test_the_snapshot_time_is_the_objects_not_the_fetch(
    cli: Cli, moto: MotoServer, tmp_path: Path
) -> None:
    store = moto.store()
    local = tmp_path / "taken.snap"
    snapshot(local)
    store.upload(str(local), KEY)
    made = next(o for o in store.objects("vault/snapshots/") if o["key"] == KEY)["_dt"]
    time.sleep(2.5)  # fetched and inspected seconds after it was taken

    targets = tmp_path / "targets.yaml"
    section: dict[str, Any] = {"drill": True, "s3": moto.section(),
                               "vault": {"addr": "-", "snapshots": str(tmp_path / "snaps")}}  # fmt: skip
    targets.write_text(yaml.safe_dump({"sites": {"primary": section}}))
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    result = cli.run(plan, mode="drill", targets=targets)
    assert result.code == 0, result.out

    for step in ("choose", "inspect"):
        out = outputs(result.run_dir, step)
        assert parse_timestamp(out["taken_at"]) == made, (step, out)
        assert "LastModified" in out["taken_at_from"], out
    assert outputs(result.run_dir, "choose")["age_s"] >= 2
    assert parse_timestamp(outputs(result.run_dir, "fetch")["last_modified"]) == made
    report = json.loads(cli("report", result.run_dir, "--format", "json").out)
    assert report["rpo"]["achieved_s"] >= 2  # from the snapshot's time, not the fetch's
