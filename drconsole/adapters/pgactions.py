"""The PostgreSQL actions plans call (``postgres.*``): their parameter models and the ActionSpec
table. The work is done by ``postgres`` (the connection, status, start, stop, backups),
``pgrestore`` (restores, scratch clusters, the safety copy, standby rebuilds) and ``pgrows``
(row recovery); their own parameter models (``RestoreParams``, ``CompareRowsParams``,
``CopyRowsParams``) live beside them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from drconsole.adapters import pgrestore, pgrows
from drconsole.adapters.base import ActionContext, ActionSpec, Effect, Params
from drconsole.adapters.pgrestore import RestoreParams
from drconsole.adapters.pgrows import CompareRowsParams, CopyRowsParams
from drconsole.adapters.postgres import PostgresAdapter


class PortParams(Params):
    port: int | None = Field(None, description="Another port on the same host (a test restore).")


class QueryParams(PortParams):
    sql: str = Field(description="One read-only SQL statement; %s for each argument.")
    args: list[Any] = Field(default_factory=list, description="Arguments for the %s places.")


class FingerprintParams(PortParams):
    table: str = Field("signatures", description="The table (it has id and digest columns).")
    upto_id: int | None = Field(None, description="Only rows with id up to this.")


class BackupInfoParams(Params):
    rpo_s: float | None = Field(None, description="The RPO in seconds, for within_rpo.")


class WindowParams(Params):
    target: str | None = Field(None, description="A UTC timestamp that must lie in the window.")
    until_now: bool = Field(
        False,
        description="The newest WAL is archived before the restore (the plan's flush-wal has "
        "not run yet: the start form): while the primary answers and archives without "
        "trouble, the window ends now. Never a time in the future.",
    )


class NoParams(Params):
    pass


class ArchiveParams(Params):
    grace_s: float = Field(
        120, ge=0, description="How long a WAL file may wait, beyond archive_timeout, unarchived."
    )


class ReplicationParams(Params):
    rpo_s: float | None = Field(
        None, ge=0, description="The RPO in seconds: a standby's data older than this is past_rpo."
    )
    incident_at: str | None = Field(
        None, description="When the primary failed (UTC), for past_rpo; default now."
    )
    timelines: bool = Field(
        False,
        description="A standby that does not stream: is it on a timeline the WAL archive has "
        "abandoned (timeline_abandoned)? Reads the pgBackRest repository.",
    )


class BackupParams(Params):
    type: Literal["full", "diff", "incr"] = "full"


class RestorePointParams(Params):
    name: str = Field(min_length=1)


class RebuildParams(Params):
    source_host: str = Field(description="The primary to copy from.")
    source_port: int = Field(ge=1, le=65535)
    archive_mode: Literal["keep", "always", "on", "off"] = Field(
        "keep",
        description="archive_mode for this cluster: always (a DR standby: it archives what it "
        "receives, and from the first moment of a promotion), on (it archives once promoted).",
    )


class ScratchParams(Params):
    data_dir: str = Field(description="The test restore's data directory to remove.")


def _pg(ctx: ActionContext) -> PostgresAdapter:
    return PostgresAdapter(ctx.site.get("postgres") or {})


POINT = {
    "recovered_to": "the point the data is recovered to (UTC): give it to a milestone",
    "recovery_point_basis": "how recovered_to is known (last replayed commit, target, backup end)",
    "last_replayed_commit": "PostgreSQL's last replayed commit (null when none was replayed)",
    "timeline": "timeline id",
    "lsn": "WAL position",
}
RESTORED = {
    **POINT,
    "restore_s": "",
    "data_dir": "",
    "port": "",
    "type": "",
    "target": "",
    "set": "",
}

ACTIONS = [
    ActionSpec(
        name="postgres.writable",
        summary="Does this server accept writes now? Never fails: down, standby, read-only or "
        "live.",
        params=NoParams,
        outputs={
            "accepts_writes": 'true, false, or "unknown" (treat as true)',
            "state": "in words, with the reason when it is down",
        },
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: _pg(c).writable(),
        describe=lambda p: "ask whether the server accepts writes",
        needs_site=True,
    ),
    ActionSpec(
        name="postgres.rebuild_standby",
        summary="Make this cluster a streaming standby of another (old data directory moved "
        "aside).",
        params=RebuildParams,
        outputs={
            "role": "standby",
            "moved_aside": "where the old data directory is",
            "streaming": "",
            "last_replayed_commit": "",
        },
        effect=Effect.DESTRUCTIVE,
        idempotent=True,
        run=lambda c, p: pgrestore.rebuild_standby(
            _pg(c), p.source_host, p.source_port, p.archive_mode, c
        ),
        describe=lambda p: f"rebuild as a standby of {p.source_host}:{p.source_port}",
        needs_site=True,
    ),
    ActionSpec(
        name="postgres.ping",
        summary="Connect and report version and recovery state.",
        params=PortParams,
        outputs={"server_version": "", "in_recovery": "true on a standby", "now": "server time"},
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: _pg(c).ping(p.port),
        describe=lambda p: "connect and ask the server's state",
        needs_site=True,
    ),
    ActionSpec(
        name="postgres.query",
        summary="One read-only SQL statement; the first value and row.",
        params=QueryParams,
        outputs={
            "value": "first column of the first row",
            "row": "first row",
            "rows": "number of rows",
        },
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: _pg(c).query(p.sql, p.args, p.port),
        describe=lambda p: f"query: {p.sql}",
        needs_site=True,
    ),
    ActionSpec(
        name="postgres.fingerprint",
        summary="Row count, highest id and an MD5 over a table's digests.",
        params=FingerprintParams,
        outputs={"count": "rows", "max_id": "highest id", "md5": "fingerprint"},
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: _pg(c).fingerprint(p.table, p.upto_id, p.port),
        describe=lambda p: f"fingerprint {p.table}",
        needs_site=True,
    ),
    ActionSpec(
        name="postgres.backup_info",
        summary="pgBackRest info: every backup, the newest one's age.",
        params=BackupInfoParams,
        outputs={
            "count": "",
            "backups": "each backup",
            "newest_label": "",
            "newest_type": "",
            "newest_stop": "",
            "newest_age_s": "",
            "within_rpo": "newest age <= rpo_s",
            "status": "",
        },
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: _pg(c).backup_info(p.rpo_s),
        describe=lambda p: "pgbackrest info",
        needs_site=True,
    ),
    ActionSpec(
        name="postgres.verify_repo",
        summary="pgBackRest verify, parsed: any invalid file fails.",
        params=NoParams,
        outputs={"problems": "what verify reported", "ok": ""},
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: _pg(c).verify_repo(),
        describe=lambda p: "pgbackrest verify",
        needs_site=True,
    ),
    ActionSpec(
        name="postgres.recovery_window",
        summary="Earliest and latest restorable time; checks a target.",
        params=WindowParams,
        outputs={
            "earliest": "",
            "latest": "",
            "latest_from": "where the end comes from, and whether it is to be trusted",
            "archiving": "archiving's health in words",
            "target": "",
        },
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: _pg(c).recovery_window(p.target, p.until_now),
        describe=lambda p: f"recovery window (target {p.target})",
        needs_site=True,
    ),
    ActionSpec(
        name="postgres.replication_status",
        summary="Replication from either side; a standby says whether it streams and how old its "
        "data is.",
        params=ReplicationParams,
        outputs={
            "role": "primary or standby",
            "receive_lsn": "",
            "replay_lsn": "",
            "lag_bytes": "received but not yet replayed",
            "streaming": "the standby's WAL receiver is streaming from a primary",
            "wal_receiver": "its status in words (none when not connected)",
            "last_replayed_commit": "",
            "replay_age_s": "seconds since the last replayed commit",
            "data_loss_s": "incident_at (default now) minus the last replayed commit",
            "past_rpo": 'data_loss_s > rpo_s: true, false, or "unknown" (a guard refuses)',
            "timeline": "the standby's timeline",
            "timeline_abandoned": "with timelines: the WAL archive holds a newer timeline that "
            'branched off before the standby\'s position: true, false, or "unknown" (a guard '
            "refuses)",
            "state": "all of it in words",
            "standbys": "on a primary",
        },
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: _pg(c).replication_status(p.rpo_s, p.incident_at, p.timelines),
        describe=lambda p: (
            "replication status"
            + (f" against an RPO of {p.rpo_s:g} s" if p.rpo_s is not None else "")
        ),
        needs_site=True,
    ),
    ActionSpec(
        name="postgres.archive_health",
        summary="Is WAL archiving healthy? Read only: failures, waiting files, the last archived "
        "file's age.",
        params=ArchiveParams,
        outputs={
            "healthy": "",
            "state": "all of it in words",
            "problems": "each problem in words",
            "archive_mode": "",
            "last_archived_wal": "",
            "last_archived_time": "",
            "failed_count": "failed attempts since the statistics were reset",
            "last_failed_wal": "",
            "last_failed_time": "",
            "failing": "the last attempt failed (nothing archived since)",
            "waiting": "WAL files waiting to be archived (.ready)",
            "server_error": "the archive command's last error in the server log",
        },
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: _pg(c).archive_health(p.grace_s),
        describe=lambda p: "check WAL archiving's health",
        needs_site=True,
    ),
    ActionSpec(
        name="postgres.archive_check",
        summary="pgBackRest check: switch WAL and see it archived.",
        params=NoParams,
        outputs={"archiving": ""},
        effect=Effect.CHANGES,
        idempotent=True,
        run=lambda c, p: _pg(c).archive_check(),
        describe=lambda p: "pgbackrest check",
        needs_site=True,
    ),
    ActionSpec(
        name="postgres.stop",
        summary="Stop the database (fast shutdown).",
        params=NoParams,
        outputs={"was_running": "", "stopped": ""},
        effect=Effect.CHANGES,
        idempotent=True,
        run=lambda c, p: _pg(c).stop(),
        describe=lambda p: "stop PostgreSQL",
        needs_site=True,
    ),
    ActionSpec(
        name="postgres.start",
        summary="Start the database and wait until it accepts connections.",
        params=NoParams,
        outputs={"started": "", "server_version": "", "in_recovery": "", "now": ""},
        effect=Effect.CHANGES,
        idempotent=True,
        run=lambda c, p: _pg(c).start(),
        describe=lambda p: "start PostgreSQL",
        needs_site=True,
    ),
    ActionSpec(
        name="postgres.backup",
        summary="pgBackRest backup (full, diff or incr).",
        params=BackupParams,
        outputs={"label": "", "type": "", "stop": ""},
        effect=Effect.CHANGES,
        idempotent=True,
        run=lambda c, p: _pg(c).backup(p.type),
        describe=lambda p: f"pgbackrest backup --type={p.type}",
        needs_site=True,
    ),
    ActionSpec(
        name="postgres.create_restore_point",
        summary="A named restore point.",
        params=RestorePointParams,
        outputs={"name": "", "lsn": ""},
        effect=Effect.CHANGES,
        idempotent=False,
        run=lambda c, p: _pg(c).create_restore_point(p.name),
        describe=lambda p: f"restore point {p.name}",
        needs_site=True,
    ),
    ActionSpec(
        name="postgres.promote_standby",
        summary="Promote a standby to primary.",
        params=NoParams,
        outputs={"promoted": "", **POINT},
        effect=Effect.DESTRUCTIVE,
        idempotent=False,
        run=lambda c, p: _pg(c).promote_standby(),
        describe=lambda p: "promote the standby",
        needs_site=True,
    ),
    ActionSpec(
        name="postgres.restore",
        summary="Restore into the live data directory (it is overwritten).",
        params=RestoreParams,
        outputs=RESTORED,
        effect=Effect.DESTRUCTIVE,
        idempotent=True,
        run=lambda c, p: pgrestore.restore(_pg(c), p, c, scratch=False),
        describe=lambda p: (
            f"pgbackrest restore --type={p.type}"
            + (f" --target={p.target}" if p.target else "")
            + " into the live data directory"
        ),
        needs_site=True,
    ),
    ActionSpec(
        name="postgres.test_restore",
        summary="Restore into a scratch directory and port; live cluster untouched.",
        params=RestoreParams,
        outputs={
            **RESTORED,
            "scratch_removed": "scratch restores of an interrupted earlier attempt, removed",
            "scratch_left": "those that could not be removed (remove them by hand)",
        },
        effect=Effect.CHANGES,
        idempotent=True,
        run=lambda c, p: pgrestore.restore(_pg(c), p, c, scratch=True),
        describe=lambda p: f"pgbackrest restore --type={p.type} into a scratch cluster",
        needs_site=True,
    ),
    ActionSpec(
        name="postgres.safety_copy",
        summary="Copy the stopped data directory aside before a restore.",
        params=NoParams,
        outputs={"path": "where the copy is", "bytes": "its size"},
        effect=Effect.CHANGES,
        idempotent=True,
        run=lambda c, p: pgrestore.safety_copy(_pg(c)),
        describe=lambda p: "copy the data directory aside",
        needs_site=True,
    ),
    ActionSpec(
        name="postgres.compare_rows",
        summary="Rows of a table that differ between a scratch restore and the live database.",
        params=CompareRowsParams,
        outputs={
            "missing": "rows in the restore the live database lacks (deleted since)",
            "changed": "rows in both whose values differ (overwritten since)",
            "extra": "rows only in the live database (written since: never touched)",
            "differs": "missing or changed rows exist",
            "missing_keys": "the first keys missing (all of them in the diff)",
            "changed_keys": "the first keys changed",
            "extra_keys": "the first keys only in the live database",
            "key": "the key columns",
            "diff": "the diff file (JSON Lines), in the step's artefacts",
            "diff_sha256": "its SHA-256, for the copy",
        },
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: pgrows.compare_rows(_pg(c), p, c),
        describe=lambda p: (
            f"compare {p.table} by {', '.join(p.key)} with the restore on port {p.restored_port}"
        ),
        needs_site=True,
    ),
    ActionSpec(
        name="postgres.copy_rows_back",
        summary="Copy the compared rows back into the live primary in one transaction, while it "
        "runs.",
        params=CopyRowsParams,
        outputs={
            "restored": "rows put back (inserted + updated)",
            "inserted": "missing rows inserted",
            "updated": "changed rows restored to their earlier values",
            "already_back": "missing rows that were back already (not doubled)",
            "changed_since": "chosen changed rows changed again after the comparison (left)",
            "changed_left": "changed rows not restored (not chosen, or changed since)",
            "table": "",
            "as_of": "when the rows are from",
        },
        effect=Effect.DESTRUCTIVE,
        idempotent=True,
        run=lambda c, p: pgrows.copy_rows_back(_pg(c), p, c),
        describe=lambda p: (
            f"copy the {p.rows} rows of {p.table} from {p.diff} into the live database "
            "in one transaction"
        ),
        needs_site=True,
    ),
    ActionSpec(
        name="postgres.drop_scratch",
        summary="Stop and remove a test restore.",
        params=ScratchParams,
        outputs={"removed": ""},
        effect=Effect.CHANGES,
        idempotent=True,
        run=lambda c, p: pgrestore.drop_scratch(_pg(c), p.data_dir),
        describe=lambda p: f"remove {p.data_dir}",
        needs_site=True,
    ),
]
