"""Vault / OpenBao through hvac: status, raft snapshots (save, inspect, restore), restart,
Shamir unseal by key custodians, seal, secrets checks.

Targets ``vault`` section: addr, token_env or token_file, and for restarts ``host_kind: local``
with config, pidfile, log_file and binary (the sandbox's servers). Shares and tokens are Secret
values: asked through the operator, handed to the server, never stored, shown or journaled.

Traps this adapter explains at the step where they bite:
- a normal restore of another cluster's snapshot is refused: it needs ``force``;
- after a force restore the node seals itself and still shows the old t/n until it restarts;
  after the restart the ORIGINAL cluster's threshold and shares apply;
- a node with auto-unseal takes recovery keys, not unseal shares;
- partial unseal progress persists until reset;
- a malformed share is refused at once (a short hex one the server would count: checked here);
  a wrong but well-formed one fails only when the threshold is reached, and the server then
  resets progress: a fresh round begins;
- the server silently does not count a share it already has (progress stays): refused here;
- unseal progress lives in the server's memory: a restart loses it, a network fault does not.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import signal
import tarfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field

from drconsole.adapters.base import (
    ActionContext,
    ActionSpec,
    CheckFailed,
    Effect,
    Params,
    PermanentError,
    TransientError,
)
from drconsole.adapters.oscmd import Background
from drconsole.adapters.sealed import KeyRef, site_key
from drconsole.secrets import Secret, SecretSourceError, secret_from_reference
from drconsole.timeutil import format_timestamp, utcnow

# hvac and requests are imported inside the methods that use them, so that validating a plan
# loads neither. A run imports them in one thread before any step starts (registry.preload,
# from LIBRARIES["vault"]): the failover restores the Vault and scales up the api-server at the
# same moment, and the Kubernetes client imports requests too; two step threads importing it at
# once met it half-initialised (ImportError: cannot import name ... from partially initialized
# module 'requests.utils').
_CHUNK = 1 << 20
# members of a raft snapshot archive, as OpenBao and Vault write them
SNAPSHOT_MEMBERS = {"meta.json", "state.bin", "SHA256SUMS"}
KV_KIND = "vault-kv"


# What OpenBao's raft storage logs (at INFO, its default level) around a snapshot restore. After
# "restored user snapshot" the data is in place (raft's snapshot store and the FSM's database,
# both written and synced); the server then sleeps a fixed 5 s (restoreOpDelayDuration: "let the
# standbys apply the restore callback") before it reloads its keys, and after a force restore
# seals itself, holding its state lock (every API call waits) throughout.
_STARTED = "OpenBao server started"
_RESTORE_BEGUN = "shutting down prior to restoring snapshot"
_RESTORE_APPLIED = "restored user snapshot"
_RESTORE_OVER = (
    "running post snapshot restore invalidations",
    "failed to restore snapshot",
    "error while restoring raft snapshot",
)
_LOG_TAIL = 256 * 1024


class LocalBaoHost:
    """An OpenBao server process on this machine, restarted through its pid file."""

    def __init__(self, binary: str, config: str, pidfile: str, log_file: str) -> None:
        self.binary, self.config = binary, config
        self.log_file = Path(log_file)
        self.process = Background(Path(pidfile), self.log_file)

    def pid(self) -> int | None:
        return self.process.pid()

    def stop(self) -> None:
        self.process.stop()

    def kill(self) -> None:
        """SIGKILL, for a server whose data is already in place (see ``restore_state``)."""
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.stop()  # waits until it is gone, removes the pid file

    def start(self) -> None:
        if not self.pid():
            self.process.start([self.binary, "server", f"-config={self.config}"])

    def restore_state(self) -> str | None:
        """Where the running server is in a snapshot restore, from its own log: "begun",
        "applied" (the data is in place; what is left is the server's fixed delay, then its key
        reload), or None (no restore since it started, or it is over, or the log says nothing)."""
        try:
            with self.log_file.open("rb") as handle:
                handle.seek(max(0, self.log_file.stat().st_size - _LOG_TAIL))
                text = handle.read().decode(errors="replace")
        except OSError:
            return None
        text = text[max(0, text.rfind(_STARTED)) :]  # this process's lines
        at = text.rfind(_RESTORE_BEGUN)
        if at < 0 or any(words in text[at:] for words in _RESTORE_OVER):
            return None
        return "applied" if _RESTORE_APPLIED in text[at:] else "begun"

    def wait_applied(self, within_s: float, appear_s: float) -> str | None:
        """Wait until a restore the server was just given is applied (or over). ``appear_s``:
        how long its first log line may take to appear (a log level above INFO never shows
        it: None then, and the caller knows nothing more than before)."""
        start = time.monotonic()
        seen = False
        while time.monotonic() - start < within_s:
            state = self.restore_state()
            if state == "applied" or (
                state is None and (seen or time.monotonic() - start > appear_s)
            ):
                return state
            seen = seen or state == "begun"
            time.sleep(0.02)
        return self.restore_state()


def _taken(file: Path) -> dict[str, str]:
    """When a snapshot was taken: its file's modification time (raft's index and term carry
    no time). A snapshot saved by drconsole or the sandbox has it; s3.download gives the file
    the object's LastModified; a file copied without its time has the copy's."""
    return {
        "taken_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(file.stat().st_mtime)),
        "taken_at_from": "the file's modification time (a download keeps the object's "
        "LastModified)",
    }


def _error_text(exc: BaseException) -> str:
    text = str(exc).split(", on ")[0].strip()
    return text or type(exc).__name__


_ASKS = 3  # a custodian whose share is refused is asked this many times in all
# what the server says when the threshold is reached and the shares do not combine
_NO_COMBINE = ("unable to retrieve stored keys", "failed to decrypt", "combined key")


def _share_bytes(text: str) -> bytes | None:
    """A share decoded as the server reads it (hex, else base64); None when it is neither."""
    text = text.strip()
    try:
        return bytes.fromhex(text)
    except ValueError:
        pass
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


class _UnsealMemo:
    """Who has presented toward the server's current unseal progress (its nonce), kept in the
    step's artefact folder so that the next attempt, or a resume, carries on where the server
    is. Names only: the shares themselves are never written anywhere."""

    def __init__(self, folder: str | None) -> None:
        self.path = Path(folder) / "unseal-progress.json" if folder else None
        self.nonce: str | None = None

    def counted(self, seal: Mapping[str, Any]) -> list[str]:
        """The custodians the server's progress counts, when it is the progress recorded here."""
        if self.path is None or not seal["progress"] or not self.path.is_file():
            return []
        saved = json.loads(self.path.read_text())
        if saved["nonce"] != seal.get("nonce") or len(saved["used"]) != seal["progress"]:
            return []
        self.nonce = saved["nonce"]
        return list(saved["used"])

    def save(self, nonce: str, used: list[str]) -> None:
        self.nonce = nonce
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps({"nonce": nonce, "used": used}))

    def clear(self) -> None:
        self.nonce = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)


