"""Vault / OpenBao raft snapshots: take one to a file (SHA-256 beside it), inspect a file,
choose the one to restore (given, fetched from s3://, or the newest in the site's folder),
restore it into a running node, and restore it into a node whose data is lost.

Traps explained at the step where they bite:
- a normal restore of another cluster's snapshot is refused: it needs ``force``;
- after a force restore the node seals itself and still shows the old t/n until it restarts;
  after the restart the ORIGINAL cluster's threshold and shares apply.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from drconsole.adapters.base import (
    ActionContext,
    CheckFailed,
    PermanentError,
    TransientError,
    wait_until,
)
from drconsole.adapters.vault import VaultAdapter

_CHUNK = 1 << 20
# members of a raft snapshot archive, as OpenBao and Vault write them
SNAPSHOT_MEMBERS = {"meta.json", "state.bin", "SHA256SUMS"}


def _taken(file: Path) -> dict[str, str]:
    """When a snapshot was taken: its file's modification time (raft's index and term carry
    no time). A snapshot saved by drconsole or the sandbox has it; s3.download gives the file
    the object's LastModified; a file copied without its time has the copy's."""
    return {
        "taken_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(file.stat().st_mtime)),
        "taken_at_from": "the file's modification time (a download keeps the object's "
        "LastModified)",
    }


def snapshot_inspect(path: str, expect_sha256: str | None) -> dict[str, Any]:
    file = Path(path)
    digest = hashlib.sha256()
    try:
        with file.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    except FileNotFoundError:
        raise PermanentError(f"no snapshot file {file}") from None
    actual = digest.hexdigest()
    expected = expect_sha256
    sidecar = Path(str(file) + ".sha256")
    if expected is None and sidecar.exists():
        expected = sidecar.read_text().split()[0].lower()
    out: dict[str, Any] = {
        "path": str(file),
        "size": file.stat().st_size,
        "sha256": actual,
        "expected_sha256": expected,
    }
    try:
        with tarfile.open(file, "r:gz") as archive:
            members = {m.name for m in archive.getmembers()}
            meta_member = archive.extractfile("meta.json") if "meta.json" in members else None
            meta = meta_member.read() if meta_member else b"{}"
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise CheckFailed(
            f"{file} is not a readable raft snapshot: {exc}",
            evidence=out,
            hint="do not restore it; take or fetch another snapshot",
        ) from None
    missing = SNAPSHOT_MEMBERS - members
    out["members"] = sorted(members)
    if missing:
        raise CheckFailed(f"{file} lacks {', '.join(sorted(missing))}", evidence=out)
    info = json.loads(meta or b"{}")
    out.update(index=info.get("Index"), term=info.get("Term"), version=info.get("Version"))
    out.update(_taken(file))
    if expected is not None and expected != actual:
        raise CheckFailed(
            f"SHA-256 of {file} is {actual[:16]}…, expected {expected[:16]}…",
            evidence=out,
            hint="the snapshot changed since it was taken",
        )
    return out


def newest_snapshot(
    vault: VaultAdapter,
    given: str | None,
    rpo_s: float | None,
    s3: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The snapshot to restore: the one given (a path, or s3://BUCKET/KEY fetched through
    the site's s3 section and verified against its checksum), else the newest in the
    site's snapshots folder."""
    source = None  # where the time of taking comes from, when not the file's own
    if given and given.startswith("s3://"):
        from drconsole.adapters.objectstore import ObjectStore

        if not s3:
            raise PermanentError("an s3:// snapshot needs an s3 section for this site")
        bucket, _, key = given.removeprefix("s3://").partition("/")
        into = Path(vault.section.get("snapshots") or ".") / "downloaded" / Path(key).name
        fetched = ObjectStore({**s3, "bucket": bucket}).download(key, str(into))
        given = fetched["path"]
        source = f"the LastModified of s3://{bucket}/{key}"
    if given:
        chosen = Path(given)
        if not chosen.is_file():
            raise PermanentError(f"no snapshot file {chosen}")
    else:
        folder = vault.section.get("snapshots")
        found = list(Path(folder).glob("*.snap")) if folder and Path(folder).is_dir() else []
        if not found:
            raise CheckFailed(
                f"no snapshots (*.snap) in {folder}",
                hint="give the snapshot's path as the plan's input",
            )
        chosen = max(found, key=lambda f: f.stat().st_mtime)
    age = time.time() - chosen.stat().st_mtime
    out: dict[str, Any] = {"path": str(chosen), "age_s": round(age, 1), **_taken(chosen)}
    if source:
        out["taken_at_from"] = source
    if rpo_s is not None:
        out["within_rpo"] = age <= rpo_s
    return out


