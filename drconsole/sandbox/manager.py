"""``drconsole sandbox up|down|status|env|writer``: the sandbox's lifecycle and its files.

``DIR/sandbox.json`` records ports and who owns what; ``DIR/targets.yaml`` describes the sites
``sandbox``, ``primary`` and ``dr`` for plans; ``DIR/PRACTICE-ONLY.txt`` says what this is.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psycopg
import yaml

from drconsole.adapters.base import AdapterError, wait_until
from drconsole.adapters.oscmd import free_port
from drconsole.sandbox import auditlog, dns, k8s, openbao, postgres, s3, softhsm
from drconsole.sandbox.postgres import PgLayout
from drconsole.sandbox.programs import SNAPSHOTS, WRITER
from drconsole.sandbox.s3proxy import FaultProxy

STATE = "sandbox.json"
NOTE = (
    "PRACTICE ONLY. This directory is a drconsole sandbox: local PostgreSQL clusters, a\n"
    "pgBackRest repository and demo credentials for drills and tests. Nothing here protects\n"
    "real data, and any secret kept here is a practice secret. `drconsole sandbox down` stops\n"
    "it; deleting the directory removes it.\n"
)


class SandboxError(Exception):
    """The sandbox cannot do what was asked; the message says what to do."""


@dataclass
class SandboxState:
    root: str
    os_user: str
    primary_port: int
    standby_port: int
    created_at: float
    bao_ports: dict[str, int] | None = None

    def layout(self) -> PgLayout:
        return PgLayout(Path(self.root), self.primary_port, self.standby_port, self.os_user)


def load_state(root: Path) -> SandboxState | None:
    try:
        return SandboxState(**json.loads((root / STATE).read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as exc:
        raise SandboxError(
            f"{root / STATE} is unreadable ({exc}); remove the directory "
            "and run 'drconsole sandbox up' again"
        ) from None


def writer_pid(root: Path) -> int | None:
    return WRITER.pid(root)


def writer_start(root: Path) -> str:
    """Start the steady writer; when a standby follows, wait (up to 10 s) until it has replayed
    a row, so that a failover drill started right away finds a standby whose data has an age
    (one that has replayed nothing since it started is refused as stale, rightly)."""
    state = _require(root)
    said = WRITER.start(
        root,
        [sys.executable, "-m", "drconsole.sandbox.writer",
         "--dsn", state.layout().dsn(state.primary_port), "--interval", "0.2"],
    )  # fmt: skip
    if not wait_until(lambda: _standby_replayed(state), 10.0, 0.1):
        said += "; the standby has replayed no row yet (a failover now is refused as stale)"
    return said


def _standby_replayed(state: SandboxState) -> bool:
    """True unless a running standby has replayed no transaction since it started."""
    dsn = state.layout().dsn(state.standby_port, "postgres", "postgres")
    try:
        with psycopg.connect(dsn, connect_timeout=2, autocommit=True) as conn:
            row = conn.execute(
                "SELECT NOT pg_is_in_recovery() OR pg_last_xact_replay_timestamp() IS NOT NULL"
            ).fetchone()
    except psycopg.Error:
        return True  # no standby running: nothing to wait for
    return bool(row and row[0])


def writer_stop(root: Path) -> str:
    return WRITER.stop(root)


def _require(root: Path) -> SandboxState:
    state = load_state(root)
    if state is None:
        raise SandboxError(f"no sandbox in {root}; run 'drconsole sandbox up --dir {root}'")
    return state


def up(root: Path) -> str:
    """Create if missing and start everything. A second ``up`` says so and does nothing."""
    root = root.resolve()
    state = load_state(root)
    try:
        if state is None:
            root.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                root.chmod(0o755)
            (root / "PRACTICE-ONLY.txt").write_text(NOTE)
            bao_ports = {k: free_port() for k in PORT_NAMES}
            state = SandboxState(
                str(root),
                postgres.os_user_for_clusters(),
                free_port(),
                free_port(),
                time.time(),
                bao_ports,
            )
            postgres.create(state.layout())
            openbao.create(root, bao_ports)
            bucket = s3.MotoServer(root, bao_ports["s3"])
            bucket.start()
            FaultProxy(root, bao_ports["s3_proxy"], bucket.port).start()
            dns.ensure_zone(bucket)
            s3.publish_backup(bucket, state.layout().backrest_dir / "repo", postgres.STANZA)
            for sim in k8s.simulators(root, bao_ports):
                sim.start()
            _ensure_hsm(root)
            (root / STATE).write_text(json.dumps(asdict(state), indent=2))
            write_targets(state)
            writer_start(root)
            snapshot(root, "primary")  # the plans find a Vault snapshot from the first second
            snapshotter_start(root)
            auditlog.start(root)
            return f"sandbox created in {root}\n" + status(root)
        layout = state.layout()
        started = ["practice HSM tokens (created)"] if _ensure_hsm(root) else []
        _ensure_ports(state)
        write_targets(state)  # always current, also after an upgrade of drconsole
        for which in ("primary", "standby"):
            cluster = layout.cluster(which)
            if not cluster.is_running():
                cluster.start()
                started.append(which)
        if not writer_pid(root):
            writer_start(root)
            started.append("writer")
        bao = openbao.servers(root, state.bao_ports or {})
        for server in bao:
            if not server.pid():
                server.start()
                other = next(s for s in bao if s is not server)
                server.unseal_for_practice(other)
                started.append(f"openbao {server.name}")
        moto = _moto(state)
        if moto is not None and not moto.pid():
            moto.start()  # in memory: the bucket is made again and the newest backup published
            dns.ensure_zone(moto)
            s3.publish_backup(moto, layout.backrest_dir / "repo", postgres.STANZA)
            started.append("s3 (moto)")
        proxy = _proxy(state)
        if proxy is not None and not proxy.pid():
            proxy.start()
            started.append("S3 fault proxy")
        for sim in k8s.simulators(root, state.bao_ports or {}):
            if not sim.pid():
                sim.start()
                started.append(f"kubernetes simulator {sim.site}")
        from drconsole.sandbox.faults import schedule_paused_by

        paused = schedule_paused_by(root)  # a fault that a fresh snapshot would undo
        if not SNAPSHOTS.pid(root) and paused is None:
            snapshot(root, "primary")  # a fresh one (moto's bucket may have been made again)
            snapshotter_start(root)
            started.append("Vault snapshot schedule")
        if not auditlog.pid(root):
            auditlog.start(root)
            started.append("audit-log shipping")
    except (AdapterError, RuntimeError) as exc:
        raise SandboxError(f"the sandbox could not start: {exc}") from None
    kept = f"{paused}\n" if paused else ""
    if not started:
        return f"the sandbox in {root} is up already; nothing to do\n{kept}" + status(root)
    return f"started: {', '.join(started)}\n{kept}" + status(root)


PORT_NAMES = (
    "bao_primary",
    "bao_primary_cluster",
    "bao_dr",
    "bao_dr_cluster",
    "s3",
    "s3_proxy",
    "k8s_primary",
    "k8s_dr",
)


def _ensure_ports(state: SandboxState) -> None:
    """Give a sandbox made by an older drconsole the ports of the services added since."""
    ports = dict(state.bao_ports or {})
    missing = [name for name in PORT_NAMES if name not in ports]
    if not missing:
        return
    ports.update({name: free_port() for name in missing})
    state.bao_ports = ports
    (Path(state.root) / STATE).write_text(json.dumps(asdict(state), indent=2))


def _practice_hsm(root: Path) -> softhsm.PracticeHsm | None:
    hsm = softhsm.PracticeHsm(root / "hsm")
    return hsm if hsm.conf.exists() else None


def _ensure_hsm(root: Path) -> bool:
    """Create the practice HSM tokens when SoftHSM2 is installed and they are missing."""
    if _practice_hsm(root) is not None or softhsm.module_path() is None:
        return False
    softhsm.create(root / "hsm")
    return True


def hsm(root: Path, action: str, file: Path | None = None) -> str:
    """The practice stand-ins for the vendor's HSM commands: backup, restore, clear."""
    _require(root)
    practice = _practice_hsm(root)
    if practice is None:
        raise SandboxError("the sandbox has no practice HSM: install softhsm2, then sandbox up")
    try:
        if action == "backup":
            if file is None:
                raise SandboxError("name the backup file: sandbox hsm backup FILE")
            digest = softhsm.practice_backup(practice, file)
            return f"practice backup written: {file} and {file}.sha256 (SHA-256 {digest})"
        if action == "restore":
            if file is None:
                raise SandboxError("name the backup file: sandbox hsm restore FILE")
            if not file.is_file():
                raise SandboxError(f"no such backup file: {file}")
            try:
                softhsm.practice_restore(practice, file)
            except softhsm.AlreadyHeld as exc:
                raise SandboxError(f"practice HSM: {exc}; nothing was restored") from None
            return f"restored {softhsm.MASTER_KEY} onto {softhsm.DEV_TOKEN} from {file}"
        if action == "clear":
            gone = softhsm.practice_clear(practice)
            return f"{softhsm.DEV_TOKEN}: {gone} object(s) labelled {softhsm.MASTER_KEY} removed"
    except AdapterError as exc:
        raise SandboxError(f"practice HSM: {exc}") from None
    except Exception as exc:  # a PKCS#11 error from the practice token
        raise SandboxError(f"practice HSM: {type(exc).__name__}: {exc}") from None
    raise SandboxError(f"unknown action {action!r}; use backup, restore or clear")


