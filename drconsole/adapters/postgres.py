"""PostgreSQL: one cluster described by a targets ``postgres`` section, through psycopg 3 (the
connection, read-only status: version, queries, pgBackRest's backups and recovery window, WAL
archiving's and replication's health, the recovered point) and its simple changes of state
(start, stop, a backup, a restore point, a promotion). The cluster is stopped and started
through a host controller (``pghost``); pgBackRest's CLI is ``pgbackrest``.

Restores, scratch clusters, the safety copy and standby rebuilds are in ``pgrestore``, row
recovery in ``pgrows``, the actions' parameters and ActionSpec table in ``pgactions``.

Targets ``postgres`` section: host, port, dbname, user, password_env or password_file,
host_kind (local), data_dir, os_user, bin_dir, log_file, scratch_dir, and
``pgbackrest: {config, stanza}``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from drconsole.adapters.base import CheckFailed, PermanentError, TransientError, wait_until
from drconsole.adapters.pgbackrest import Pgbackrest, epoch_to_utc
from drconsole.adapters.pghost import ClusterHost, LocalCluster, host_for
from drconsole.secrets import Secret, SecretSourceError, secret_from_reference
from drconsole.timeutil import format_duration, parse_timestamp, timestamp_or_none, utcnow

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
HISTORY_FILE = re.compile(r"[0-9A-F]{8}\.history")
ARCHIVE_HINT = (
    "read the server log's archive command errors; a WAL file that 'already exists in the "
    "archive with a different checksum' means two servers wrote the same timeline (a "
    "promotion whose .history never reached the archive): archiving stays broken until the "
    "archive is repaired (a new stanza and a full backup; on the sandbox: sandbox reset)"
)


# PostgreSQL's archiver pushes a failed segment again a second later. The primary and the
# standby (archive_mode always) may push the same new segment at once, just after the standby
# is rebuilt: one push fails (pgBackRest's temporary file moved under it) and the retry finds
# it "already exists ... same checksum". How long a reader waits for that to settle:
ARCHIVER_RETRY_S = 10.0


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
                f"PostgreSQL refused: {first_line(exc)}",
                hint="the role needs pg_monitor and EXECUTE on the recovery functions "
                "(docs/sandbox.md lists the grants)",
            ) from None
        except psycopg.OperationalError as exc:
            raise TransientError(f"PostgreSQL connection failed: {first_line(exc)}") from None
        except psycopg.Error as exc:
            raise PermanentError(f"PostgreSQL error: {first_line(exc)}") from None

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

    def recovery_window(self, target: str | None, until_now: bool = False) -> dict[str, Any]:
        """Earliest time a restore can reach (oldest backup's end) and latest (last WAL
        archived, read from the primary when it answers, else the newest backup's end).
        ``latest_from`` says in words where the end comes from and when it is not to be
        trusted: a timeline history file (no WAL of the new timeline archived yet) or
        archiving that fails. With ``until_now`` (the newest WAL is archived before the
        restore, by a step still to run) the window ends now while the primary answers and
        archives without trouble: a target a few seconds old is reachable then."""
        info = self.backrest().info()
        stops = [epoch_to_utc(b["timestamp"]["stop"]) for b in info.get("backup", [])]
        if not stops:
            raise CheckFailed("no backups: nothing can be restored")
        earliest, latest = min(s for s in stops if s), max(s for s in stops if s)
        source = "the newest backup's end"
        archiving = "unknown: the primary does not answer"
        try:
            health = self.archive_state()
            if target:  # before calling the window short
                reached = parse_timestamp(target)
                health = self.archive_settled(
                    lambda h: (
                        not h["failing"]
                        or bool(h["last_archived_time"])
                        and parse_timestamp(h["last_archived_time"]) >= reached
                    ),
                    health,
                )
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
            elif until_now and utcnow() > latest:
                latest = utcnow()
                source = f"now: the newest WAL is archived before the restore (last: {wal})"
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

    def archive_settled(
        self,
        done: Callable[[dict[str, Any]], bool],
        health: dict[str, Any] | None = None,
        within_s: float = ARCHIVER_RETRY_S,
    ) -> dict[str, Any]:
        """``archive_state``, read again every half second for up to ``within_s`` until
        ``done`` says it is settled: a push that just failed is pushed again by PostgreSQL's
        archiver a second later (the primary and a standby with archive_mode always can race on
        one segment). Read only; the last state read, settled or not."""
        health = health if health is not None else self.archive_state()
        deadline = time.monotonic() + within_s
        while not done(health) and time.monotonic() < deadline:
            time.sleep(0.5)
            health = self.archive_state()
        return health

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
        self, rpo_s: float | None = None, incident_at: str | None = None, timelines: bool = False
    ) -> dict[str, Any]:
        """On a primary, each standby and its lag. On a standby, whether it streams from a
        primary (its WAL receiver), its last replayed commit and, with ``rpo_s``, whether the
        data it holds is older than the RPO allows at ``incident_at`` (default now). With
        ``timelines``, a standby that does not stream is checked against the timelines in the
        WAL archive (``timeline_abandoned``, see ``abandoned_timeline``)."""
        with self.session() as conn:
            (recovery,) = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if recovery:
                receive, replay, replay_ts, lag_bytes, timeline = conn.execute(
                    "SELECT pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn(), "
                    "pg_last_xact_replay_timestamp(), "
                    "pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), "
                    "greatest((SELECT timeline_id FROM pg_control_checkpoint()), "
                    "(SELECT received_tli FROM pg_stat_wal_receiver))"
                ).fetchone()
                receiver = conn.execute("SELECT pid, status FROM pg_stat_wal_receiver").fetchone()
            else:
                rows = conn.execute(
                    "SELECT application_name, state, sent_lsn::text, replay_lsn::text, "
                    "pg_wal_lsn_diff(sent_lsn, replay_lsn), extract(epoch FROM replay_lag) "
                    "FROM pg_stat_replication"
                ).fetchall()
        if recovery:
            out = {
                "role": "standby",
                "receive_lsn": str(receive),
                "replay_lsn": str(replay),
                # replay can run ahead of what the receiver streamed when WAL came from
                # the archive (restore_command): then nothing received waits for replay
                "lag_bytes": max(0, int(lag_bytes or 0)),
                **_standby_freshness(receiver, replay_ts, rpo_s, incident_at),
                "timeline": timeline,
                "standbys": [],
            }
            if timelines:
                abandoned, words = (
                    (False, None)
                    if out["streaming"]  # it follows a live primary's timeline
                    else self.abandoned_timeline(int(timeline), str(replay))
                )
                out["timeline_abandoned"] = abandoned
                if words:
                    out["state"] += f"; {words}"
            return out
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

    def abandoned_timeline(self, timeline: int, replay_lsn: str) -> tuple[bool | str | None, str]:
        """Whether a standby on ``timeline`` at ``replay_lsn`` is left on an abandoned branch:
        the WAL archive holds a newer timeline (a point-in-time restore or a promotion of the
        primary) that does not descend from the standby's position (its history does not name
        the standby's timeline, or branches off it before ``replay_lsn``). Such a standby
        holds data the primary threw away and can never follow it. True, False, or "unknown"
        (the archive could not be read: a guard treats it as true), with the words; None when
        the site names no pgBackRest repository (nothing to read)."""
        if not self.section.get("pgbackrest"):
            return None, f"timeline {timeline} (not checked: the site names no pgbackrest)"
        try:
            backrest = self.backrest()
            archive_id = str((backrest.info().get("archive") or [{}])[-1]["id"])
            folder = f"archive/{backrest.stanza}/{archive_id}"
            listing = json.loads(backrest.run("repo-ls", folder, "--output=json").stdout)
            newer = sorted(
                int(name[:8], 16)
                for name in listing
                if HISTORY_FILE.fullmatch(name) and int(name[:8], 16) > timeline
            )
            if not newer:
                return False, f"timeline {timeline}, the newest in the WAL archive"
            history = backrest.run("repo-get", f"{folder}/{newer[-1]:08X}.history").stdout
        except (PermanentError, TransientError, ValueError, KeyError) as exc:
            return "unknown", f"timeline {timeline} NOT checked against the WAL archive: {exc}"
        newest = newer[-1]
        branch = {
            int(parts[0]): parts[1]
            for parts in (line.split() for line in history.splitlines())
            if len(parts) >= 2 and parts[0].isdigit()
        }
        point = branch.get(timeline)
        if point is None:
            return True, (
                f"ABANDONED TIMELINE: the WAL archive's newest timeline {newest} does not "
                f"descend from this standby's timeline {timeline}"
            )
        if _lsn(replay_lsn) > _lsn(point):
            return True, (
                f"ABANDONED TIMELINE: the WAL archive's timeline {newest} (a point-in-time "
                f"restore or promotion of the primary) branched off timeline {timeline} at "
                f"{point}, before this standby's position {replay_lsn}: it holds data the "
                "primary threw away and can never follow it again; rebuild it from the primary"
            )
        return False, (
            f"timeline {timeline}; the archive's timeline {newest} branches off at {point}, "
            "at or after this standby's position: it can follow"
        )

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
        self.wait_ready(port, 60)
        return {"started": True, **self.ping(port)}

    def wait_ready(self, port: int | None, timeout_s: float) -> None:
        """Wait until the server on ``port`` (default the section's) accepts connections."""

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

    def promote_standby(self) -> dict[str, Any]:
        """Promote, and return once the server accepts writes: asked every 10 ms (waiting
        inside ``pg_promote`` looks every 100 ms, most of a sandbox promotion's time)."""
        with self.session() as conn:
            (recovery,) = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if not recovery:
                raise PermanentError("this server is not a standby: it accepts writes already")
            conn.execute("SELECT pg_promote(false)")

            def accepts_writes() -> bool:
                return not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]

            if not wait_until(accepts_writes, 60, interval_s=0.01):
                raise TransientError(
                    "the standby was asked to promote but is still in recovery after 60 s"
                )
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


def _lsn(text: str) -> int:
    """A WAL position ('0/5012B00') as a number."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low or "0", 16)


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


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
