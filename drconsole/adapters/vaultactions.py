"""The Vault / OpenBao actions plans call (``vault.*``): their parameter models and the
ActionSpec table. The work is done by ``vault`` (the client, status, secrets checks, restart,
seal), ``vaultsnap`` (raft snapshots), ``vaultunseal`` (the custodians' unseal) and ``vaultkv``
(KV export and restore).
"""

from __future__ import annotations

from pydantic import Field

from drconsole.adapters import vaultkv, vaultsnap
from drconsole.adapters.base import ActionContext, ActionSpec, Effect, Params
from drconsole.adapters.sealed import KeyRef, site_key
from drconsole.adapters.vault import VaultAdapter
from drconsole.adapters.vaultunseal import Unseal


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
    "resumed": "a rerun found the snapshot an interrupted attempt sent applied: not sent again",
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
        run=lambda c, p: vaultsnap.newest_snapshot(_v(c), p.path, p.rpo_s, c.site.get("s3")),
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
        run=lambda c, p: vaultsnap.snapshot_inspect(p.path, p.expect_sha256),
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
        run=lambda c, p: vaultsnap.snapshot_save(_v(c), p.path),
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
        run=lambda c, p: vaultkv.kv_export(_v(c), p.mount, p.prefix or "", p.dir, site_key(c, p)),
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
        run=lambda c, p: vaultkv.kv_restore(_v(c), p.path, site_key(c, p), p.mount, p.chosen()),
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
        run=lambda c, p: vaultsnap.snapshot_restore(_v(c), p.path, p.force, c, p.wait_for_seal),
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
        run=lambda c, p: vaultsnap.restore_into_new(_v(c), p.path, c),
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
        run=lambda c, p: Unseal(_v(c), c, p.keyring).run(p.names(), p.rounds),
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
        run=lambda c, p: _v(c).wait_unsealed(p.within_s, c.cancel),
        describe=lambda p: f"wait up to {p.within_s:g} s for unseal",
        needs_site=True,
    ),
]