def down(root: Path) -> str:
    state = _require(root)
    said = [writer_stop(root), snapshotter_stop(root), auditlog.stop(root)]
    for server in openbao.servers(root, state.bao_ports or {}):
        said.append(
            f"openbao {server.name} stopped"
            if server.stop()
            else f"openbao {server.name} was not running"
        )
    moto = _moto(state)
    if moto is not None:
        said.append("s3 (moto) stopped" if moto.stop() else "s3 (moto) was not running")
    proxy = _proxy(state)
    if proxy is not None:
        said.append("S3 fault proxy stopped" if proxy.stop() else "S3 fault proxy was not running")
    for sim in k8s.simulators(root, state.bao_ports or {}):
        name = f"kubernetes simulator {sim.site}"
        said.append(f"{name} stopped" if sim.stop() else f"{name} was not running")
    said.extend(drop_scratch_restores(state))
    for which in ("standby", "primary"):
        cluster = state.layout().cluster(which)
        try:
            running = cluster.is_running()
            cluster.stop()
        except AdapterError as exc:
            said.append(f"{which}: {exc}")
            continue
        said.append(f"{which} stopped" if running else f"{which} was not running")
    return "\n".join(said)


def drop_scratch_restores(state: SandboxState) -> list[str]:
    """Stop and remove the test restores left in the scratch directory (a killed run's)."""
    from drconsole.adapters.pgrestore import drop_scratch
    from drconsole.adapters.postgres import PostgresAdapter

    pg = PostgresAdapter(_pg_section(state, "primary"))
    said = []
    for data_dir in sorted(Path(state.root, "scratch").glob("restore-*")):
        if not data_dir.is_dir():
            continue
        try:
            drop_scratch(pg, str(data_dir))
        except AdapterError as exc:
            said.append(f"scratch restore {data_dir.name} NOT removed: {exc}")
            continue
        said.append(f"scratch restore {data_dir.name} stopped and removed")
    return said


