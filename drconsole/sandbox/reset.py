"""``drconsole sandbox reset``: back to the healthy baseline from whatever a drill left, without
deleting the sandbox.

The baseline: the primary database accepts writes and archives, the standby streams from it,
the newest pgBackRest backup is on the primary's timeline (and copied to the bucket), both
OpenBao servers are up, unsealed and clusters of their own (the primary with its sample
secrets), the Kubernetes simulators and DNS are at their seeds (the api-server and the API's
name at the primary), the development HSM token is empty, the writer and the Vault snapshot
schedule run, and a fresh Vault snapshot is published. WAL archiving is checked after the
repairs: an archive in conflict (another server's WAL of the primary's timeline, pgBackRest's
"different checksum") is made again (stanza deleted and created, a full backup); anything else
wrong with archiving is named, and the sandbox is then not called at its baseline. Faults a
facilitator injected (``sandbox inject``) are healed first. Only what differs is repaired; a
part that cannot be repaired is named with what to do.
"""

from __future__ import annotations

import shutil
import time
import urllib.request
from pathlib import Path
from typing import Any

import psycopg

from drconsole.adapters.base import AdapterError
from drconsole.adapters.postgres import PostgresAdapter
from drconsole.sandbox import auditlog, dns, faults, k8s, manager, openbao, postgres, s3, softhsm
from drconsole.sandbox.manager import SandboxError, SandboxState
from drconsole.sandbox.postgres import PgLayout

# pgBackRest's words when the archive holds a different file of the same name
CONFLICT = "already exists in the repo1 archive with a different checksum"


def reset(root: Path, runs_dir: Path | None = None) -> str:
    """Repair every part that differs from the baseline; say what was done and how long it took.

    Raises:
        SandboxError: no sandbox there; or a run in ``runs_dir`` is being driven against it
            (a reset would pull its systems from under it mid-step).
    """
    root = root.resolve()
    state = manager.load_state(root)
    if state is None:
        raise SandboxError(f"no sandbox in {root}; run 'drconsole sandbox up --dir {root}'")
    if runs_dir is not None and (driven := driven_runs(root, runs_dir)):
        raise SandboxError(
            "not reset: a run is being driven against this sandbox, and a reset would change "
            f"its systems under it: {'; '.join(driven)}. Let it end (or abort it at its "
            "console), then reset; `drconsole watch RUN_DIR` shows where it is"
        )
    began = time.monotonic()
    said = faults.heal_all(root)  # a facilitator's injected faults first, each undone exactly
    said += [manager.writer_stop(root), manager.snapshotter_stop(root), auditlog.stop(root)]
    said += manager.drop_scratch_restores(state)  # test restores a killed run left behind
    part = "PostgreSQL"
    try:
        databases, backed_up = _databases(state)
        said += databases
        unrepaired = _archiving_left(state)
        said += unrepaired
        part = "OpenBao"
        said += _vaults(root, state)
        part = "object storage, DNS and the Kubernetes simulators"
        said += _services(root, state, publish=backed_up)
        part = "the practice HSM"
        said += _hsm(root)
    except (AdapterError, RuntimeError, OSError, psycopg.Error) as exc:
        raise SandboxError(
            f"reset could not repair {part}: {exc}\n(done so far: {'; '.join(said)}); "
            "if it fails again, recreate the sandbox: sandbox down, delete "
            f"{root}, sandbox up"
        ) from None
    said.append(manager.writer_start(root))
    said.append(manager.snapshot(root, "primary").splitlines()[0])
    said.append(manager.snapshotter_start(root))
    said.append(auditlog.start(root))
    took = f"{time.monotonic() - began:.1f} s"
    if unrepaired:
        said.append(f"the sandbox is NOT at its baseline ({took}): WAL archiving is not healthy")
    else:
        said.append(f"the sandbox is at its baseline ({took})")
    return "\n".join(said)


def driven_runs(root: Path, runs_dir: Path) -> list[str]:
    """The unfinished runs in ``runs_dir`` whose targets are this sandbox's and that a live
    process drives now, each as ``RUN_DIR (driven by ...)``."""
    from drconsole.faultlog import sandbox_of
    from drconsole.runs.follow import driver
    from drconsole.runs.rundir import list_runs

    found = []
    for run in list_runs(runs_dir) if runs_dir.is_dir() else []:
        used = sandbox_of(run.state.targets_file)
        if run.state.finished or used is None or used.resolve() != root:
            continue
        now = driver(run.path)
        if now.driving:
            found.append(f"{run.path} ({now.describe()})")
    return found


