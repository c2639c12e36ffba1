"""Putting a PostgreSQL cluster's data back: pgBackRest restores into the live data directory
or into a scratch cluster on its own port (a test restore), to the latest point or to a time,
LSN, restore point or transaction (PITR), with the point the data was recovered to; the
scratch clusters' bookkeeping and removal; the safety copy of a stopped data directory; and a
standby rebuilt from another cluster with pg_basebackup.

A live restore leaves a marker beside the data directory while it runs, so a rerun after a
crash waits for the recovery already under way. A test restore writes its directory down in
the step's artefacts before making it, so a rerun after a kill removes it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from drconsole.adapters.base import (
    ActionContext,
    AdapterError,
    Params,
    PermanentError,
    TransientError,
    wait_until,
)
from drconsole.adapters.oscmd import free_port, run_as
from drconsole.adapters.pgbackrest import epoch_to_utc
from drconsole.adapters.pghost import LocalCluster, settle_copied_settings
from drconsole.adapters.postgres import PostgresAdapter
from drconsole.timeutil import TimeFormatError, file_stamp, parse_timestamp, timestamp_or_none

RECOVERY_SHORT = "recovery ended before configured recovery target was reached"
SCRATCH_RECORD = "scratch-restores.json"


class RestoreParams(Params):
    type: Literal["latest", "immediate", "time", "lsn", "name", "xid"] = "latest"
    target: str | None = Field(None, description="For time, lsn, name or xid.")
    delta: bool = Field(True, description="Restore only what differs (live restores).")
    promote: bool = Field(True, description="Promote when the target is reached.")
    set: str | None = Field(None, description="A backup label, or random; default the newest.")
    scratch_dir: str | None = Field(None, description="Test restore: where (default targets).")
    scratch_port: int | None = Field(None, description="Test restore: port (default a free one).")


def restore(
    pg: PostgresAdapter, p: RestoreParams, ctx: ActionContext, scratch: bool
) -> dict[str, Any]:
    """Restore into the live data directory, or into a scratch directory and port."""
    section = pg.section
    data_dir = section.get("data_dir") or ""
    port: int | None = None
    cluster = pg.local_host()
    scratch_removed: list[str] = []
    scratch_left: list[str] = []
    if scratch:
        base = Path(p.scratch_dir or section.get("scratch_dir") or "")
        if not str(base):
            raise PermanentError("no scratch_dir: set it in the targets file or the step")
        scratch_removed, scratch_left = _drop_predecessors(pg, ctx)
        data_dir = str(base / f"restore-{file_stamp()}-{os.getpid()}")
        _remember_scratch(ctx, data_dir)
        port = p.scratch_port or free_port()
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

        labels = [b["label"] for b in pg.backrest().info().get("backup", [])]
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
            pg.backrest().run("restore", *options, timeout=7200)
            if scratch:
                _scratch_settings(Path(data_dir), port or 0)
            log_from = cluster.log_size()
            ctx.log(f"starting PostgreSQL on {data_dir}")
            try:
                cluster.start(wait_s=600)
            except PermanentError as exc:
                raise _explain_failed_start(cluster, log_from, exc) from None
        _wait_promoted(pg, cluster, log_from, port, 600, ctx)
        point = pg.recovered_point(port)
        if point["recovered_to"] is None:
            point.update(_point_without_commits(pg, p, used_set))
        marker.unlink(missing_ok=True)
    except BaseException:
        if scratch:  # a failed test restore leaves nothing running behind
            _remove_scratch(pg, data_dir)
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


def _point_without_commits(
    pg: PostgresAdapter, p: RestoreParams, used_set: str | None
) -> dict[str, Any]:
    """The recovery point of a restore that replayed no commit after its backup: the
    target time when recovery reached it (PostgreSQL promotes only then), else the end of
    the backup restored (its consistent point)."""
    if p.type == "time" and p.target:
        return {
            "recovered_to": timestamp_or_none(parse_timestamp(p.target)),
            "recovery_point_basis": "the target time: recovery reached it, and no commit "
            "lay between the backup and the target",
        }
    backups = pg.backrest().info().get("backup", [])
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


def _scratch_settings(data_dir: Path, port: int) -> None:
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
    cluster: LocalCluster, log_from: int, exc: PermanentError
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
    pg: PostgresAdapter,
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
        if any("pausing at the end of recovery" in line for line in cluster.log_lines(log_from)):
            raise PermanentError(
                "PostgreSQL paused at the end of recovery instead of promoting",
                hint="restore with promote: true, or resume it with pg_wal_replay_resume()",
            )
        try:
            if not pg.ping(port)["in_recovery"]:
                return
        except TransientError:
            # not answering: ask pg_ctl (a process) only now, not on every poll
            if not cluster.is_running():
                raise _explain_failed_start(
                    cluster, log_from, PermanentError("PostgreSQL stopped during recovery")
                ) from None
        time.sleep(0.1)
    raise TransientError(f"recovery did not finish within {timeout_s:g} s")


def _backrest_target(kind: str, target: str) -> str:
    """pgBackRest reads times as 'YYYY-MM-DD HH:MM:SS.ffffff+00', not ISO 8601 with T and Z."""
    if kind != "time":
        return target
    try:
        when = parse_timestamp(target)
    except TimeFormatError as exc:
        raise PermanentError(str(exc)) from None
    return when.strftime("%Y-%m-%d %H:%M:%S.%f") + "+00"


def safety_copy(pg: PostgresAdapter) -> dict[str, Any]:
    """Copy the stopped data directory aside, so a restore can be undone by hand."""
    host = pg.local_host()
    if host.is_running():
        raise PermanentError("the database is running; a safety copy is taken while stopped")
    stamp = file_stamp()
    dest = f"{host.data_dir}.before-restore-{stamp}"
    result = run_as(["cp", "-a", host.data_dir, dest], user=pg.section.get("os_user"), timeout=7200)
    if result.code != 0:
        raise PermanentError(
            f"the safety copy failed: {result.tail()}",
            hint="check free disk space next to the data directory",
        )
    size = sum(f.stat().st_size for f in Path(dest).rglob("*") if f.is_file())
    return {"path": dest, "bytes": size}


def rebuild_standby(
    pg: PostgresAdapter, source_host: str, source_port: int, archive_mode: str, ctx: ActionContext
) -> dict[str, Any]:
    """Make this cluster a streaming standby of another: stop it, move its data directory
    aside, pg_basebackup from the source (-R), start, and wait until it streams."""
    host = pg.local_host()
    section = pg.section
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
    pg.wait_ready(None, 120)
    # its WAL receiver connects a moment after it accepts connections: wait for it here (on a
    # short poll) rather than leave the plan's next check to fail and retry seconds later
    status = wait_until(lambda: _streaming(pg), STREAM_WAIT_S, 0.05) or pg.replication_status()
    if status["role"] != "standby":
        raise PermanentError("the rebuilt cluster is not in recovery; check its log")
    return {"role": "standby", "moved_aside": aside, **status}


STREAM_WAIT_S = 30.0  # a rebuilt standby that does not stream by then is left to the check


def _streaming(pg: PostgresAdapter) -> dict[str, Any] | None:
    """The standby's replication status once it streams (or is not a standby), else None."""
    status = pg.replication_status()
    return status if status["role"] != "standby" or status.get("streaming") else None