def in_recovery(dsn: str) -> bool | None:
    """Whether a sandbox cluster is a standby (True) or takes writes (False); None when it does
    not answer within 2 s."""
    try:
        with psycopg.connect(dsn, connect_timeout=2) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    except psycopg.Error:
        return None
    return bool(row and row[0])


def _ping(dsn: str) -> str:
    recovering = in_recovery(dsn)
    if recovering is None:
        return "DOWN"
    return "up, standby (in recovery)" if recovering else "up, accepting writes"


def archiving(state: SandboxState) -> str:
    """Both clusters' WAL archiving in words (postgres.archive_state's ``state``)."""
    from drconsole.adapters.postgres import PostgresAdapter

    said = []
    for which in ("primary", "standby"):
        try:
            said.append(
                f"{which} {PostgresAdapter(_pg_section(state, which)).archive_state()['state']}"
            )
        except AdapterError as exc:
            said.append(f"{which} unknown ({exc})")
    return "; ".join(said)


def _moto(state: SandboxState) -> s3.MotoServer | None:
    port = (state.bao_ports or {}).get("s3")
    return s3.MotoServer(Path(state.root), port) if port else None


def _proxy(state: SandboxState) -> FaultProxy | None:
    """The S3 fault proxy in front of moto: the s3 endpoint the targets name (``faults``)."""
    ports = state.bao_ports or {}
    if "s3" not in ports or "s3_proxy" not in ports:
        return None
    return FaultProxy(Path(state.root), ports["s3_proxy"], ports["s3"])