# ----------------------------------------------------------------------------- PostgreSQL
def _one(layout: PgLayout, port: int, sql: str) -> object:
    with psycopg.connect(
        layout.dsn(port, "postgres", "postgres"), autocommit=True, connect_timeout=3
    ) as conn:
        row = conn.execute(sql).fetchone()
        return row[0] if row else None


def _wait_writable(layout: PgLayout, within_s: float = 60) -> None:
    deadline = time.monotonic() + within_s
    while True:
        try:
            if _one(layout, layout.primary_port, "SELECT NOT pg_is_in_recovery()"):
                return
        except psycopg.Error:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the primary did not accept writes within {within_s:.0f} s")
        time.sleep(0.2)


def _timeline(layout: PgLayout, port: int) -> str:
    return str(_one(layout, port, "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)"))


def _standby_follows(layout: PgLayout) -> bool:
    """The standby is in recovery, receiving the primary's current timeline, and streaming."""
    try:
        streaming = _one(
            layout,
            layout.primary_port,
            "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
        )
        received = _one(
            layout,
            layout.standby_port,
            "SELECT lpad(upper(to_hex(received_tli)), 8, '0') FROM pg_stat_wal_receiver",
        )
    except psycopg.Error:
        return False
    return bool(streaming) and received == _timeline(layout, layout.primary_port)


def _databases(state: SandboxState) -> tuple[list[str], bool]:
    """What was repaired, and whether a backup was taken."""
    said = []
    layout = state.layout()
    primary, standby = layout.cluster("primary"), layout.cluster("standby")
    if not (layout.primary / "PG_VERSION").exists():
        said.append(_primary_from_standby(layout))
    elif not primary.is_running():
        primary.start()
        said.append("primary PostgreSQL started")
    if _one(layout, layout.primary_port, "SELECT pg_is_in_recovery()"):
        _one(layout, layout.primary_port, "SELECT pg_promote(true, 60)")
        said.append("primary PostgreSQL promoted (it was a standby)")
    _wait_writable(layout)
    if not _standby_follows(layout):
        standby.stop()
        postgres.create_standby(layout)
        said.append("standby rebuilt from the primary (it did not follow the primary)")
    repaired = _archive_conflict_repaired(state)
    if repaired:
        said.append(repaired)
    backed_up = bool(repaired) or _backup_on_this_timeline(layout)
    if backed_up and not repaired:
        said.append("a backup taken on the primary's new timeline")
    for aside in sorted(layout.pg.glob("*.before-*")):
        shutil.rmtree(aside, ignore_errors=True)
        said.append(f"removed {aside.name} (a data directory a drill kept aside)")
    return said, backed_up


def _primary_from_standby(layout: PgLayout) -> str:
    """The primary's data directory is gone (a failback stopped half-way): copy the standby's."""
    if not layout.cluster("standby").is_running():
        raise RuntimeError(
            f"the primary's data directory {layout.primary} is missing and the standby is "
            "down: nothing to rebuild the primary from"
        )
    postgres.copy_cluster(layout, layout.standby_port, "primary")
    return "primary rebuilt from the standby (its data directory was missing)"


def _backup_on_this_timeline(layout: PgLayout) -> bool:
    """A backup on the primary's timeline, so that restores need no WAL from another one
    (True when one had to be taken)."""
    backrest = layout.backrest()
    backups = backrest.info().get("backup") or []
    newest = str((backups[-1].get("archive") or {}).get("start") or "") if backups else ""
    if newest[:8] == _timeline(layout, layout.primary_port):
        return False
    backrest.run("backup", "--type=full")  # a copy as large as the ones before it
    return True


def _archive_conflict_repaired(state: SandboxState) -> str | None:
    """When the primary's archiving fails because the archive holds another server's WAL of
    its timeline (a promotion whose .history never reached the archive, so a later restore
    reused the timeline), or the archive holds a timeline above the primary's (the DR's
    promotion in a failover with no failback: the primary, started again, never followed it,
    and every restore, which takes the newest timeline, followed the DR's branch and stopped
    short of its target), the practice archive cannot be trusted any more: delete the stanza,
    create it again and take a full backup. Says what was done, or None."""
    health = archive_state(state, "primary")
    if health["failing"] and CONFLICT in str(health["server_error"]):
        why = f"in conflict ({health['server_error']})"
    elif branch := _abandoned_timeline(state):
        why = (
            f"holding timeline {branch}, a promotion the primary never followed (restores "
            "took that branch and stopped short of their target)"
        )
    else:
        return None
    backrest = state.layout().backrest()
    backrest.run("stop")
    try:
        backrest.run("stanza-delete", "--force")
    finally:
        backrest.run("start")
    backrest.run("stanza-create")
    backrest.run("backup", "--type=full")
    return (
        f"the practice archive was {why}: stanza {postgres.STANZA} deleted and created again, "
        "a new full backup taken; restores reach back only to it"
    )


