"""Vault / OpenBao through hvac: one node described by a targets ``vault`` section, its client
and error mapping, status, secrets checks, restart, seal and the wait for an unseal.

Raft snapshots (take, inspect, choose, restore, restore into a new node) are in ``vaultsnap``,
the Shamir unseal by key custodians in ``vaultunseal``, KV export and restore in ``vaultkv``, the
local server process in ``vaulthost``, the actions' parameters and ActionSpec table in
``vaultactions``.

Targets ``vault`` section: addr, token_env or token_file, and for restarts ``host_kind: local``
with config, pidfile, log_file and binary (the sandbox's servers). Shares and tokens are Secret
values: asked through the operator, handed to the server, never stored, shown or journaled.

hvac and requests are imported inside the functions that use them, so that validating a plan
loads neither. A run imports them in one thread before any step starts (registry.preload, from
LIBRARIES["vault"]): the failover restores the Vault and scales up the api-server at the same
moment, and the Kubernetes client imports requests too; two step threads importing it at once
met it half-initialised (ImportError: cannot import name ... from partially initialized module
'requests.utils').
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from drconsole.adapters.base import (
    ActionContext,
    AdapterError,
    CheckFailed,
    PermanentError,
    TransientError,
    wait_until,
)
from drconsole.adapters.vaulthost import LocalBaoHost
from drconsole.secrets import SecretSourceError, secret_from_reference


def _error_text(exc: BaseException) -> str:
    text = str(exc).split(", on ")[0].strip()
    return text or type(exc).__name__


class VaultAdapter:
    """One Vault/OpenBao node described by a targets ``vault`` section."""

    def __init__(self, section: Mapping[str, Any]) -> None:
        if not section or not section.get("addr"):
            raise PermanentError("the site has no vault section (with addr) in the targets file")
        self.section = dict(section)

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

    def call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Call hvac; connection trouble and 5xx are transient, a refusal permanent."""
        import hvac.exceptions
        import requests

        try:
            return fn(*args, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise self.not_answering(what, exc) from None
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

    def not_answering(self, what: str, exc: BaseException) -> AdapterError:
        """The error for a server that does not answer. A local server whose process is gone
        (and not back within 3 s, as a restart would be) will not come back by itself:
        permanent, said at once (retrying a dead server only delayed the news). Otherwise
        transient, a refused connection said as such."""
        addr = self.section["addr"]
        host = self.local_host()
        if host is not None and wait_until(host.pid, 3, interval_s=0.1) is None:
            return PermanentError(
                f"{what}: the server at {addr} is not running (no process for "
                f"{self.section['pidfile']})",
                hint="start it again (the sandbox: drconsole sandbox up), then run the step again",
            )
        refused = "refused" in str(exc).lower()
        why = "it refuses connections: is it down?" if refused else type(exc).__name__
        return TransientError(f"{what}: {addr} does not answer ({why})")

    def seal_status(self, client: Any) -> dict[str, Any] | None:
        """The seal status, or None while the server does not answer (starting, busy)."""
        try:
            return dict(client.sys.read_seal_status())
        except Exception:  # noqa: BLE001 - not answering yet
            return None

    # ----------------------------------------------------------------- read-only
    def status(self) -> dict[str, Any]:
        client = self.client()
        seal = self.call("status", client.sys.read_seal_status)
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
            leader = self.call("leader", client.sys.read_leader_status)
            out["leader"] = leader.get("leader_address")
            try:
                raft = client.sys.read_raft_config()
                out["peers"] = [s["node_id"] for s in raft["data"]["config"]["servers"]]
            except Exception:  # noqa: BLE001 - needs a token with sys access; status is still useful
                out["peers"] = []
        out["state"] = "sealed" if seal["sealed"] else "unsealed"
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
            read = self.call(
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

    # ----------------------------------------------------------------- the node
    def local_host(self) -> LocalBaoHost | None:
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
        host = self.local_host()
        if host is None:
            raise PermanentError(
                "this site's Vault cannot be restarted from here",
                hint="restart the pod or service by hand, then confirm",
            )
        state = host.restore_state()
        if state == "begun":
            state = host.wait_applied(within_s=60, appear_s=0, cancel=ctx.cancel)
        if state == "applied":
            ctx.log("the restored snapshot is applied: the node is stopped without its delay")
            host.kill()
        else:
            host.stop()
        host.start()
        client = self.client(with_token=False)
        seal = wait_until(lambda: self.seal_status(client), 30, interval_s=0.02, cancel=ctx.cancel)
        if seal is None:
            raise TransientError("the restarted server does not answer")
        return {
            "restarted": True,
            "stopped": "killed, the restore applied" if state == "applied" else "stopped",
            "sealed": seal["sealed"],
            "threshold": seal["t"],
            "shares": seal["n"],
        }

    def seal(self) -> dict[str, Any]:
        self.call("seal", self.client().sys.seal)
        return {"sealed": True}

    def wait_unsealed(
        self, within_s: float, cancel: threading.Event | None = None
    ) -> dict[str, Any]:
        client = self.client(with_token=False)

        def unsealed() -> dict[str, Any] | None:
            seal = self.seal_status(client)
            return seal if seal is not None and not seal["sealed"] else None

        seal = wait_until(unsealed, within_s, interval_s=0.1, cancel=cancel)
        if seal is None:
            raise TransientError(f"still sealed after {within_s:g} s")
        return {"sealed": False, "threshold": seal["t"], "shares": seal["n"]}