def publish(root: Path) -> str:
    """Upload the newest pgBackRest backup to the sandbox bucket (a copy, as one tar)."""
    state = _require(root)
    moto = _moto(state)
    if moto is None or not moto.pid():
        raise SandboxError("the sandbox's object storage is not running: 'drconsole sandbox up'")
    try:
        return "published " + s3.publish_backup(
            moto, state.layout().backrest_dir / "repo", postgres.STANZA
        )
    except (AdapterError, RuntimeError) as exc:
        raise SandboxError(f"publishing failed: {exc}") from None


def _bao_state(server: openbao.BaoServer) -> str:
    if not server.pid():
        return "DOWN"
    try:
        seal = server.client().sys.read_seal_status()
    except Exception:  # noqa: BLE001 - shown as not answering
        return "NOT ANSWERING"
    word = "SEALED" if seal["sealed"] else "unsealed"
    return f"{word} ({seal['t']} of {seal['n']})"


def _streams(dsn: str) -> bool:
    """Whether a standby's WAL receiver streams now (a standby cut off from its primary's
    timeline, after a point-in-time restore of the primary, retries and never streams)."""
    try:
        with psycopg.connect(dsn, connect_timeout=2) as conn:
            row = conn.execute("SELECT status FROM pg_stat_wal_receiver").fetchone()
    except psycopg.Error:
        return False
    return bool(row and row[0] == "streaming")


def _standby_line(state: SandboxState, primary: str) -> str:
    """The standby's state, and NOT streaming when the primary is up and it does not stream
    from it: it still answers and reads as a standby, but holds only what it had."""
    dsn = state.layout().dsn(state.standby_port)
    said = _ping(dsn)
    # a receiver that just restarted (the primary restarted) streams within a second
    if (
        primary == "up, accepting writes"
        and said.startswith("up, standby")
        and not wait_until(lambda: _streams(dsn), 3, interval_s=0.2)
    ):
        said += ", NOT streaming from the primary (rebuild it: sandbox reset)"
    return said


