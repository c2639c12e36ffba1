"""PostgreSQL: psycopg 3 for SQL, the pgBackRest CLI for backups and restores, a host
controller (``pghost``) for stopping and starting.

Targets ``postgres`` section: host, port, dbname, user, password_env or password_file,
host_kind (local), data_dir, os_user, bin_dir, log_file, scratch_dir, and
``pgbackrest: {config, stanza}``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from drconsole.adapters import pgrows
from drconsole.adapters.base import (
    ActionContext,
    ActionSpec,
    AdapterError,
    CheckFailed,
    Effect,
    Params,
    PermanentError,
    TransientError,
)
from drconsole.adapters.oscmd import run_as
from drconsole.adapters.pgbackrest import Pgbackrest, epoch_to_utc
from drconsole.adapters.pghost import (
    ClusterHost,
    LocalCluster,
    host_for,
    settle_copied_settings,
    wait_until,
)
from drconsole.secrets import Secret, SecretSourceError, secret_from_reference
from drconsole.timeutil import (
    TimeFormatError,
    file_stamp,
    format_duration,
    parse_timestamp,
    timestamp_or_none,
    utcnow,
)

RECOVERY_SHORT = "recovery ended before configured recovery target was reached"
ARCHIVER_SQL = """
SELECT pg_is_in_recovery(), current_setting('archive_mode'),
       (SELECT setting::int FROM pg_settings WHERE name = 'archive_timeout'),
       (SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size'),
       CASE WHEN pg_is_in_recovery() THEN 0
            ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') END,
       now(), a.archived_count, a.last_archived_wal, a.last_archived_time, a.failed_count,
       a.last_failed_wal, a.last_failed_time,
       (SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'),
       (SELECT min(modification) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready')
FROM pg_stat_archiver a
"""
ARCHIVE_HINT = (
    "read the server log's archive command errors; a WAL file that 'already exists in the "
    "archive with a different checksum' means two servers wrote the same timeline (a "
    "promotion whose .history never reached the archive): archiving stays broken until the "
    "archive is repaired (a new stanza and a full backup; on the sandbox: sandbox reset)"
)


class PostgresAdapter:
    """One cluster described by a targets ``postgres`` section."""

    def __init__(self, section: Mapping[str, Any]) -> None:
        if not section:
            raise PermanentError("the site has no postgres section in the targets file")
        self.section = dict(section)

    # ----------------------------------------------------------------- connections
    def _password(self) -> Secret | None:
        for key, kind in (("password_env", "env"), ("password_file", "file")):
            if self.section.get(key):
                try:
                    return secret_from_reference({kind: str(self.section[key])})
                except SecretSourceError as exc:
                    raise PermanentError(str(exc)) from None
        return None

    def connect(self, port: int | None = None, dbname: str | None = None) -> Any:
        import psycopg

        kwargs: dict[str, Any] = {
            "host": self.section.get("host", "127.0.0.1"),
            "port": port or self.section.get("port", 5432),
            "dbname": dbname or self.section.get("dbname", "postgres"),
            "user": self.section.get("user", "postgres"),
            "connect_timeout": 5,
            "autocommit": True,
        }
        password = self._password()
        if password is not None:
            kwargs["password"] = password.reveal()
        try:
            return psycopg.connect(**kwargs)
        except psycopg.OperationalError as exc:
            where = f"{kwargs['host']}:{kwargs['port']}/{kwargs['dbname']}"
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else "no answer"
            if "authentication" in text or "does not exist" in text:
                raise PermanentError(f"PostgreSQL at {where} refused us: {text}") from None
            raise TransientError(f"PostgreSQL at {where} does not answer: {text}") from None

    @contextmanager
    def session(self, port: int | None = None, dbname: str | None = None) -> Iterator[Any]:
        """A connection whose driver errors become TransientError or PermanentError."""
        import psycopg

        try:
            with self.connect(port, dbname) as conn:
                yield conn
        except psycopg.errors.InsufficientPrivilege as exc:
            raise PermanentError(
                f"PostgreSQL refused: {_first_line(exc)}",
                hint="the role needs pg_monitor and EXECUTE on the recovery functions "
                "(docs/sandbox.md lists the grants)",
            ) from None
        except psycopg.OperationalError as exc:
            raise TransientError(f"PostgreSQL connection failed: {_first_line(exc)}") from None
        except psycopg.Error as exc:
            raise PermanentError(f"PostgreSQL error: {_first_line(exc)}") from None

    def backrest(self) -> Pgbackrest:
        conf = self.section.get("pgbackrest") or {}
        if not conf.get("config") or not conf.get("stanza"):
            raise PermanentError("the postgres section has no pgbackrest {config, stanza}")
        return Pgbackrest(conf["config"], conf["stanza"], os_user=self.section.get("os_user"))

    # ----------------------------------------------------------------- read-only
    def ping(self, port: int | None = None) -> dict[str, Any]:
        with self.session(port) as conn:
            version, recovery, now = conn.execute(
                "SELECT current_setting('server_version'), pg_is_in_recovery(), now()"
            ).fetchone()
        return {"server_version": version, "in_recovery": recovery, "now": timestamp_or_none(now)}

    def query(self, sql: str, args: list[Any], port: int | None = None) -> dict[str, Any]:
        import psycopg

        with self.session(port) as conn:
            try:
                with conn.transaction():
                    conn.execute("SET TRANSACTION READ ONLY")
                    rows = conn.execute(sql, args).fetchall()
            except psycopg.Error as exc:
                raise PermanentError(f"query failed: {str(exc).strip()}") from None
        first = list(rows[0]) if rows else None
        value = first[0] if first else None
        if isinstance(value, datetime):
            value = timestamp_or_none(value)
        return {
            "value": value,
            "row": [timestamp_or_none(v) if isinstance(v, datetime) else v for v in (first or [])],
            "rows": len(rows),
        }

    def fingerprint(self, table: str, upto_id: int | None, port: int | None) -> dict[str, Any]:
        from psycopg import sql

        query = sql.SQL(
            "SELECT count(*), coalesce(max(id), 0), "
            "md5(coalesce(string_agg(digest, ',' ORDER BY id), '')) "
            "FROM {} WHERE %s::bigint IS NULL OR id <= %s::bigint"
        ).format(sql.Identifier(table))
        with self.session(port) as conn:
            count, max_id, digest = conn.execute(query, (upto_id, upto_id)).fetchone()
        return {"count": count, "max_id": max_id, "md5": digest}

    def backup_info(self, rpo_s: float | None) -> dict[str, Any]:
        info = self.backrest().info()
        status = info.get("status", {})
        backups = [
            {
                "label": b["label"],
                "type": b["type"],
                "start": timestamp_or_none(epoch_to_utc(b["timestamp"]["start"])),
                "stop": timestamp_or_none(epoch_to_utc(b["timestamp"]["stop"])),
                "size": b["info"]["size"],
                "repo_size": b["info"]["repository"]["size"],
                "wal_start": b["archive"]["start"],
                "wal_stop": b["archive"]["stop"],
                "error": b.get("error", False),
            }
            for b in info.get("backup", [])
        ]
        outputs: dict[str, Any] = {
            "count": len(backups),
            "backups": backups,
            "status": status.get("message"),
        }
        if not backups:
            raise CheckFailed(
                f"no backups in stanza {self.backrest().stanza}: {status.get('message', '')}",
                evidence=outputs,
            )
        newest = backups[-1]
        stop = epoch_to_utc(info["backup"][-1]["timestamp"]["stop"])
        assert stop is not None
        age = (utcnow() - stop).total_seconds()
        outputs.update(
            newest_label=newest["label"],
            newest_type=newest["type"],
            newest_stop=newest["stop"],
            newest_age_s=round(age, 1),
        )
        if rpo_s is not None:
            outputs["within_rpo"] = age <= rpo_s
        return outputs

    def verify_repo(self) -> dict[str, Any]:
        problems = self.backrest().verify()
        if problems:
            raise CheckFailed(
                f"pgbackrest verify found {len(problems)} problem(s): {problems[0]}",
                evidence={"problems": problems},
                hint="do not restore from this backup; take a new full backup",
            )
        return {"problems": [], "ok": True}

    def recovery_window(self, target: str | None) -> dict[str, Any]:
        """Earliest time a restore can reach (oldest backup's end) and latest (last WAL
        archived, read from the primary when it answers, else the newest backup's end).
        ``latest_from`` says in words where the end comes from and when it is not to be
        trusted: a timeline history file (no WAL of the new timeline archived yet) or
        archiving that fails."""
        info = self.backrest().info()
        stops = [epoch_to_utc(b["timestamp"]["stop"]) for b in info.get("backup", [])]
        if not stops:
            raise CheckFailed("no backups: nothing can be restored")
        earliest, latest = min(s for s in stops if s), max(s for s in stops if s)
        source = "the newest backup's end"
        archiving = "unknown: the primary does not answer"
        try:
            health = self.archive_state()
        except TransientError:
            health = None
        if health is not None:
            archiving = health["state"]
            stamp, wal = health["last_archived_time"], str(health["last_archived_wal"])
            when = parse_timestamp(stamp) if stamp else None
            if when and when > latest:
                latest, source = when, f"the last archived WAL file, {wal}"
                if wal.endswith(".history"):
                    source += (
                        f": a timeline history file, so no WAL of timeline {int(wal[:8], 16)} "
                        "is archived yet and the window ends at that timeline's start"
                    )
            if not health["healthy"]:
                source += "; archiving is failing, so the window ends where archiving stopped"
        out: dict[str, Any] = {
            "earliest": timestamp_or_none(earliest),
            "latest": timestamp_or_none(latest),
            "latest_from": source,
            "archiving": archiving,
        }
        if target:
            when = parse_timestamp(target)
            out["target"] = timestamp_or_none(when)
            if not earliest <= when <= latest:
                late = when > latest
                raise CheckFailed(
                    f"target {out['target']} is outside the recovery window "
                    f"{out['earliest']} .. {out['latest']} (the end is {source})",
                    evidence=out,
                    hint=(
                        ARCHIVE_HINT
                        if late and health and not health["healthy"]
                        else "choose a time inside the window; nothing was stopped"
                    ),  # fmt: skip
                )
        return out

    def archive_state(self, grace_s: float = 120.0, port: int | None = None) -> dict[str, Any]:
        """Whether this server's WAL archiving works, read only and never failing: the
        archiver's statistics, the files waiting in pg_wal/archive_status, the age of the last
        archived file against archive_timeout, and the archive command's last error from the
        server log. ``healthy`` is false with ``problems`` (each in words) when archiving is
        off, failing, stuck or stale; ``state`` says all of it in one line."""
        with self.session(port) as conn:
            row = conn.execute(ARCHIVER_SQL).fetchone()
        recovery, mode, timeout_s, segment_size, current_lsn, now = row[:6]
        archived, last_wal, last_time, failed, failed_wal, failed_time = row[6:12]
        ready, oldest_ready = row[12:14]
        out: dict[str, Any] = {
            "archive_mode": mode,
            "archived_count": archived,
            "last_archived_wal": last_wal,
            "last_archived_time": timestamp_or_none(last_time),
            "failed_count": failed,
            "last_failed_wal": failed_wal,
            "last_failed_time": timestamp_or_none(failed_time),
            "waiting": ready,
            "failing": bool(failed_time and (not last_time or failed_time > last_time)),
            "server_error": None,
        }
        problems: list[str] = []
        if mode == "off":
            problems.append(
                "archive_mode is off: this server archives no WAL"
                + (", not even once promoted" if recovery else "")
            )
        elif recovery and mode == "on":
            out.update(healthy=True, problems=[], state="standby: it archives once promoted "
                       "(archive_mode = on); nothing to archive before")  # fmt: skip
            return out
        if out["failing"]:
            out["server_error"] = self._archive_error()
            problems.append(
                f"archiving fails: {failed} failed attempt(s), the last for {failed_wal} at "
                f"{out['last_failed_time']}"
                + (f" ({out['server_error']})" if out["server_error"] else "")
                + "; nothing was archived since "
                + (out["last_archived_time"] or "the statistics were reset")
            )
        if ready and oldest_ready and (now - oldest_ready).total_seconds() > grace_s:
            age = format_duration((now - oldest_ready).total_seconds())
            problems.append(f"{ready} WAL file(s) wait to be archived, the oldest for {age}")
        if not recovery and mode != "off" and timeout_s and last_time:
            age_s = (now - last_time).total_seconds()
            if age_s > timeout_s + grace_s and current_lsn > _wal_end(last_wal, segment_size):
                problems.append(
                    f"no WAL archived for {format_duration(age_s)} though WAL was written "
                    f"(archive_timeout is {format_duration(timeout_s)})"
                )
        if problems:
            state = "NOT HEALTHY: " + "; ".join(problems)
        elif last_time:
            age = format_duration((now - last_time).total_seconds())
            state = f"ok: last archived {last_wal} {age} ago, {ready} waiting"
        else:
            state = "ok: nothing archived yet, nothing waiting"
        out.update(healthy=not problems, problems=problems, state=state)
        return out

    def archive_health(self, grace_s: float = 120.0) -> dict[str, Any]:
        """``archive_state`` as a check: fails with the problems and what to do."""
        out = self.archive_state(grace_s)
        if not out["healthy"]:
            raise CheckFailed(
                f"WAL archiving is not healthy: {'; '.join(out['problems'])}",
                evidence=out,
                hint=ARCHIVE_HINT,
            )
        return out

    def _archive_error(self) -> str | None:
        """The archive command's last error line in the server log (pgBackRest's words), when
        the log is a local file we can read."""
        host = self.host()
        if not isinstance(host, LocalCluster):
            return None
        lines = host.log_lines(max(0, host.log_size() - 256 * 1024))
        errors = [line.strip() for line in lines if "ERROR: [" in line]
        return errors[-1] if errors else None

    def replication_status(
        self, rpo_s: float | None = None, incident_at: str | None = None
    ) -> dict[str, Any]:
        """On a primary, each standby and its lag. On a standby, whether it streams from a
        primary (its WAL receiver), its last replayed commit and, with ``rpo_s``, whether the
        data it holds is older than the RPO allows at ``incident_at`` (default now)."""
        with self.session() as conn:
            (recovery,) = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if recovery:
                receive, replay, replay_ts, lag_bytes = conn.execute(
                    "SELECT pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn(), "
                    "pg_last_xact_replay_timestamp(), "
                    "pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())"
                ).fetchone()
                receiver = conn.execute("SELECT pid, status FROM pg_stat_wal_receiver").fetchone()
                return {
                    "role": "standby",
                    "receive_lsn": str(receive),
                    "replay_lsn": str(replay),
                    # replay can run ahead of what the receiver streamed when WAL came from
                    # the archive (restore_command): then nothing received waits for replay
                    "lag_bytes": max(0, int(lag_bytes or 0)),
                    **_standby_freshness(receiver, replay_ts, rpo_s, incident_at),
                    "standbys": [],
                }
            rows = conn.execute(
                "SELECT application_name, state, sent_lsn::text, replay_lsn::text, "
                "pg_wal_lsn_diff(sent_lsn, replay_lsn), extract(epoch FROM replay_lag) "
                "FROM pg_stat_replication"
            ).fetchall()
        standbys = [
            {
                "name": r[0],
                "state": r[1],
                "sent_lsn": r[2],
                "replay_lsn": r[3],
                "lag_bytes": int(r[4] or 0),
                "lag_s": float(r[5]) if r[5] else 0.0,
            }
            for r in rows
        ]
        return {"role": "primary", "standbys": standbys}

    # ----------------------------------------------------------------- changing state
    def host(self) -> ClusterHost:
        return host_for(self.section)

    def local_host(self) -> LocalCluster:
        """The host as a local data directory (restores, safety copies, scratch restores).

        Raises:
            PermanentError: the cluster runs elsewhere (a StatefulSet).
        """
        host = self.host()
        if not isinstance(host, LocalCluster):
            raise PermanentError(
                f"{host.describe()}: restores and safety copies work on a local data directory; "
                "a restore inside a StatefulSet's volume (a Kubernetes Job) is not built",
                hint="run the restore on the database host (host_kind: local)",
            )
        return host

    def stop(self) -> dict[str, Any]:
        host = self.host()
        was = host.is_running()
        host.stop()
        return {"was_running": was, "stopped": True}

    def start(self, port: int | None = None) -> dict[str, Any]:
        self.host().start()
        self._wait_ready(port, 60)
        return {"started": True, **self.ping(port)}

    def _wait_ready(self, port: int | None, timeout_s: float) -> None:
        def ready() -> bool:
            try:
                self.ping(port)
                return True
            except TransientError:
                return False

        if not wait_until(ready, timeout_s):
            raise TransientError(f"PostgreSQL did not accept connections within {timeout_s:g} s")

    def archive_check(self) -> dict[str, Any]:
        self.backrest().run("check", timeout=300)
        return {"archiving": "ok"}

    def backup(self, kind: str) -> dict[str, Any]:
        self.backrest().run("backup", f"--type={kind}", timeout=7200)
        info = self.backup_info(None)
        return {
            "label": info["newest_label"],
            "type": info["newest_type"],
            "stop": info["newest_stop"],
        }

    def create_restore_point(self, name: str) -> dict[str, Any]:
        with self.session() as conn:
            (lsn,) = conn.execute("SELECT pg_create_restore_point(%s)::text", (name,)).fetchone()
        return {"name": name, "lsn": lsn}

    def writable(self) -> dict[str, Any]:
        """Whether this server accepts writes now. Never fails: an unreachable server is
        ``accepts_writes: false`` with the reason; an answer that cannot be read is
        ``"unknown"``, which a guard treats as a live primary."""
        try:
            with self.session() as conn:
                recovery, read_only = conn.execute(
                    "SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only')"
                ).fetchone()
        except TransientError as exc:
            return {"accepts_writes": False, "state": f"down: {exc.message}"}
        except PermanentError as exc:
            return {"accepts_writes": "unknown", "state": f"cannot tell: {exc.message}"}
        if recovery:
            return {"accepts_writes": False, "state": "standby (in recovery)"}
        if read_only == "on":
            return {
                "accepts_writes": False,
                "state": "up, read-only (default_transaction_read_only)",
            }
        return {"accepts_writes": True, "state": "up and accepting writes"}

    def rebuild_standby(
        self, source_host: str, source_port: int, archive_mode: str, ctx: ActionContext
    ) -> dict[str, Any]:
        """Make this cluster a streaming standby of another: stop it, move its data directory
        aside, pg_basebackup from the source (-R), start, and wait until it streams."""
        host = self.local_host()
        section = self.section
        user = section.get("os_user")
        port = int(section.get("port") or 5432)
        if host.is_running():
            ctx.log("stopping the old cluster")
            host.stop()
        stamp = file_stamp()
        aside = f"{host.data_dir}.before-rebuild-{stamp}"
        if Path(host.data_dir).exists():
            run_as(["mv", host.data_dir, aside], user=user)
            ctx.log(f"old data directory kept at {aside}")
        replication = section.get("replication") or {}
        passfile = replication.get("passfile")
        ctx.log(f"pg_basebackup from {source_host}:{source_port}")
        result = run_as(
            [
                f"{host.bin_dir}/pg_basebackup", "-h", source_host, "-p", str(source_port),
                "-U", str(replication.get("user", "postgres")), "-D", host.data_dir,
                "-R", "-X", "stream", "-c", "fast",
            ],
            user=user,
            timeout=7200,
            env={"PGPASSFILE": str(passfile)} if passfile else None,
        )  # fmt: skip
        if result.code != 0:
            raise PermanentError(
                f"pg_basebackup failed: {result.tail()}",
                hint=f"the old data directory is kept at {aside}",
            )
        settings = [f"port = {port}"]
        if archive_mode != "keep":
            settings.append(f"archive_mode = {archive_mode}")
        # the source's recovery target must not follow (the standby would promote itself on
        # reaching it); these win over the source's postgresql.conf
        settle_copied_settings(host.data_dir, settings)
        host.start()
        self._wait_ready(None, 120)
        status = self.replication_status()
        if status["role"] != "standby":
            raise PermanentError("the rebuilt cluster is not in recovery; check its log")
        return {"role": "standby", "moved_aside": aside, **status}

    def promote_standby(self) -> dict[str, Any]:
        with self.session() as conn:
            (recovery,) = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if not recovery:
                raise PermanentError("this server is not a standby: it accepts writes already")
            conn.execute("SELECT pg_promote(true, 60)")
        return {"promoted": True, **self.recovered_point(None)}

    def recovered_point(self, port: int | None) -> dict[str, Any]:
        """Where a promoted server's data ends: its last replayed commit, when it replayed one
        since it started (else ``recovered_to`` is null and the basis says why)."""
        with self.session(port) as conn:
            replay_ts, timeline, lsn = conn.execute(
                "SELECT pg_last_xact_replay_timestamp(), "
                "substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8), pg_current_wal_lsn()::text"
            ).fetchone()
        basis = (
            "its last replayed commit"
            if replay_ts
            else "unknown: no commit was replayed since the server started"
        )
        return {
            "recovered_to": timestamp_or_none(replay_ts),
            "recovery_point_basis": basis,
            "last_replayed_commit": timestamp_or_none(replay_ts),
            # the current WAL file's: the last checkpoint's lags behind a promotion
            "timeline": int(timeline, 16),
            "lsn": lsn,
        }

    def _point_without_commits(self, p: RestoreParams, used_set: str | None) -> dict[str, Any]:
        """The recovery point of a restore that replayed no commit after its backup: the
        target time when recovery reached it (PostgreSQL promotes only then), else the end of
        the backup restored (its consistent point)."""
        if p.type == "time" and p.target:
            return {
                "recovered_to": timestamp_or_none(parse_timestamp(p.target)),
                "recovery_point_basis": "the target time: recovery reached it, and no commit "
                "lay between the backup and the target",
            }
        backups = self.backrest().info().get("backup", [])
        chosen = [b for b in backups if b["label"] == used_set] if used_set else backups[-1:]
        if not chosen:
            return {
                "recovered_to": None,
                "recovery_point_basis": "unknown: no commit was replayed and backup "
                f"{used_set or '(newest)'} is no longer in the repository",
            }
        return {
            "recovered_to": timestamp_or_none(epoch_to_utc(chosen[0]["timestamp"]["stop"])),
            "recovery_point_basis": f"the end of backup {chosen[0]['label']} (its consistent "
            "point): no commit was replayed after it",
        }

    def restore(self, p: RestoreParams, ctx: ActionContext, scratch: bool) -> dict[str, Any]:
        """Restore into the live data directory, or into a scratch directory and port."""
        section = self.section
        data_dir = section.get("data_dir") or ""
        port: int | None = None
        cluster = self.local_host()
        scratch_removed: list[str] = []
        scratch_left: list[str] = []
        if scratch:
            base = Path(p.scratch_dir or section.get("scratch_dir") or "")
            if not str(base):
                raise PermanentError("no scratch_dir: set it in the targets file or the step")
            scratch_removed, scratch_left = self._drop_predecessors(ctx)
            data_dir = str(base / f"restore-{file_stamp()}-{os.getpid()}")
            _remember_scratch(ctx, data_dir)
            port = p.scratch_port or _free_port()
            run_as(["mkdir", "-p", "-m", "0700", data_dir], user=section.get("os_user"))
            cluster = LocalCluster(
                data_dir,
                os_user=section.get("os_user"),
                bin_dir=cluster.bin_dir,
                log_file=data_dir + ".log",
            )
        marker = Path(data_dir + ".drconsole-restore")
        wanted = json.dumps({"type": p.type, "target": p.target, "set": p.set}, sort_keys=True)
        resuming = False
        if not scratch and cluster.is_running():
            # the server runs: refuse, unless it is recovering from our own interrupted restore
            if not (marker.exists() and marker.read_text() == wanted):
                raise PermanentError(
                    "the database is running; stop it before restoring into it",
                    hint="add a postgres.stop step before the restore",
                )
            resuming = True
        options = [f"--pg1-path={data_dir}"]
        used_set = p.set
        if p.delta and not scratch:
            options.append("--delta")
        if p.type != "latest":
            options.append(f"--type={p.type}")
        if p.type in ("time", "lsn", "name", "xid"):
            if not p.target:
                raise PermanentError(f"a restore of type {p.type} needs a target")
            options.append(f"--target={_backrest_target(p.type, p.target)}")
        if p.type != "latest" and p.promote:
            options.append("--target-action=promote")
        if p.set == "random":
            import secrets

            labels = [b["label"] for b in self.backrest().info().get("backup", [])]
            if not labels:
                raise PermanentError("no backups to choose from")
            chosen = secrets.choice(labels)
            used_set = chosen
            ctx.log(f"randomly chosen backup: {chosen}")
            options.append(f"--set={chosen}")
        elif p.set:
            options.append(f"--set={p.set}")
        started = time.monotonic()
        try:
            log_from = cluster.log_size()
            if resuming:
                ctx.log("the interrupted restore's server is recovering: waiting for it")
            else:
                if not scratch:
                    marker.write_text(wanted)
                ctx.log(f"pgbackrest restore {' '.join(options)}")
                self.backrest().run("restore", *options, timeout=7200)
                if scratch:
                    self._scratch_settings(Path(data_dir), port or 0)
                log_from = cluster.log_size()
                ctx.log(f"starting PostgreSQL on {data_dir}")
                try:
                    cluster.start(wait_s=600)
                except PermanentError as exc:
                    raise self._explain_failed_start(cluster, log_from, exc) from None
            self._wait_promoted(cluster, log_from, port, 600, ctx)
            point = self.recovered_point(port)
            if point["recovered_to"] is None:
                point.update(self._point_without_commits(p, used_set))
            marker.unlink(missing_ok=True)
        except BaseException:
            if scratch:  # a failed test restore leaves nothing running behind
                self._remove_scratch(data_dir)
            raise
        elapsed = round(time.monotonic() - started, 3)
        scratch_outputs = (
            {"scratch_removed": scratch_removed, "scratch_left": scratch_left} if scratch else {}
        )
        return {
            **scratch_outputs,
            **point,
            "restore_s": elapsed,
            "set": used_set or "newest",
            "data_dir": data_dir,
            "port": port or section.get("port"),
            "type": p.type,
            "target": p.target,
        }

    def _scratch_settings(self, data_dir: Path, port: int) -> None:
        auto = data_dir / "postgresql.auto.conf"
        sockets = data_dir.parent
        extra = (
            "\n# drconsole test restore: its own port, and never archive into the real repository\n"
            f"port = {port}\narchive_mode = off\nlisten_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{sockets}'\n"
        )
        with auto.open("a") as handle:
            handle.write(extra)
        (data_dir / "standby.signal").unlink(missing_ok=True)

    def _explain_failed_start(
        self, cluster: LocalCluster, log_from: int, exc: PermanentError
    ) -> PermanentError:
        lines = cluster.log_lines(log_from)
        for line in lines:
            if RECOVERY_SHORT in line:
                return PermanentError(
                    f"PostgreSQL stopped recovery: {line.strip()}",
                    hint="the archive holds no WAL up to the target: choose an earlier target "
                    "or restore the latest point; nothing was promoted",
                )
        fatal = [line for line in lines if "FATAL" in line or "PANIC" in line]
        if fatal:
            return PermanentError(f"PostgreSQL did not start: {fatal[-1].strip()}")
        return exc

    def _wait_promoted(
        self,
        cluster: LocalCluster,
        log_from: int,
        port: int | None,
        timeout_s: float,
        ctx: ActionContext,
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if ctx.cancel.is_set():
                raise PermanentError("the restore was cancelled while PostgreSQL recovered")
            if any(
                "pausing at the end of recovery" in line for line in cluster.log_lines(log_from)
            ):
                raise PermanentError(
                    "PostgreSQL paused at the end of recovery instead of promoting",
                    hint="restore with promote: true, or resume it with pg_wal_replay_resume()",
                )
            try:
                if not self.ping(port)["in_recovery"]:
                    return
            except TransientError:
                # not answering: ask pg_ctl (a process) only now, not on every poll
                if not cluster.is_running():
                    raise self._explain_failed_start(
                        cluster, log_from, PermanentError("PostgreSQL stopped during recovery")
                    ) from None
            time.sleep(0.1)
        raise TransientError(f"recovery did not finish within {timeout_s:g} s")

    def safety_copy(self) -> dict[str, Any]:
        """Copy the stopped data directory aside, so a restore can be undone by hand."""
        host = self.local_host()
        if host.is_running():
            raise PermanentError("the database is running; a safety copy is taken while stopped")
        stamp = file_stamp()
        dest = f"{host.data_dir}.before-restore-{stamp}"
        result = run_as(
            ["cp", "-a", host.data_dir, dest], user=self.section.get("os_user"), timeout=7200
        )
        if result.code != 0:
            raise PermanentError(
                f"the safety copy failed: {result.tail()}",
                hint="check free disk space next to the data directory",
            )
        size = sum(f.stat().st_size for f in Path(dest).rglob("*") if f.is_file())
        return {"path": dest, "bytes": size}

    def compare_rows(self, p: CompareRowsParams, ctx: ActionContext) -> dict[str, Any]:
        """A table in a restore (``restored_port``) against the live database, read only."""
        live_port = int(self.section.get("port") or 5432)
        if p.restored_port == live_port:
            raise PermanentError(
                f"port {live_port} is the live database: compare the restore with it, "
                "not the live database with itself",
                hint="give the scratch restore's port (postgres.test_restore's output port)",
            )
        with self.session(p.restored_port) as restored, self.session() as live:
            return pgrows.compare(restored, live, p.table, p.key, ctx)

    def copy_rows_back(self, p: CopyRowsParams, ctx: ActionContext) -> dict[str, Any]:
        """The diff's missing rows (and changed ones, if chosen) into the live primary, in one
        transaction, while it runs."""
        entries = pgrows.read_diff(p.diff, p.diff_sha256, p.table, p.key)
        with self.session() as conn:
            out = pgrows.copy_back(conn, p.table, p.key, entries, p.rows)
        when = f" as they were at {p.as_of}" if p.as_of else ""
        ctx.log(
            f"{out['restored']} row(s) of {p.table} put back{when}: {out['inserted']} inserted, "
            f"{out['updated']} restored to their earlier values"
        )
        return {**out, "table": p.table, "as_of": p.as_of}

    def drop_scratch(self, data_dir: str) -> dict[str, Any]:
        """Stop and remove a test restore.

        Raises:
            PermanentError: it is not under the scratch directory, or could not be removed.
        """
        problem = self._remove_scratch(data_dir)
        if problem:
            raise PermanentError(problem)
        return {"removed": data_dir}

    def _remove_scratch(self, data_dir: str) -> str | None:
        """Stop a test restore's server and delete its directory and log; what went wrong,
        or None when nothing of it is left."""
        base = self.section.get("scratch_dir")
        if not base or not Path(data_dir).resolve().is_relative_to(Path(base).resolve()):
            return f"{data_dir} is not under the scratch directory {base}; refusing to remove it"
        cluster = LocalCluster(
            data_dir,
            os_user=self.section.get("os_user"),
            bin_dir=self.local_host().bin_dir,
            log_file=data_dir + ".log",
        )
        try:
            if Path(data_dir).exists():
                cluster.stop()
        except AdapterError as exc:
            return f"the scratch server in {data_dir} did not stop: {exc}"
        shutil.rmtree(data_dir, ignore_errors=True)
        Path(data_dir + ".log").unlink(missing_ok=True)
        if Path(data_dir).exists():
            return f"{data_dir} could not be removed (check its owner and permissions)"
        return None

    def _drop_predecessors(self, ctx: ActionContext) -> tuple[list[str], list[str]]:
        """Remove the scratch restores an earlier attempt of this step left (a kill, a crash):
        the ones removed and the ones that could not be."""
        removed, left = [], []
        for data_dir in _remembered_scratch(ctx):
            if not Path(data_dir).exists():
                continue
            problem = self._remove_scratch(data_dir)
            if problem:
                ctx.log(f"an earlier attempt's scratch restore is left: {problem}")
                left.append(data_dir)
            else:
                ctx.log(f"removed an earlier attempt's scratch restore {data_dir}")
                removed.append(data_dir)
        return removed, left


SCRATCH_RECORD = "scratch-restores.json"


def _remembered_scratch(ctx: ActionContext) -> list[str]:
    """The scratch directories earlier attempts of this step created (kept in its artefacts)."""
    if not ctx.artefact_dir:
        return []
    try:
        return list(json.loads((Path(ctx.artefact_dir) / SCRATCH_RECORD).read_text()))
    except (OSError, ValueError):
        return []


def _remember_scratch(ctx: ActionContext, data_dir: str) -> None:
    """Write down a scratch directory before it is made, so a rerun after a kill finds it."""
    if not ctx.artefact_dir:
        return
    folder = Path(ctx.artefact_dir)
    folder.mkdir(parents=True, exist_ok=True)
    record = folder / SCRATCH_RECORD
    partial = record.with_suffix(".partial")
    partial.write_text(json.dumps([*_remembered_scratch(ctx), data_dir]))
    os.replace(partial, record)


def _standby_freshness(
    receiver: tuple[Any, Any] | None,
    replay_ts: datetime | None,
    rpo_s: float | None,
    incident_at: str | None,
) -> dict[str, Any]:
    """What a standby holds, in words: is it streaming, how old is its last replayed commit,
    and (with an RPO) would promoting it lose more than the RPO allows.

    ``past_rpo`` is true, false, or "unknown" (nothing replayed since the standby started);
    a guard treats "unknown" as true.
    """
    if receiver is None:
        wal_receiver = "none (not connected to a primary)"
    elif receiver[1] is None:
        wal_receiver = "hidden (the role needs pg_read_all_stats)"
    else:
        wal_receiver = str(receiver[1])
    streaming = receiver is not None and receiver[1] == "streaming"
    now = utcnow()
    try:
        reference = parse_timestamp(incident_at) if incident_at else now
    except ValueError as exc:
        raise PermanentError(f"incident_at: {exc}") from None
    against = "the incident" if incident_at else "now"
    out: dict[str, Any] = {
        "streaming": streaming,
        "wal_receiver": wal_receiver,
        "last_replayed_commit": timestamp_or_none(replay_ts),
        "replay_age_s": round((now - replay_ts).total_seconds(), 3) if replay_ts else None,
        "data_loss_s": None,
        "past_rpo": None,
    }
    words = ["streaming" if streaming else f"NOT streaming (WAL receiver: {wal_receiver})"]
    if replay_ts is None:
        words.append("no commit replayed since the standby started: its data's age is unknown")
        if rpo_s is not None:
            out["past_rpo"] = "unknown"
    else:
        loss = max((reference - replay_ts).total_seconds(), 0.0)
        out["data_loss_s"] = round(loss, 3)
        when = f"{format_duration(loss)} before {against}" if loss else f"at or after {against}"
        words.append(f"last replayed commit {timestamp_or_none(replay_ts)}, {when}")
        if rpo_s is not None:
            out["past_rpo"] = loss > rpo_s
            verdict = "PAST" if loss > rpo_s else "within"
            words.append(f"{verdict} the RPO of {format_duration(rpo_s)}")
    out["state"] = "; ".join(words)
    return out


def _wal_end(name: str | None, segment_size: int) -> int:
    """The WAL position where an archived file's segment ends (0 for a timeline history
    file or a name that is not a segment's: then any WAL counts as written after it)."""
    if not name or len(name) < 24:
        return 0
    try:
        log, seg = int(name[8:16], 16), int(name[16:24], 16)
    except ValueError:
        return 0
    return log * 0x1_0000_0000 + (seg + 1) * segment_size


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _backrest_target(kind: str, target: str) -> str:
    """pgBackRest reads times as 'YYYY-MM-DD HH:MM:SS.ffffff+00', not ISO 8601 with T and Z."""
    if kind != "time":
        return target
    try:
        when = parse_timestamp(target)
    except TimeFormatError as exc:
        raise PermanentError(str(exc)) from None
    return when.strftime("%Y-%m-%d %H:%M:%S.%f") + "+00"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------- parameters
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


class BackupParams(Params):
    type: Literal["full", "diff", "incr"] = "full"


class RestorePointParams(Params):
    name: str = Field(min_length=1)


class RestoreParams(Params):
    type: Literal["latest", "immediate", "time", "lsn", "name", "xid"] = "latest"
    target: str | None = Field(None, description="For time, lsn, name or xid.")
    delta: bool = Field(True, description="Restore only what differs (live restores).")
    promote: bool = Field(True, description="Promote when the target is reached.")
    set: str | None = Field(None, description="A backup label, or random; default the newest.")
    scratch_dir: str | None = Field(None, description="Test restore: where (default targets).")
    scratch_port: int | None = Field(None, description="Test restore: port (default a free one).")


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


class RowsParams(Params):
    table: str = Field(description="The table, or schema.table.")
    key: list[str] = Field(
        default_factory=lambda: ["id"],
        description="The columns that identify a row (the primary key); a list or 'a,b'.",
    )

    @field_validator("key", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return [k.strip() for k in value.split(",")] if isinstance(value, str) else value


class CompareRowsParams(RowsParams):
    restored_port: int = Field(
        ge=1, le=65535, description="The scratch restore's port (postgres.test_restore's port)."
    )


class CopyRowsParams(RowsParams):
    diff: str = Field(description="The comparison's diff file (postgres.compare_rows' diff).")
    diff_sha256: str = Field(
        pattern="^[0-9a-fA-F]{64}$", description="Its SHA-256 (compare_rows' diff_sha256)."
    )
    rows: pgrows.Rows = Field(
        "missing", description="missing, or missing-and-changed: changed rows put back too."
    )
    as_of: str | None = Field(
        None, description="When the copied rows are from (the restore's recovered_to)."
    )


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
        run=lambda c, p: _pg(c).rebuild_standby(p.source_host, p.source_port, p.archive_mode, c),
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
        run=lambda c, p: _pg(c).recovery_window(p.target),
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
            "state": "all of it in words",
            "standbys": "on a primary",
        },
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: _pg(c).replication_status(p.rpo_s, p.incident_at),
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
        run=lambda c, p: _pg(c).restore(p, c, scratch=False),
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
        run=lambda c, p: _pg(c).restore(p, c, scratch=True),
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
        run=lambda c, p: _pg(c).safety_copy(),
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
        run=lambda c, p: _pg(c).compare_rows(p, c),
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
        run=lambda c, p: _pg(c).copy_rows_back(p, c),
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
        run=lambda c, p: _pg(c).drop_scratch(p.data_dir),
        describe=lambda p: f"remove {p.data_dir}",
        needs_site=True,
    ),
]