def drop_scratch(pg: PostgresAdapter, data_dir: str) -> dict[str, Any]:
    """Stop and remove a test restore.

    Raises:
        PermanentError: it is not under the scratch directory, or could not be removed.
    """
    problem = _remove_scratch(pg, data_dir)
    if problem:
        raise PermanentError(problem)
    return {"removed": data_dir}


def _remove_scratch(pg: PostgresAdapter, data_dir: str) -> str | None:
    """Stop a test restore's server and delete its directory and log; what went wrong,
    or None when nothing of it is left."""
    base = pg.section.get("scratch_dir")
    if not base or not Path(data_dir).resolve().is_relative_to(Path(base).resolve()):
        return f"{data_dir} is not under the scratch directory {base}; refusing to remove it"
    cluster = LocalCluster(
        data_dir,
        os_user=pg.section.get("os_user"),
        bin_dir=pg.local_host().bin_dir,
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


def _drop_predecessors(pg: PostgresAdapter, ctx: ActionContext) -> tuple[list[str], list[str]]:
    """Remove the scratch restores an earlier attempt of this step left (a kill, a crash):
    the ones removed and the ones that could not be."""
    removed, left = [], []
    for data_dir in _remembered_scratch(ctx):
        if not Path(data_dir).exists():
            continue
        problem = _remove_scratch(pg, data_dir)
        if problem:
            ctx.log(f"an earlier attempt's scratch restore is left: {problem}")
            left.append(data_dir)
        else:
            ctx.log(f"removed an earlier attempt's scratch restore {data_dir}")
            removed.append(data_dir)
    return removed, left


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