def status(root: Path) -> str:
    state = _require(root)
    layout = state.layout()
    lines = [f"sandbox {root} (practice only; clusters run as {state.os_user})"]
    primary = _ping(layout.dsn(state.primary_port))
    lines.append(f"  postgres primary  127.0.0.1:{state.primary_port:<6} {primary}")
    standby = _standby_line(state, primary)
    lines.append(f"  postgres standby  127.0.0.1:{state.standby_port:<6} {standby}")
    lines.append(f"  WAL archiving      {archiving(state)}")
    pid = writer_pid(root)
    lines.append(f"  writer             {f'running (pid {pid})' if pid else 'stopped'}")
    lines.append(f"  Vault snapshots    {_snapshots_line(root)}")
    lines.append(f"  audit logs         {auditlog.status_line(root)}")
    for server in openbao.servers(root, state.bao_ports or {}):
        lines.append(f"  openbao {server.name:<10} {server.addr:<23} {_bao_state(server)}")
    moto = _moto(state)
    if moto is not None:
        where = f"{moto.endpoint}  bucket {s3.BUCKET}"
        lines.append(f"  s3 (moto)          {where:<35} {'up' if moto.pid() else 'DOWN'}")
    proxy = _proxy(state)
    if proxy is not None:
        where = f"{proxy.endpoint}  (the targets' s3 endpoint)"
        lines.append(f"  S3 fault proxy     {where:<35} {'up' if proxy.pid() else 'DOWN'}")
    for sim in k8s.simulators(root, state.bao_ports or {}):
        up_or_down = "up" if sim.pid() else "DOWN"
        lines.append(f"  k8s sim {sim.site:<10} {sim.url:<23} {up_or_down}")
    lines.append(f"  pgbackrest         stanza {postgres.STANZA}, {layout.backrest_config}")
    practice = _practice_hsm(root)
    hsm_line = (
        f"SoftHSM2 tokens {softhsm.PROD_TOKEN} (site hsm), {softhsm.DEV_TOKEN} (site dev-hsm)"
        if practice
        else "none (install softhsm2, then sandbox up)"
    )
    lines.append(f"  practice HSM       {hsm_line}")
    lines.append(f"  targets file       {root / 'targets.yaml'}")
    return "\n".join(lines)


def env(root: Path, site: str = "primary") -> str:
    state = _require(root)
    if site not in ("primary", "dr", "sandbox"):
        raise SandboxError(f"unknown site {site!r}; use primary, dr or sandbox")
    port = state.standby_port if site == "dr" else state.primary_port
    values = {"PGHOST": "127.0.0.1", "PGPORT": str(port), "PGUSER": "qsign", "PGDATABASE": "qsign"}
    bao = {s.name: s for s in openbao.servers(root, state.bao_ports or {})}
    server = bao.get("dr" if site == "dr" else "primary")
    if server is not None:
        token = server.dir / "PRACTICE-ONLY-root-token"
        values.update(
            VAULT_ADDR=server.addr,
            BAO_ADDR=server.addr,
            VAULT_TOKEN=token.read_text().strip() if token.exists() else "",
        )
        values["BAO_TOKEN"] = values["VAULT_TOKEN"]
    moto = _moto(state)
    if moto is not None:
        values.update(
            AWS_ENDPOINT_URL=moto.endpoint,
            AWS_DEFAULT_REGION=s3.REGION,
            AWS_ACCESS_KEY_ID=s3.PRACTICE_KEY,
            AWS_SECRET_ACCESS_KEY=s3.PRACTICE_SECRET,
        )
    sims = k8s.simulators(root, state.bao_ports or {})
    if sims:
        values["KUBECONFIG"] = str(k8s.kubeconfig_path(root))
    lines = [f"export {k}={shlex.quote(v)}" for k, v in values.items()]
    return "\n".join(lines + ([k8s.contexts_note(sims, site)] if sims else []))


def _pg_section(state: SandboxState, which: str) -> dict[str, Any]:
    layout = state.layout()
    cluster = layout.cluster(which)
    port = state.primary_port if which == "primary" else state.standby_port
    return {
        "host": "127.0.0.1",
        "port": port,
        "dbname": "qsign",
        "user": "qsign",
        "host_kind": "local",
        "data_dir": cluster.data_dir,
        "log_file": cluster.log_file,
        "os_user": state.os_user,
        "bin_dir": layout.bin_dir,
        "pgbackrest": {"config": str(layout.backrest_config), "stanza": postgres.STANZA},
        "scratch_dir": str(Path(state.root) / "scratch"),
    }


