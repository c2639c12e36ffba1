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
from drconsole.adapters.vaulthost import LocalBaoHost
from drconsole.timeutil import format_timestamp, utcnow

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


def _now() -> str:
    return format_timestamp(utcnow().replace(microsecond=0))


class _Sent:
    """What an attempt of this step sent the server (``restore-sent.json`` in the step's
    artefact folder): the snapshot, force, when, and the node's seal before. A rerun after an
    interruption reads it to tell its own earlier restore from anything else."""

    def __init__(self, folder: str | None) -> None:
        self.path = Path(folder) / "restore-sent.json" if folder else None

    def read(self) -> dict[str, Any] | None:
        if self.path is None or not self.path.is_file():
            return None
        return dict(json.loads(self.path.read_text()))

    def write(self, **fields: Any) -> None:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps({"at": _now(), **fields}))


def _not_in_place(what: str, force: bool) -> PermanentError:
    """A restore that was not seen applied: what is known, and what to do."""
    unseal = (
        "it comes up sealed: unseal it with its OWN cluster's shares (if they open it the "
        "snapshot is not in place: run this step again; if only the snapshot cluster's shares "
        "do, it is: mark this step done and go on with the restart and unseal)"
        if force
        else "unseal it if it is sealed, then run this step again (restoring the same "
        "snapshot again is safe)"
    )
    return PermanentError(
        f"the snapshot restore was NOT seen applied: {what}; the snapshot may or may not be in "
        "place",
        hint=f"start the server again; {unseal}",
    )


def _applied_since(vault: VaultAdapter, sent: dict[str, Any], ctx: ActionContext) -> bool:
    """Whether a local server logged a restore applied since an earlier attempt of this step
    sent one (its log from the mark taken then; one still under way is waited for)."""
    host = vault.local_host()
    if host is None or sent.get("log_mark") is None:
        return False
    host.read_from(int(sent["log_mark"]))
    state = host.restore_state()
    if state == "begun":
        state = host.wait_applied(within_s=60, appear_s=0, cancel=ctx.cancel)
    return state in ("applied", "done")


def _resumed(sent: dict[str, Any], force: bool, ctx: ActionContext) -> dict[str, Any]:
    """The outputs of a rerun that found the earlier attempt's restore applied."""
    ctx.log(
        f"the restore sent at {sent['at']} (an attempt the console stopped in) is applied"
        + (": the node seals itself with the snapshot's keyring" if force else "")
    )
    before = sent["before"]
    out = {
        "forced": force,
        "applied": True,
        "sealed_now": None,
        "threshold_before": before["t"],
        "shares_before": before["n"],
        "resumed": f"the snapshot sent at {sent['at']} by the attempt the console stopped in "
        "is applied (the server's log says so); it was not sent again",
    }
    if force:
        out["next"] = _NEXT
    return out


def _unknown(sent: dict[str, Any], local: bool) -> PermanentError:
    return _not_in_place(
        f"an earlier attempt of this step sent it at {sent['at']} (the console stopped in it) "
        "and the node is sealed now, but "
        + (
            "its log shows no restore applied since"
            if local
            else "this node's log cannot be read from here (not a local server)"
        ),
        force=True,
    )


_NEXT = (
    "the node sealed itself with the snapshot's keyring: restart it, then unseal with the "
    "ORIGINAL cluster's shares"
)


def restore_into_new(vault: VaultAdapter, path: str, ctx: ActionContext) -> dict[str, Any]:
    """A node whose data is lost (an empty raft volume) takes a snapshot: it is started
    (a local node), initialised with ONE throwaway share, unsealed with it and the snapshot
    force-restored with its root token. The throwaway share and token live in this call's
    memory only; after the restore the node holds the snapshot's keyring and tokens.

    Run again after an interruption (``restore-sent.json`` in the step's folder says this step
    initialised the node): a node that logged the snapshot applied is left as it is; else
    (initialised with a throwaway share that is gone) a local node's data is moved aside and
    the node restored anew, a remote one is refused with what to do."""
    host = vault.local_host()
    sent = _Sent(ctx.artefact_dir)
    client = vault.client(with_token=False)
    answer = _initialised(vault, client, ctx)
    if answer["initialised"]:
        earlier = sent.read()
        if earlier is None:
            raise PermanentError(
                "the node is initialised already: it is not a new, empty node",
                hint="restore into it with vault.snapshot_restore (force: true) instead",
            )
        if earlier.get("phase") == "restore sent" and _applied_since(vault, earlier, ctx):
            return {"initialised": True, **_resumed(earlier, True, ctx)}
        if host is None:
            raise PermanentError(
                f"an earlier attempt of this step (at {earlier['at']}, the console stopped in "
                "it) initialised this node with a throwaway share that is gone, and no restore "
                "is seen applied",
                hint="empty the node's raft data directory (it holds nothing but that "
                "attempt's), start it, then run this step again",
            )
        aside = host.empty_data()
        ctx.log(
            f"an earlier attempt (at {earlier['at']}) initialised the node and the console "
            f"stopped before the snapshot was applied: its data moved aside to {aside}, "
            "restoring anew"
        )
        if _initialised(vault, client, ctx)["initialised"]:
            raise PermanentError("the node is initialised again after its data was emptied")
    started = time.monotonic()
    sent.write(phase="initialising", path=path)
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