def snapshot_save(vault: VaultAdapter, path: str) -> dict[str, Any]:
    client = vault.client()
    response = vault.call("snapshot", client.sys.take_raft_snapshot)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    with target.open("wb") as handle:
        for chunk in response.iter_content(_CHUNK):
            handle.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    Path(str(target) + ".sha256").write_text(f"{digest.hexdigest()}  {target.name}\n")
    return {"path": str(target), "size": size, "sha256": digest.hexdigest()}


def restore_into_new(vault: VaultAdapter, path: str, ctx: ActionContext) -> dict[str, Any]:
    """A node whose data is lost (an empty raft volume) takes a snapshot: it is started
    (a local node), initialised with ONE throwaway share, unsealed with it and the snapshot
    force-restored with its root token. The throwaway share and token live in this call's
    memory only; after the restore the node holds the snapshot's keyring and tokens."""
    host = vault.local_host()
    if host is not None and not host.pid():
        host.start()
        ctx.log("the node started on its empty volume")
    import requests

    client = vault.client(with_token=False)
    started = time.monotonic()

    def initialised() -> dict[str, bool] | None:
        try:
            return {"initialised": bool(client.sys.is_initialized())}
        except requests.RequestException:
            return None

    answer = wait_until(initialised, 30, interval_s=0.1, cancel=ctx.cancel)
    if answer is None:
        raise TransientError(f"{vault.section['addr']} does not answer")
    if answer["initialised"]:
        raise PermanentError(
            "the node is initialised already: it is not a new, empty node",
            hint="restore into it with vault.snapshot_restore (force: true) instead",
        )
    throwaway = vault.call("initialise", client.sys.initialize, 1, 1)
    client.token = throwaway["root_token"]
    vault.call("unseal", client.sys.submit_unseal_key, throwaway["keys"][0])
    ctx.log("initialised with one throwaway share (not kept) and unsealed")

    def leads() -> bool:
        return bool(vault.call("leader", client.sys.read_leader_status).get("is_self"))

    if not wait_until(leads, started + 60 - time.monotonic(), interval_s=0.1, cancel=ctx.cancel):
        raise TransientError("the new node elected no raft leader within 60 s")
    out = snapshot_restore(vault, path, True, ctx, wait_for_seal=False, client=client)
    return {"initialised": True, **out}


def snapshot_restore(
    vault: VaultAdapter,
    path: str,
    force: bool,
    ctx: ActionContext,
    wait_for_seal: bool = True,
    client: Any = None,
) -> dict[str, Any]:
    client = client or vault.client()
    before = vault.call("status", client.sys.read_seal_status)
    data = Path(path).read_bytes()
    call = client.sys.force_restore_raft_snapshot if force else client.sys.restore_raft_snapshot
    try:
        vault.call("restore", call, data)
    except PermanentError as exc:
        if not force and "snapshot-force" in str(exc):
            raise PermanentError(
                "the snapshot comes from another cluster (other unseal keys): a normal "
                "restore is refused",
                hint="restore with force: the node then takes the snapshot's keyring, seals, "
                "and needs the ORIGINAL cluster's shares after a restart",
            ) from None
        raise
    host = vault.local_host()
    applied = (
        host.wait_applied(within_s=60, appear_s=2, cancel=ctx.cancel) == "applied" if host else None
    )
    ctx.log("restore accepted" + (": the server applied the snapshot" if applied else ""))

    def settled() -> dict[str, Any] | None:  # after a force restore the node seals itself
        seal = vault.seal_status(client)  # None: the node may be busy for a moment
        return seal if seal is not None and (seal["sealed"] or not force) else None

    seal = wait_until(settled, 15, interval_s=0.1, cancel=ctx.cancel) if wait_for_seal else None
    sealed = bool(seal and seal["sealed"])
    out = {
        "forced": force,
        "applied": applied,
        "sealed_now": sealed,
        "threshold_before": before["t"],
        "shares_before": before["n"],
    }
    if force and (sealed or not wait_for_seal):
        out["next"] = (
            "the node sealed itself with the snapshot's keyring: restart it, then "
            "unseal with the ORIGINAL cluster's shares"
        )
    return out