def write_targets(state: SandboxState) -> Path:
    root = Path(state.root)
    me = [sys.executable, "-m", "drconsole", "sandbox"]
    writers = {
        "stop": [*me, "writer", "stop", "--dir", str(root)],
        "start": [*me, "writer", "start", "--dir", str(root)],
    }
    primary: dict[str, Any] = {
        "drill": True,
        "description": "sandbox primary (practice only)",
        "postgres": _pg_section(state, "primary"),
        "writers": writers,
    }
    dr: dict[str, Any] = {
        "drill": True,
        "description": "sandbox DR standby (practice only)",
        "postgres": _pg_section(state, "standby"),
        "writers": writers,
    }
    servers = openbao.servers(root, state.bao_ports or {})
    # where each cluster's practice shares lie, named in the custodians' prompt (a DR Vault
    # force-restored from the primary's snapshot takes the primary's shares)
    shares = {s.name: str(s.dir / "PRACTICE-ONLY-share-N") for s in servers}
    for server in servers:
        section = {
            "addr": server.addr,
            "practice_shares": shares,
            "token_file": str(server.dir / "PRACTICE-ONLY-root-token"),
            "host_kind": "local",
            "binary": openbao.bao_binary(),
            "config": str(server.config),
            "pidfile": str(server.pidfile),
            "log_file": str(server.dir / "bao.log"),
            "snapshots": str(root / "openbao" / "snapshots"),
        }
        (primary if server.name == "primary" else dr)["vault"] = section
    moto = _moto(state)
    if moto is not None:
        primary["s3"] = dr["s3"] = moto.section()
        proxy = _proxy(state)
        if proxy is not None:  # plans reach the bucket through it (sandbox inject s3-errors)
            primary["s3"] = dr["s3"] = {**moto.section(), "endpoint": proxy.endpoint}
        primary["dns"] = dr["dns"] = dns.section(moto)
    sims = {sim.site: sim for sim in k8s.simulators(root, state.bao_ports or {})}
    if sims:
        config = k8s.kubeconfig(root, list(sims.values()))
        for site, part in (("primary", primary), ("dr", dr)):
            part["kubernetes"] = {
                "kubeconfig": str(config),
                "context": site,
                "namespace": "qsign",
            }
            part["api_health_url"] = sims[site].health_url()
        primary["app_manifests"] = str(_app_manifests(root))
    for site, part in (("primary", primary), ("dr", dr)):
        part["backup_key"] = {"file": str(_practice_backup_key(root))}
        part["endpoint"] = dns.ENDPOINTS[site]
        part["notify_file"] = str(root / "notifications.log")
        part["simulate_failure"] = [*me, "fail-primary", "--dir", str(root)]
        part["prepare_drill"] = [*me, "prepare-drill", "--dir", str(root)]
    targets: dict[str, Any] = {"sites": {"sandbox": primary, "primary": primary, "dr": dr}}
    practice = _practice_hsm(root)
    if practice is not None:
        for site, token in (("hsm", softhsm.PROD_TOKEN), ("dev-hsm", softhsm.DEV_TOKEN)):
            targets["sites"][site] = {
                "drill": True,
                "description": f"practice HSM token {token} (SoftHSM2, practice only)",
                "hsm": practice.site(token),
            }
    path = root / "targets.yaml"
    path.write_text(
        "# drconsole sandbox targets (practice only)\n" + yaml.safe_dump(targets, sort_keys=False)
    )
    return path


def _app_manifests(root: Path) -> Path:
    """The application's workloads and service as its deployment repository holds them (the
    api-server at 0 replicas: a restore scales it up once the data is back), for
    ``kubectl apply``; the config is not in it (that comes from the config backup)."""
    from drconsole.sandbox.k8ssim import qsign_objects

    versions = {"Service": "v1", "Deployment": "apps/v1", "StatefulSet": "apps/v1"}
    app = [o for o in qsign_objects(0) if o["kind"] in versions]
    for obj in app:
        obj["apiVersion"] = versions[obj["kind"]]
    path = root / "deploy" / "qsign-app.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump_all(app, sort_keys=False))
    return path