def _abandoned_timeline(state: SandboxState) -> str | None:
    """The newest timeline in the archive when it is above the primary's, else None."""
    layout = state.layout()
    archive = layout.backrest_dir / "repo" / "archive" / postgres.STANZA
    newest = max((int(h.stem, 16) for h in archive.glob("*/*.history")), default=0)
    mine = int(_timeline(layout, layout.primary_port), 16)
    return f"{newest:08X}" if newest > mine else None


def archive_state(state: SandboxState, which: str) -> dict[str, Any]:
    """postgres.archive_state of one of the sandbox's clusters."""
    return PostgresAdapter(manager._pg_section(state, which)).archive_state()


def _archiving_left(state: SandboxState) -> list[str]:
    """What is still wrong with either cluster's archiving after the repairs, each with what
    to do (reset repairs only an archive in conflict)."""
    said = []
    for which in ("primary", "standby"):
        pg = PostgresAdapter(manager._pg_section(state, which))
        health = pg.archive_settled(lambda h: bool(h["healthy"]))
        if not health["healthy"]:
            said.append(
                f"WAL archiving of the {which} is NOT healthy and reset cannot repair it: "
                f"{'; '.join(health['problems'])}; read {which}.log in {state.layout().pg} "
                "(the archive command's errors), or recreate the sandbox"
            )
    return said


# ----------------------------------------------------------------------------- OpenBao
def _vaults(root: Path, state: SandboxState) -> list[str]:
    said = []
    servers = {s.name: s for s in openbao.servers(root, state.bao_ports or {})}
    for name, server in servers.items():
        partner = next(s for s in servers.values() if s is not server)
        if not server.pid():
            server.start()
            said.append(f"OpenBao {name} started")
        for aside in sorted(server.dir.glob("data.before-*")):
            shutil.rmtree(aside, ignore_errors=True)
            said.append(f"removed OpenBao {name}'s {aside.name} (data a drill moved aside)")
        if not server.client().sys.is_initialized():  # its data was lost (sandbox lose-site)
            server.reset()
            if name == "primary":
                server.seed()
            said.append(f"OpenBao {name} made a new cluster of its own (its data was lost)")
        if server.client().sys.read_seal_status()["sealed"]:
            try:
                server.unseal_for_practice(partner)
                said.append(f"OpenBao {name} unsealed with the practice shares")
            except RuntimeError:  # neither keyring opens it (a restore cut short): made anew
                pass
        if not server.own_token_works():
            server.reset()
            if name == "primary":
                server.seed()
            said.append(f"OpenBao {name} made an empty cluster of its own again (a drill "
                        "restored another cluster's snapshot into it)")  # fmt: skip
    return said


# ------------------------------------------------------- object storage, DNS, Kubernetes
def _services(root: Path, state: SandboxState, publish: bool) -> list[str]:
    said = []
    moto = manager._moto(state)
    if moto is not None:
        if not moto.pid():
            moto.start()  # in memory: the bucket is made again
            said.append("s3 (moto) started")
            publish = True
        proxy = manager._proxy(state)
        if proxy is not None and not proxy.pid():
            proxy.start()
            said.append("S3 fault proxy started")
        dns.ensure_zone(moto)  # the API's name at the primary again
        if publish:
            repo = state.layout().backrest_dir / "repo"
            said.append("published " + s3.publish_backup(moto, repo, postgres.STANZA))
    for sim in k8s.simulators(root, state.bao_ports or {}):
        sim.stop()
        sim.start()
        if k8s.API_REPLICAS[sim.site]:
            _wait_healthy(sim.health_url())
    said.append("Kubernetes simulators back at their seeds; DNS at the primary")
    return said


def _wait_healthy(url: str, within_s: float = 20) -> None:
    """Until the api-server's pods are ready (the simulator answers 200 for its health)."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the api-server did not become ready ({url})") from None
            time.sleep(0.2)


def _hsm(root: Path) -> list[str]:
    practice = manager._practice_hsm(root)
    if practice is None:
        return []
    gone = softhsm.practice_clear(practice)
    return [f"{softhsm.DEV_TOKEN}: {gone} restored key(s) removed"] if gone else []