class VaultAdapter:
    """One Vault/OpenBao node described by a targets ``vault`` section."""

    def __init__(self, section: Mapping[str, Any]) -> None:
        if not section or not section.get("addr"):
            raise PermanentError("the site has no vault section (with addr) in the targets file")
        self.section = dict(section)
        self._keyring: str | None = None  # whose keys an unseal asks for, when not its own

    def client(self, with_token: bool = True) -> Any:
        import hvac

        token = None
        if with_token:
            for key, kind in (("token_env", "env"), ("token_file", "file")):
                if self.section.get(key):
                    try:
                        token = secret_from_reference({kind: str(self.section[key])}).reveal()
                    except SecretSourceError as exc:
                        raise PermanentError(str(exc)) from None
        return hvac.Client(url=self.section["addr"], token=token, timeout=15)

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Call hvac; connection trouble and 5xx are transient, a refusal permanent."""
        import hvac.exceptions
        import requests

        try:
            return fn(*args, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(
                f"{what}: {self.section['addr']} does not answer ({type(exc).__name__})"
            ) from None
        except hvac.exceptions.VaultDown:
            raise TransientError(f"{what}: the server is sealed or down") from None
        except (hvac.exceptions.InternalServerError, hvac.exceptions.BadGateway) as exc:
            raise TransientError(f"{what}: the server failed ({_error_text(exc)})") from None
        except hvac.exceptions.Forbidden as exc:
            raise PermanentError(
                f"{what}: {_error_text(exc)}",
                hint="the token is not valid for this data; after a snapshot restore the tokens "
                "are those of the snapshot's cluster",
            ) from None
        except hvac.exceptions.VaultError as exc:
            raise PermanentError(f"{what}: {_error_text(exc)}") from None

    # ----------------------------------------------------------------- read-only
    def status(self) -> dict[str, Any]:
        client = self.client()
        seal = self._call("status", client.sys.read_seal_status)
        out: dict[str, Any] = {
            "sealed": seal["sealed"],
            "threshold": seal["t"],
            "shares": seal["n"],
            "progress": seal["progress"],
            "version": seal.get("version"),
            "cluster_name": seal.get("cluster_name"),
            "cluster_id": seal.get("cluster_id"),
            "storage": seal.get("storage_type"),
            "seal_type": seal.get("type"),
            "recovery_seal": seal.get("recovery_seal", False),
            "leader": None,
            "peers": [],
        }
        if not seal["sealed"]:
            leader = self._call("leader", client.sys.read_leader_status)
            out["leader"] = leader.get("leader_address")
            try:
                raft = client.sys.read_raft_config()
                out["peers"] = [s["node_id"] for s in raft["data"]["config"]["servers"]]
            except Exception:  # noqa: BLE001 - needs a token with sys access; status is still useful
                out["peers"] = []
        out["state"] = "sealed" if seal["sealed"] else "unsealed"
        return out

    def snapshot_inspect(self, path: str, expect_sha256: str | None) -> dict[str, Any]:
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
        self, given: str | None, rpo_s: float | None, s3: Mapping[str, Any] | None = None
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
            into = Path(self.section.get("snapshots") or ".") / "downloaded" / Path(key).name
            fetched = ObjectStore({**s3, "bucket": bucket}).download(key, str(into))
            given = fetched["path"]
            source = f"the LastModified of s3://{bucket}/{key}"
        if given:
            chosen = Path(given)
            if not chosen.is_file():
                raise PermanentError(f"no snapshot file {chosen}")
        else:
            folder = self.section.get("snapshots")
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

    def verify_secrets(
        self,
        paths: dict[str, list[str]],
        mount: str,
        ctx: ActionContext | None = None,
        ask_token: bool = False,
    ) -> dict[str, Any]:
        """Each KV v2 path exists and holds the expected keys; values are never returned.

        With ``ask_token`` the token is asked as a secret (after a force restore the site's own
        token is gone: the data, tokens included, are the snapshot cluster's)."""
        client = self.client()
        if ask_token:
            if ctx is None or ctx.ask_secret is None:
                raise PermanentError("no operator to ask for a token")
            client.token = ctx.ask_secret(
                "A token of the restored data (the snapshot cluster's)"
            ).reveal()
        checked: dict[str, Any] = {}
        for path, keys in paths.items():
            read = self._call(
                f"read {path}",
                client.secrets.kv.v2.read_secret_version,
                path=path,
                mount_point=mount,
                raise_on_deleted_version=True,
            )
            data, meta = read["data"]["data"], read["data"]["metadata"]
            missing = [k for k in keys if k not in data]
            if missing:
                raise CheckFailed(
                    f"secret {path} lacks key(s) {', '.join(missing)}",
                    evidence={"checked": checked},
                )
            checked[path] = {"version": meta["version"], "keys": sorted(data)}
        return {"checked": checked, "count": len(checked)}

    # ----------------------------------------------------------------- KV export
    def _kv_list(self, client: Any, mount: str, folder: str) -> list[str]:
        import hvac.exceptions

        def listing() -> list[str]:
            try:
                answer = client.secrets.kv.v2.list_secrets(path=folder, mount_point=mount)
            except hvac.exceptions.InvalidPath:  # an empty folder, or no folder
                return []
            return [str(k) for k in answer["data"]["keys"]]

        return list(self._call(f"list {mount}/{folder}", listing))

    def _kv_read(self, client: Any, mount: str, path: str) -> dict[str, Any] | None:
        """A secret's newest version: {"data", "version"}; None when there is none (or the
        newest version is deleted)."""
        import hvac.exceptions

        def reading() -> dict[str, Any] | None:
            try:
                answer = client.secrets.kv.v2.read_secret_version(
                    path=path, mount_point=mount, raise_on_deleted_version=False
                )
            except hvac.exceptions.InvalidPath:
                return None
            data = answer["data"]["data"]
            version = answer["data"]["metadata"]["version"]
            return None if data is None else {"data": data, "version": version}

        result: dict[str, Any] | None = self._call(f"read {mount}/{path}", reading)
        return result

    def kv_export(self, mount: str, prefix: str, folder: str, key: bytes) -> dict[str, Any]:
        """Every KV v2 secret under ``prefix`` (all when empty), newest versions, sealed into
        one file with its ``.sha256``. Outputs name paths and counts, never values."""
        from drconsole.adapters import sealed

        client = self.client()
        start = prefix.strip("/") + "/" if prefix.strip("/") else ""
        folders, found, deleted = [start], {}, []
        while folders:
            here = folders.pop()
            for name in self._kv_list(client, mount, here):
                if name.endswith("/"):
                    folders.append(here + name)
                    continue
                read = self._kv_read(client, mount, here + name)
                if read is None:
                    deleted.append(here + name)
                else:
                    found[here + name] = read
        if not found:
            raise CheckFailed(
                f"no secrets under {mount}/{start} at {self.section['addr']}",
                hint="check the mount and the prefix (a folder, e.g. qsign/) and the token",
            )
        clear = {
            "mount": mount,
            "prefix": start,
            "taken_at": format_timestamp(utcnow()),
            "versions": {path: found[path]["version"] for path in sorted(found)},
        }
        secrets = {path: found[path]["data"] for path in sorted(found)}
        name = f"vault-secrets-{sealed.stamp()}.json"
        written = sealed.write(Path(folder) / name, sealed.seal(KV_KIND, clear, secrets, key))
        return {
            **written,
            "paths": sorted(found),
            "count": len(found),
            "deleted": sorted(deleted),
            "taken_at": clear["taken_at"],
        }

    def kv_restore(
        self, path: str, key: bytes, mount: str | None, only: list[str]
    ) -> dict[str, Any]:
        """Check the export's ``.sha256``, decrypt and authenticate it, then write each chosen
        path (all when ``only`` is empty) as a new version; a path already holding the same
        data is left alone. A missing KV v2 mount is created."""
        from drconsole.adapters import sealed

        clear, secrets = sealed.open_sealed(sealed.read_checked(path), KV_KIND, key, path)
        unknown = sorted(set(only) - set(secrets))
        if unknown:
            raise PermanentError(
                f"the export holds no secret {', '.join(unknown)}; nothing was written "
                f"(it holds {len(secrets)}: {', '.join(sorted(secrets))})"
            )
        mount = mount or str(clear["mount"])
        client = self.client()
        mounts = self._call("list mounts", client.sys.list_mounted_secrets_engines)
        created = f"{mount}/" not in (mounts.get("data") or mounts)
        if created:
            self._call(
                f"enable KV v2 at {mount}/",
                client.sys.enable_secrets_engine,
                "kv",
                path=mount,
                options={"version": "2"},
            )
        restored: list[str] = []
        unchanged: list[str] = []
        versions: dict[str, int] = {}
        for secret_path in only or sorted(secrets):
            current = None if created else self._kv_read(client, mount, secret_path)
            if current is not None and current["data"] == secrets[secret_path]:
                unchanged.append(secret_path)
                continue
            versions[secret_path] = self._kv_write(client, mount, secret_path, secrets[secret_path])
            read = self._kv_read(client, mount, secret_path)
            if read is None or read["data"] != secrets[secret_path]:
                raise CheckFailed(
                    f"{mount}/{secret_path} does not read back as restored",
                    evidence={"restored": restored},
                )
            restored.append(secret_path)
        return {
            "restored": restored,
            "unchanged": unchanged,
            "count": len(restored),
            "versions": versions,
            "mount": mount,
            "mount_created": created,
            "taken_at": clear["taken_at"],
        }

    def _kv_write(self, client: Any, mount: str, path: str, data: dict[str, Any]) -> int:
        """Write one secret; a new mount's first moments ("Upgrading ...") are waited out."""
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = self._call(
                    f"write {mount}/{path}",
                    client.secrets.kv.v2.create_or_update_secret,
                    path=path,
                    secret=data,
                    mount_point=mount,
                )
                return int(answer["data"]["version"])
            except PermanentError as exc:
                if "Upgrading" not in exc.message or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    # ----------------------------------------------------------------- changing state
    def snapshot_save(self, path: str) -> dict[str, Any]:
        client = self.client()
        response = self._call("snapshot", client.sys.take_raft_snapshot)
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

    def restore_into_new(self, path: str, ctx: ActionContext) -> dict[str, Any]:
        """A node whose data is lost (an empty raft volume) takes a snapshot: it is started
        (a local node), initialised with ONE throwaway share, unsealed with it and the snapshot
        force-restored with its root token. The throwaway share and token live in this call's
        memory only; after the restore the node holds the snapshot's keyring and tokens."""
        host = self._local_host()
        if host is not None and not host.pid():
            host.start()
            ctx.log("the node started on its empty volume")
        import requests

        client = self.client(with_token=False)
        deadline = time.monotonic() + 30
        while True:
            try:
                initialised = bool(client.sys.is_initialized())
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise TransientError(f"{self.section['addr']} does not answer") from None
                time.sleep(0.1)
        if initialised:
            raise PermanentError(
                "the node is initialised already: it is not a new, empty node",
                hint="restore into it with vault.snapshot_restore (force: true) instead",
            )
        throwaway = self._call("initialise", client.sys.initialize, 1, 1)
        client.token = throwaway["root_token"]
        self._call("unseal", client.sys.submit_unseal_key, throwaway["keys"][0])
        ctx.log("initialised with one throwaway share (not kept) and unsealed")
        while not self._call("leader", client.sys.read_leader_status).get("is_self"):
            if time.monotonic() > deadline + 30:
                raise TransientError("the new node elected no raft leader within 60 s")
            time.sleep(0.1)
        out = self.snapshot_restore(path, True, ctx, wait_for_seal=False, client=client)
        return {"initialised": True, **out}

    def snapshot_restore(
        self,
        path: str,
        force: bool,
        ctx: ActionContext,
        wait_for_seal: bool = True,
        client: Any = None,
    ) -> dict[str, Any]:
        client = client or self.client()
        before = self._call("status", client.sys.read_seal_status)
        data = Path(path).read_bytes()
        call = client.sys.force_restore_raft_snapshot if force else client.sys.restore_raft_snapshot
        try:
            self._call("restore", call, data)
        except PermanentError as exc:
            if not force and "snapshot-force" in str(exc):
                raise PermanentError(
                    "the snapshot comes from another cluster (other unseal keys): a normal "
                    "restore is refused",
                    hint="restore with force: the node then takes the snapshot's keyring, seals, "
                    "and needs the ORIGINAL cluster's shares after a restart",
                ) from None
            raise
        host = self._local_host()
        applied = host.wait_applied(within_s=60, appear_s=2) == "applied" if host else None
        ctx.log("restore accepted" + (": the server applied the snapshot" if applied else ""))
        sealed = False
        for _ in range(150 if wait_for_seal else 0):  # after a force restore the node seals
            time.sleep(0.1)
            try:
                sealed = bool(client.sys.read_seal_status()["sealed"])
            except Exception:  # noqa: BLE001 - the node may be busy for a moment
                continue
            if sealed or not force:
                break
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

    def _local_host(self) -> LocalBaoHost | None:
        """The server process, when this site's Vault runs on this machine (the sandbox's)."""
        if self.section.get("host_kind", "local") != "local" or not self.section.get("pidfile"):
            return None
        return LocalBaoHost(
            self.section["binary"],
            self.section["config"],
            self.section["pidfile"],
            self.section["log_file"],
        )

    def restart(self, ctx: ActionContext) -> dict[str, Any]:
        """Stop and start the node. A node that has applied a restored snapshot and sits out
        the restore's fixed delay (5 s, for standbys this single node does not have; after it
        the node only reloads its keys, or seals, which the restart does anyway) is stopped at
        once instead of waited for."""
        host = self._local_host()
        if host is None:
            raise PermanentError(
                "this site's Vault cannot be restarted from here",
                hint="restart the pod or service by hand, then confirm",
            )
        state = host.restore_state()
        if state == "begun":
            state = host.wait_applied(within_s=60, appear_s=0)
        if state == "applied":
            ctx.log("the restored snapshot is applied: the node is stopped without its delay")
            host.kill()
        else:
            host.stop()
        host.start()
        client = self.client(with_token=False)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                seal = client.sys.read_seal_status()
            except Exception:  # noqa: BLE001 - still starting
                time.sleep(0.02)
                continue
            return {
                "restarted": True,
                "stopped": "killed, the restore applied" if state == "applied" else "stopped",
                "sealed": seal["sealed"],
                "threshold": seal["t"],
                "shares": seal["n"],
            }
        raise TransientError("the restarted server does not answer")

    def unseal(
        self, custodians: list[str], ctx: ActionContext, rounds: int, keyring: str | None = None
    ) -> dict[str, Any]:
        """One share per custodian, asked through the operator; a fresh round after a failure.

        A malformed or repeated share is refused and the same custodian asked again, with the
        reason. An outage is transient: the engine retries the step, and the next attempt reads
        the server's progress again (kept: the custodians who counted are not asked again; lost
        in a restart: everyone presents again)."""
        if ctx.ask_secret is None:
            raise PermanentError("no operator to ask for unseal shares")
        client = self.client(with_token=False)
        seal = self._call("status", client.sys.read_seal_status)
        if not seal["sealed"]:
            return {
                "sealed": False,
                "threshold": seal["t"],
                "shares": seal["n"],
                "used": [],
                "note": "already unsealed",
            }
        if seal.get("recovery_seal"):
            raise PermanentError(
                "this node uses auto-unseal: it takes recovery keys through "
                "its seal provider, not unseal shares"
            )
        threshold = int(seal["t"])
        names = list(custodians) or [f"custodian {i + 1}" for i in range(threshold)]
        self._keyring = keyring
        memo = _UnsealMemo(ctx.artefact_dir)
        used = memo.counted(seal)
        if used:
            ctx.log(f"the server kept progress {len(used)}/{threshold}: {', '.join(used)} counted")
        elif seal["progress"]:
            self._call("reset", client.sys.submit_unseal_key, reset=True)
            ctx.log(f"partial progress {seal['progress']}/{threshold} from earlier was reset")
        problems: list[str] = []
        for round_no in range(1, rounds + 1):
            given: dict[bytes, str] = {}  # this round's shares (in memory only), by custodian
            for name in [n for n in names if n not in used]:
                result = self._present(client, ctx, name, used, given, threshold, memo, problems)
                if result is None:
                    problems.append(
                        f"round {round_no}: the threshold was reached but the shares do not "
                        f"combine (a wrong share, or shares of another cluster than "
                        f"{self._cluster(ctx)}); the server reset progress"
                    )
                    ctx.log(problems[-1])
                    break
                if not result["sealed"]:
                    memo.clear()
                    return {
                        "sealed": False,
                        "threshold": result["t"],
                        "shares": result["n"],
                        "used": used,
                        "rounds": round_no,
                        "problems": problems,
                    }
            else:
                problems.append(
                    f"round {round_no}: every custodian gave a share and it is still sealed"
                )
            used = []
            memo.clear()
        raise PermanentError(
            "Vault is still sealed: " + "; ".join(problems[-2:]),
            hint="check each custodian's share (the original cluster's, after "
            "a force restore) and run the step again",
        )

    def _cluster(self, ctx: ActionContext) -> str:
        site = f" '{ctx.site_name}'" if ctx.site_name else ""
        return f"Vault{site} at {self.section['addr']}"

    def _whose_keys(self, ctx: ActionContext) -> str:
        """Whose shares the prompt wants: after a force restore the cluster holds the keyring
        of the snapshot's origin; on a practice site, where its practice shares lie."""
        keyring = self._keyring
        text = ""
        if keyring and keyring != ctx.site_name:
            text = f": it holds the {keyring} cluster's keyring: give a share of {keyring}'s keys"
        practice = self.section.get("practice_shares")
        if isinstance(practice, dict):
            where = practice.get(keyring or ctx.site_name or "")
            if where:
                text += f" (practice shares of this sandbox: {where})"
        return text

    def _present(
        self,
        client: Any,
        ctx: ActionContext,
        name: str,
        used: list[str],
        given: dict[bytes, str],
        threshold: int,
        memo: _UnsealMemo,
        problems: list[str],
    ) -> dict[str, Any] | None:
        """Ask ``name`` for a share until one is well-formed and new, and hand it over.

        Returns the server's answer, or None when the shares do not combine. Raises
        TransientError when the server does not answer or lost the progress."""
        assert ctx.ask_secret is not None
        problem: str | None = None
        for _ in range(_ASKS):
            share = ctx.ask_secret(
                f"Unseal share of {name} ({len(used) + 1} of {threshold}) for {self._cluster(ctx)}"
                f"{self._whose_keys(ctx)}",
                problem,
            )
            raw = _share_bytes(share.reveal())
            length = 32 if threshold == 1 else 33  # a 32-byte key; a share adds its x coordinate
            if raw is None or len(raw) != length:
                problem = (
                    f"the share of {name} is malformed: a share of this cluster is hex or base64 "
                    f"of {length} bytes"
                    + (f", this is {len(raw)} bytes" if raw is not None else "")
                )
            elif raw in given:
                problem = (
                    f"the share of {name} is the one {given[raw]} presented: "
                    "each custodian presents their own share"
                )
            else:
                result = self._submit(client, share)
                if result is None:
                    return None
                if not result["sealed"] or result["progress"] == len(used) + 1:
                    used.append(name)
                    given[raw] = name
                    if result["sealed"]:
                        memo.save(result["nonce"], used)
                    ctx.log(
                        f"{name}: progress {result['progress']}/{result['t']}"
                        if result["sealed"]
                        else f"{name}: unsealed"
                    )
                    return result
                if used and result["progress"] == len(used) and result["nonce"] == memo.nonce:
                    problem = (
                        f"the share of {name} was already presented (the server did not count "
                        "it again): each custodian presents their own share"
                    )
                else:
                    raise TransientError(
                        f"unseal: the server's progress is {result['progress']}/{result['t']} "
                        f"where {len(used) + 1} was expected: it lost the earlier shares "
                        "(restarted?)"
                    )
            problems.append(problem)
        raise PermanentError(
            f"no usable share from {name} after {_ASKS} tries: {problem}",
            hint="the progress so far is kept; run the step again when the custodian has "
            "their share",
        )

    def _submit(self, client: Any, share: Secret) -> dict[str, Any] | None:
        """Hand one share to the server: its answer, or None when the threshold was reached
        and the shares do not combine (the server then resets its progress)."""
        try:
            return dict(self._call("unseal", client.sys.submit_unseal_key, share.reveal()))
        except PermanentError as exc:
            if any(words in exc.message for words in _NO_COMBINE):
                return None
            raise

    def seal(self) -> dict[str, Any]:
        self._call("seal", self.client().sys.seal)
        return {"sealed": True}

    def wait_unsealed(self, within_s: float) -> dict[str, Any]:
        client = self.client(with_token=False)
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            try:
                seal = client.sys.read_seal_status()
                if not seal["sealed"]:
                    return {"sealed": False, "threshold": seal["t"], "shares": seal["n"]}
            except Exception:  # noqa: BLE001 - not answering yet
                pass
            time.sleep(0.1)
        raise TransientError(f"still sealed after {within_s:g} s")


class StatusParams(Params):
    pass


class SnapshotSaveParams(Params):
    path: str = Field(description="Where to write the snapshot (a .sha256 is written beside).")


class InspectParams(Params):
    path: str = Field(description="The snapshot file.")
    expect_sha256: str | None = Field(None, description="Default: the .sha256 file beside it.")


class RestoreParams(Params):
    path: str = Field(description="The snapshot file (inspect it first).")
    wait_for_seal: bool = Field(
        True,
        description="After a force restore, wait (some seconds) until the node seals itself. "
        "false when the next step restarts it anyway: the data is applied when the call returns.",
    )
    force: bool = Field(
        False,
        description="Needed when the snapshot comes from another "
        "cluster; the node then needs that cluster's shares.",
    )


class NewNodeParams(Params):
    path: str = Field(description="The snapshot file (inspect it first).")


class ChooseParams(Params):
    path: str | None = Field(
        None,
        description="A snapshot file; default the newest one in the site's snapshots directory.",
    )
    rpo_s: float | None = Field(None, description="The RPO in seconds, for within_rpo.")


class UnsealParams(Params):
    custodians: list[str | dict[str, str]] = Field(
        default_factory=list,
        description="Names (or a sign-off step's signers) in the order they present shares.",
    )
    rounds: int = Field(2, ge=1, le=5, description="Fresh rounds after a failed combination.")
    keyring: str | None = Field(
        None,
        description=(
            "Whose unseal keys the cluster needs, when not its own: after a force restore, the "
            "site the snapshot came from (named in the custodians' prompt)."
        ),
    )

    def names(self) -> list[str]:
        return [c if isinstance(c, str) else c.get("name", "?") for c in self.custodians]


class WaitParams(Params):
    within_s: float = Field(60, gt=0, le=3600)


class VerifyParams(Params):
    paths: dict[str, list[str]] = Field(description="KV v2 path to the keys it must hold.")
    mount: str = "secret"
    ask_token: bool = Field(False, description="Ask a token of the restored data as a secret.")


class KvExportParams(KeyRef):
    dir: str = Field(description="The folder the export is written to (.sha256 beside).")
    mount: str = "secret"
    prefix: str | None = Field(
        None, description="A folder under the mount, e.g. qsign/; default all."
    )


class KvRestoreParams(KeyRef):
    path: str = Field(description="A KV export file, its .sha256 beside it.")
    paths: list[str] | str | None = Field(
        None, description="The secret paths to restore (one as text, or a list); default all."
    )

    def chosen(self) -> list[str]:
        if isinstance(self.paths, str):
            return [part.strip() for part in self.paths.split(",") if part.strip()]
        return list(self.paths or [])

    mount: str | None = Field(None, description="Default the mount it was exported from.")


def _v(ctx: ActionContext) -> VaultAdapter:
    return VaultAdapter(ctx.site.get("vault") or {})


SEAL = {"sealed": "", "threshold": "t", "shares": "n"}
RESTORED = {
    "forced": "",
    "applied": "the node logged the snapshot applied (a local node; else null)",
    "sealed_now": "",
    "threshold_before": "",
    "shares_before": "",
    "next": "what to do next",
}

ACTIONS = [
    ActionSpec(
        name="vault.status",
        summary="Seal state, t of n, progress, version, storage, raft leader.",
        params=StatusParams,
        outputs={
            **SEAL,
            "progress": "",
            "version": "",
            "cluster_name": "",
            "cluster_id": "",
            "storage": "",
            "seal_type": "",
            "recovery_seal": "",
            "leader": "",
            "peers": "",
            "state": "",
        },
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: _v(c).status(),
        describe=lambda p: "Vault status",
        needs_site=True,
    ),
    ActionSpec(
        name="vault.newest_snapshot",
        summary="Choose a snapshot: the given one or the newest; age.",
        params=ChooseParams,
        outputs={
            "path": "",
            "age_s": "seconds since the snapshot was taken",
            "taken_at": "when the snapshot was taken (UTC)",
            "taken_at_from": "where taken_at comes from: the file's time or the object's",
            "within_rpo": "",
        },
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: _v(c).newest_snapshot(p.path, p.rpo_s, c.site.get("s3")),
        describe=lambda p: f"choose snapshot {p.path or '(newest)'}",
        needs_site=True,
    ),
    ActionSpec(
        name="vault.snapshot_inspect",
        summary="Check a snapshot: archive, members, SHA-256, index.",
        params=InspectParams,
        outputs={
            "path": "",
            "size": "",
            "sha256": "",
            "expected_sha256": "",
            "members": "",
            "index": "",
            "term": "",
            "version": "",
            "taken_at": "when the snapshot was taken (UTC)",
            "taken_at_from": "where taken_at comes from",
        },
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: VaultAdapter({"addr": "-"}).snapshot_inspect(p.path, p.expect_sha256),
        describe=lambda p: f"inspect {p.path}",
    ),
    ActionSpec(
        name="vault.verify_secrets",
        summary="Read KV paths; check keys and versions, never values.",
        params=VerifyParams,
        outputs={"checked": "path to version and key names", "count": ""},
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: _v(c).verify_secrets(p.paths, p.mount, c, p.ask_token),
        describe=lambda p: f"check {len(p.paths)} secret path(s)",
        needs_site=True,
    ),
    ActionSpec(
        name="vault.snapshot_save",
        summary="Take a raft snapshot to a file (SHA-256 beside it).",
        params=SnapshotSaveParams,
        outputs={"path": "", "size": "", "sha256": ""},
        effect=Effect.CHANGES,
        idempotent=True,
        run=lambda c, p: _v(c).snapshot_save(p.path),
        describe=lambda p: f"snapshot to {p.path}",
        needs_site=True,
    ),
    ActionSpec(
        name="vault.kv_export",
        summary="Export KV v2 secrets (all, or a folder) sealed with AES-256-GCM; .sha256 beside.",
        params=KvExportParams,
        outputs={
            "path": "the export file",
            "name": "its file name",
            "sha256": "",
            "size": "",
            "paths": "secret paths exported (values never shown)",
            "count": "",
            "deleted": "paths whose newest version is deleted (not exported)",
            "taken_at": "",
        },
        effect=Effect.CHANGES,
        idempotent=True,
        run=lambda c, p: _v(c).kv_export(p.mount, p.prefix or "", p.dir, site_key(c, p)),
        describe=lambda p: f"export KV secrets under {p.mount}/{p.prefix or ''} into {p.dir}",
        needs_site=True,
    ),
    ActionSpec(
        name="vault.kv_restore",
        summary="Restore KV v2 secrets (one path, some, or all) from an export: checksum, decrypt, "
        "then write; same data is left alone.",
        params=KvRestoreParams,
        outputs={
            "restored": "paths written (a new version each)",
            "unchanged": "paths that already held the exported data",
            "count": "paths written",
            "versions": "path to its new version",
            "mount": "",
            "mount_created": "",
            "taken_at": "when the export was taken",
        },
        effect=Effect.CHANGES,
        idempotent=True,
        run=lambda c, p: _v(c).kv_restore(p.path, site_key(c, p), p.mount, p.chosen()),
        describe=lambda p: f"restore {', '.join(p.chosen()) or 'every path'} from {p.path}",
        needs_site=True,
    ),
    ActionSpec(
        name="vault.snapshot_restore",
        summary="Restore a raft snapshot (force for another cluster's).",
        params=RestoreParams,
        outputs=RESTORED,
        effect=Effect.DESTRUCTIVE,
        idempotent=False,
        run=lambda c, p: _v(c).snapshot_restore(p.path, p.force, c, p.wait_for_seal),
        describe=lambda p: f"restore {p.path}" + (" with FORCE" if p.force else ""),
        needs_site=True,
    ),
    ActionSpec(
        name="vault.restore_into_new",
        summary="Bring up a node whose data is lost and force-restore a raft snapshot into "
        "it (initialised with one throwaway share first, never kept or shown).",
        params=NewNodeParams,
        outputs={"initialised": "", **RESTORED},
        effect=Effect.DESTRUCTIVE,
        idempotent=False,
        run=lambda c, p: _v(c).restore_into_new(p.path, c),
        describe=lambda p: f"initialise the empty node and restore {p.path} with FORCE",
        needs_site=True,
    ),
    ActionSpec(
        name="vault.restart",
        summary="Restart the node (after a force restore).",
        params=StatusParams,
        outputs={"restarted": "", "stopped": "how the old process ended", **SEAL},
        effect=Effect.CHANGES,
        idempotent=True,
        run=lambda c, p: _v(c).restart(c),
        describe=lambda p: "restart the Vault node",
        needs_site=True,
    ),
    ActionSpec(
        name="vault.unseal",
        summary="Unseal: one share per custodian, asked as a secret.",
        params=UnsealParams,
        outputs={
            **SEAL,
            "used": "custodians whose shares were used",
            "rounds": "",
            "problems": "what went wrong on the way",
            "note": "",
        },
        effect=Effect.CHANGES,
        idempotent=True,
        run=lambda c, p: _v(c).unseal(p.names(), c, p.rounds, p.keyring),
        describe=lambda p: (
            "unseal with custodians' shares"
            + (f" ({', '.join(p.names())})" if p.custodians else "")
        ),
        needs_site=True,
    ),
    ActionSpec(
        name="vault.seal",
        summary="Seal the node.",
        params=StatusParams,
        outputs={"sealed": ""},
        effect=Effect.DESTRUCTIVE,
        idempotent=True,
        run=lambda c, p: _v(c).seal(),
        describe=lambda p: "seal Vault",
        needs_site=True,
    ),
    ActionSpec(
        name="vault.wait_unsealed",
        summary="Wait until the node is unsealed.",
        params=WaitParams,
        outputs=SEAL,
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: _v(c).wait_unsealed(p.within_s),
        describe=lambda p: f"wait up to {p.within_s:g} s for unseal",
        needs_site=True,
    ),
]