def _practice_backup_key(root: Path) -> Path:
    """The practice key config backups and Vault KV exports are sealed with (0600); a real
    site names its own key file or variable in ``backup_key``."""
    path = root / "PRACTICE-ONLY-backup-key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(os.urandom(32).hex() + "\n")
    return path


def prepare_drill(root: Path, runs_dir: Path | None = None) -> str:
    """Before a failover drill: the sandbox at its baseline (``sandbox reset``, refused while a
    run in ``runs_dir`` is driven against it): the primary is the primary, the standby streams,
    the writer runs, the DR Vault is a cluster of its own. What cannot be repaired is named,
    with what to do."""
    from drconsole.sandbox.reset import reset

    return reset(root, runs_dir) + "\nthe sandbox is ready for a drill"


def fail_primary(root: Path) -> str:
    """Simulate the primary site's failure for a drill: its writer and database stop, its
    api-server is scaled to 0, its Vault stops. The DR site is untouched."""
    from drconsole.adapters.base import ActionContext
    from drconsole.adapters.kubernetes import KubeAdapter

    state = _require(root)
    said = [writer_stop(root)]
    try:
        cluster = state.layout().cluster("primary")
        if cluster.is_running():
            cluster.stop()
            said.append("primary PostgreSQL stopped")
        primary = yaml.safe_load((root / "targets.yaml").read_text())["sites"]["primary"]
        if "kubernetes" in primary:
            kube = KubeAdapter(primary["kubernetes"], "primary")
            kube.scale("deployment", "qsign-api", 0, 60.0, ActionContext())
            said.append("primary api-server scaled to 0 (simulator)")
        for server in openbao.servers(root, state.bao_ports or {}):
            if server.name == "primary" and server.stop():
                said.append("primary OpenBao stopped")
    except AdapterError as exc:
        raise SandboxError(f"could not simulate the failure: {exc}") from None
    return "\n".join(said + ["the primary site is down (simulated); the DR site is untouched"])


def lose_site(root: Path) -> str:
    """Destroy the primary site for a full-site restore drill: its writer, database and Vault
    stop; the database's and the Vault's data directories are moved aside (``*.before-*`` and
    ``data.before-*``; ``sandbox reset`` deletes them), an empty one in each place (a fresh
    volume); the ``qsign`` namespace is deleted from the primary's Kubernetes simulator. The
    pgBackRest repository, the bucket and the DR site are untouched. Logged in
    ``faults.jsonl``."""
    from drconsole.adapters.oscmd import run_as
    from drconsole.sandbox import faults

    state = _require(root)
    targets = yaml.safe_load((root / "targets.yaml").read_text())["sites"]["primary"]
    if not targets.get("drill"):
        raise SandboxError("the primary site is not marked drill: true; nothing was changed")
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    said = [writer_stop(root), snapshotter_stop(root)]
    layout = state.layout()
    cluster = layout.cluster("primary")
    if cluster.is_running():
        cluster.stop()
    aside = layout.pg / f"{layout.primary.name}.before-lose-site-{stamp}"
    for argv in (["mv", str(layout.primary), str(aside)],
                 ["mkdir", "-m", "0700", str(layout.primary)]):  # fmt: skip
        result = run_as(argv, user=layout.os_user)
        if result.code != 0:
            raise SandboxError(f"could not move the primary's data aside: {result.tail()}")
    said.append(f"primary PostgreSQL stopped, its data moved to {aside.name}")
    for server in openbao.servers(root, state.bao_ports or {}):
        if server.name == "primary":
            server.stop()
            (server.dir / "data").rename(server.dir / f"data.before-lose-site-{stamp}")
            (server.dir / "data").mkdir(mode=0o700)
            said.append(f"primary OpenBao stopped, its data moved to data.before-lose-site-{stamp}")
    sims = {sim.site: sim for sim in k8s.simulators(root, state.bao_ports or {})}
    if "primary" in sims:
        request = urllib.request.Request(
            f"{sims['primary'].url}/api/v1/namespaces/qsign", method="DELETE"
        )
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except OSError as exc:
            raise SandboxError(f"could not delete the primary's namespace qsign: {exc}") from None
        said.append("namespace qsign deleted from the primary's Kubernetes (simulator)")
    said.append("the primary site is lost (drill); the DR site, the repository and the bucket "
                "are untouched; 'sandbox reset' brings the site back")  # fmt: skip
    faults._log(root, "lose-site", "lose-site", "primary", faults.who(), "; ".join(said))
    return "\n".join(said)