def _initialised(vault: VaultAdapter, client: Any, ctx: ActionContext) -> dict[str, bool]:
    """Start a local node that is not running, and wait until it answers whether it is
    initialised."""
    import requests

    host = vault.local_host()
    if host is not None and not host.pid():
        host.start()
        ctx.log("the node started on its empty volume")

    def initialised() -> dict[str, bool] | None:
        try:
            return {"initialised": bool(client.sys.is_initialized())}
        except requests.RequestException:
            return None

    answer = wait_until(initialised, 30, interval_s=0.1, cancel=ctx.cancel)
    if answer is None:
        raise TransientError(f"{vault.section['addr']} does not answer")
    return answer


def snapshot_restore(
    vault: VaultAdapter,
    path: str,
    force: bool,
    ctx: ActionContext,
    wait_for_seal: bool = True,
    client: Any = None,
) -> dict[str, Any]:
    """Restore a snapshot into a running, unsealed node and see it applied: on a local node in
    its log, on another after a force restore by the node sealing itself. A restore not seen
    applied (the server died on the way, logged a failure, or stayed silent) fails, saying what
    is known.

    Run again after an interruption (``restore-sent.json`` says what an earlier attempt of this
    step sent, and where the server's log stood then): a restore the log shows applied since is
    not sent again (after a force restore the next steps restart and unseal the node); a node
    still unsealed did not take it: the snapshot is sent again; a sealed one whose log cannot
    tell fails, saying how to find out."""
    client = client or vault.client()
    host = vault.local_host()
    sent = _Sent(ctx.artefact_dir)
    earlier = sent.read()
    if earlier and earlier.get("phase") != "restore sent":
        earlier = None
    if earlier and _applied_since(vault, earlier, ctx):
        return _resumed(earlier, force, ctx)
    before = vault.call("status", client.sys.read_seal_status)
    if before["sealed"]:
        if earlier and force:
            raise _unknown(earlier, local=host is not None)
        raise PermanentError(
            "the node is sealed: a snapshot is restored into an unsealed node",
            hint="unseal it with its own cluster's shares (plans/vault-unseal.yaml), then run "
            "this step again",
        )
    if earlier:
        ctx.log(
            f"an earlier attempt sent this restore at {earlier['at']}; the node is unsealed, "
            "so it was not applied: sending it again"
        )
    data = Path(path).read_bytes()
    call = client.sys.force_restore_raft_snapshot if force else client.sys.restore_raft_snapshot
    mark = host.log_size() if host else None
    sent.write(phase="restore sent", path=path, force=force, before=before, log_mark=mark)
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
    applied = _seen_applied(host, mark, force, ctx)
    ctx.log("restore accepted" + (": the server applied the snapshot" if applied else ""))

    def settled() -> dict[str, Any] | None:  # after a force restore the node seals itself
        seal = vault.seal_status(client)  # None: the node may be busy for a moment
        return seal if seal is not None and (seal["sealed"] or not force) else None

    wait_s = 15 if applied else 60  # not seen in a log: the seal is the only sign
    seal = wait_until(settled, wait_s, interval_s=0.1, cancel=ctx.cancel) if wait_for_seal else None
    sealed = bool(seal and seal["sealed"])
    if force and wait_for_seal and not sealed and not applied:
        raise _not_in_place(
            f"the node did not seal itself within {wait_s} s of the force restore "
            + ("(it answers, unsealed)" if vault.seal_status(client) else "(it does not answer)"),
            force,
        )
    out = {
        "forced": force,
        "applied": applied,
        "sealed_now": sealed,
        "threshold_before": before["t"],
        "shares_before": before["n"],
    }
    if force and (sealed or not wait_for_seal):
        out["next"] = _NEXT
    return out


def _seen_applied(
    host: LocalBaoHost | None, mark: int | None, force: bool, ctx: ActionContext
) -> bool | None:
    """Whether a local server logged the restore applied (its log from ``mark``): True, or
    raises when it died, logged a failure or showed no progress within 60 s; None when its
    log says nothing (not local, or a log level above INFO)."""
    if host is None or mark is None:
        return None
    host.read_from(mark)
    state = host.wait_applied(within_s=60, appear_s=2, cancel=ctx.cancel)
    if state in ("applied", "done"):
        return True
    at = _now()
    if state is None and host.pid() is None:
        state = "gone"
    if state == "gone":
        what = f"the server's process ended (seen at {at}) after it began the restore"
    elif state == "failed":
        what = f"the server logged that the restore failed ({host.log_file})"
    elif state == "begun":
        what = "the server began the restore but logged it applied not within 60 s"
    else:
        return None
    raise _not_in_place(what, force)