SNAPSHOT_EVERY_S = 300.0  # the guide's hourly, shortened for practice
KEEP_SNAPSHOTS = 24  # the guide keeps 24 hourly


def snapshot_dir(root: Path, site: str) -> Path:
    """Where a site's Vault snapshots go. The primary's go where every plan looks (the DR
    site's ``snapshots`` too: its failover restores the primary's); the DR Vault's own go
    apart, so that a failover never takes one of them for the primary's newest."""
    base = Path(root) / "openbao" / "snapshots"
    return base if site == "primary" else base / site


def snapshot(root: Path, site: str = "primary") -> str:
    """Take a raft snapshot of the sandbox's OpenBao (primary or dr) into its snapshots folder,
    upload it to the bucket, and keep the newest 24 in the folder."""
    from drconsole.adapters import vaultsnap
    from drconsole.adapters.vault import VaultAdapter

    state = _require(root)
    servers = {s.name: s for s in openbao.servers(root, state.bao_ports or {})}
    if site not in servers:
        raise SandboxError(
            f"no OpenBao {site!r} in this sandbox (it has: {', '.join(servers) or 'none'})"
        )
    server = servers[site]
    name = time.strftime("vault-snapshot-%Y%m%d-%H%M%S.snap", time.gmtime())
    folder = snapshot_dir(root, site)
    adapter = VaultAdapter(
        {"addr": server.addr, "token_file": str(server.dir / "PRACTICE-ONLY-root-token")}
    )
    try:
        saved = vaultsnap.snapshot_save(adapter, str(folder / f"{site}-{name}"))
    except AdapterError as exc:
        raise SandboxError(f"the snapshot failed: {exc}") from None
    for old in sorted(folder.glob(f"{site}-vault-snapshot-[0-9]*.snap"))[:-KEEP_SNAPSHOTS]:
        old.unlink()
        Path(f"{old}.sha256").unlink(missing_ok=True)
    said = f"snapshot {saved['path']} ({saved['size']} bytes, sha256 {saved['sha256'][:16]}…)"
    moto = _moto(state)
    if moto is not None and moto.pid():
        key = f"vault/{'snapshots' if site == 'primary' else f'{site}-snapshots'}/{name}"
        try:
            moto.store().upload(saved["path"], key)
        except AdapterError as exc:
            raise SandboxError(f"the snapshot was taken but not uploaded: {exc}") from None
        said += f"\nuploaded to s3://{s3.BUCKET}/{key}"
    return said


def snapshotter_start(root: Path, every_s: float = SNAPSHOT_EVERY_S) -> str:
    """Start the snapshot schedule (the first snapshot is the caller's to take)."""
    return SNAPSHOTS.start(
        root,
        [sys.executable, "-m", "drconsole.sandbox.snapshotter",
         "--dir", str(root), "--every", str(every_s)],
        f", every {every_s:g} s",
    )  # fmt: skip


def _snapshots_line(root: Path) -> str:
    found = [f.stat().st_mtime for f in snapshot_dir(root, "primary").glob("*.snap")]
    newest = f"newest {time.time() - max(found):.0f} s old" if found else "none yet"
    pid = SNAPSHOTS.pid(root)
    return f"{f'schedule running (pid {pid})' if pid else 'schedule stopped'}, {newest}"


def snapshotter_stop(root: Path) -> str:
    return SNAPSHOTS.stop(root)
