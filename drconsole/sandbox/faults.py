"""``drconsole sandbox inject|heal FAULT``: a drill facilitator's surprises, each a real change to
the sandbox's services, and each heal the exact undo of its inject.

- ``crashloop``: the site's ``qsign-api`` Deployment gets the simulator's fault annotation and a
  restart: its new pods wait in CrashLoopBackOff. Heal: the annotation removed, the previous
  restart annotation put back (ready pods again).
- ``seal-vault``: the site's OpenBao is sealed. Heal: unsealed with the practice shares.
- ``lag-standby`` (site ``dr``): ``pg_wal_replay_pause()`` on the DR standby; it still receives
  WAL but replays none, so its lag grows. Heal: ``pg_wal_replay_resume()``.
- ``s3-errors``: the sandbox's S3 fault proxy (``s3proxy.py``, the targets' s3 endpoint) answers
  503 to a share of requests (``--share``, 0.5). Heal: every request passes again.
- ``corrupt-backup``: the newest Vault snapshot under ``vault/snapshots/`` gets a byte changed
  (a new version of the object) with the original's SHA-256 kept beside it as ``.sha256``; the
  snapshot schedule is paused meanwhile, so the damaged copy stays the newest (``sandbox up``
  leaves it paused); a write refused half way is undone at once. Heal: both new versions
  deleted (the original is current again), the schedule started if it ran.
- ``stale-backup``: every backup copy under ``pgbackrest/`` hidden behind a delete marker.
  Heal: the markers deleted (the copies are current again, with their own times).
- ``dns-drift``: ``api.qsign.example.`` points at ``api.drift.qsign.example.``. Heal: back at
  what it pointed at.

Only on a sandbox, only on a site its targets mark ``drill: true``. Every inject and heal is a
line in the sandbox's log ``DIR/faults.jsonl`` (UTC time, who: operator and host, fault, site,
what was done); ``DIR/faults-active.json`` holds what each heal must put back.
"""

from __future__ import annotations

import getpass
import json
import socket
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import psycopg
import yaml

from drconsole.adapters.base import AdapterError
from drconsole.faultlog import LOG
from drconsole.report.injections import FAULTS
from drconsole.sandbox import dns, k8s, manager, openbao, s3
from drconsole.sandbox.k8ssim import FAULT, RESTARTED_AT
from drconsole.sandbox.manager import SandboxError, SandboxState
from drconsole.sandbox.programs import SNAPSHOTS as SNAPSHOT_SCHEDULE
from drconsole.sandbox.s3proxy import control_file
from drconsole.timeutil import format_timestamp, utcnow

ACTIVE = "faults-active.json"
SITES = {"lag-standby": ("dr",)}  # the others: primary or dr; bucket and DNS faults: primary
BUCKET_WIDE = {"s3-errors", "corrupt-backup", "stale-backup", "dns-drift"}
DRIFT_TARGET = "api.drift.qsign.example."
SNAPSHOTS = "vault/snapshots/"
BACKUPS = "pgbackrest/"


def _sites(fault: str) -> tuple[str, ...]:
    if fault in SITES:
        return SITES[fault]
    return ("primary",) if fault in BUCKET_WIDE else ("primary", "dr")


def who(operator: str | None = None) -> dict[str, str]:
    return {"operator": operator or getpass.getuser(), "host": socket.gethostname()}


def _check(root: Path, fault: str, site: str | None) -> tuple[SandboxState, str]:
    """The sandbox, and the site after the refusals: not a sandbox, an unknown fault or site,
    a site not marked for drills."""
    state = manager.load_state(root)
    if state is None or not (root / "PRACTICE-ONLY.txt").exists():
        raise SandboxError(
            f"{root} is not a drconsole sandbox: faults are injected only into a practice "
            "sandbox (sandbox up --dir DIR, then sandbox inject FAULT --dir DIR)"
        )
    if fault not in FAULTS:
        raise SandboxError(f"unknown fault {fault!r}; use one of: {', '.join(FAULTS)}")
    allowed = _sites(fault)
    site = site or allowed[0]
    if site not in allowed:
        raise SandboxError(f"{fault} acts on site {' or '.join(allowed)}, not {site!r}")
    try:
        sites = yaml.safe_load((root / "targets.yaml").read_text())["sites"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        raise SandboxError(
            f"{root / 'targets.yaml'} is missing or unreadable: run 'drconsole sandbox up "
            f"--dir {root}' to write it again"
        ) from None
    if not (sites.get(site) or {}).get("drill"):
        raise SandboxError(
            f"site {site!r} is not marked for drills (drill: true) in {root / 'targets.yaml'}: "
            "faults are injected only into practice sites"
        )
    return state, site


def active(root: Path) -> dict[str, dict[str, Any]]:
    """What is injected now: ``fault@site`` -> what its heal puts back."""
    try:
        found = json.loads((root / ACTIVE).read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def schedule_paused_by(root: Path) -> str | None:
    """Why the Vault snapshot schedule must stay paused (``sandbox up`` leaves it so): a
    corrupt-backup is injected, and a fresh snapshot would silently undo it. None: no reason."""
    if not any(key.startswith("corrupt-backup@") for key in active(root)):
        return None
    return (
        "the Vault snapshot schedule stays paused while corrupt-backup is injected (a fresh "
        "snapshot would undo it): 'drconsole sandbox heal corrupt-backup' starts it again"
    )


def _keep(root: Path, found: dict[str, dict[str, Any]]) -> None:
    tmp = root / f"{ACTIVE}.tmp"
    tmp.write_text(json.dumps(found, indent=2))
    tmp.replace(root / ACTIVE)


def _log(root: Path, action: str, fault: str, site: str, by: dict[str, str], done: str) -> None:
    entry = {
        "at": format_timestamp(utcnow()),
        "action": action,
        "fault": fault,
        "site": site,
        "who": by,
        "done": done,
    }
    with (root / LOG).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")


def inject(
    root: Path, fault: str, site: str | None = None, *, operator: str | None = None,
    share: float = 0.5,
) -> str:  # fmt: skip
    """Inject ``fault`` on ``site`` (its default site when None); say what was done."""
    root = root.resolve()
    state, site = _check(root, fault, site)
    found = active(root)
    if f"{fault}@{site}" in found:
        raise SandboxError(f"{fault} is injected on {site} already; heal it first")
    if not 0 < share <= 1:
        raise SandboxError(f"--share must be above 0 and at most 1, not {share}")
    try:
        undo, done = _INJECT[fault](root, state, site, share)
    except (AdapterError, RuntimeError, OSError, psycopg.Error, KeyError) as exc:
        raise SandboxError(f"could not inject {fault} on {site}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a boto3 or hvac error from the service
        problem = f"{type(exc).__name__}: {exc}"
        raise SandboxError(f"could not inject {fault} on {site}: {problem}") from None
    found[f"{fault}@{site}"] = undo
    _keep(root, found)
    _log(root, "inject", fault, site, who(operator), done)
    return f"injected {fault} on {site}: {done}"


def heal(root: Path, fault: str, site: str | None = None, *, operator: str | None = None) -> str:
    """Undo what ``inject`` did for ``fault`` on ``site``."""
    root = root.resolve()
    state, site = _check(root, fault, site)
    found = active(root)
    undo = found.get(f"{fault}@{site}")
    if undo is None:
        raise SandboxError(f"{fault} is not injected on {site}: nothing to heal")
    try:
        done = _HEAL[fault](root, state, site, undo)
    except (AdapterError, RuntimeError, OSError, psycopg.Error, KeyError) as exc:
        raise SandboxError(f"could not heal {fault} on {site}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a boto3 or hvac error from the service
        problem = f"{type(exc).__name__}: {exc}"
        raise SandboxError(f"could not heal {fault} on {site}: {problem}") from None
    found.pop(f"{fault}@{site}")
    _keep(root, found)
    _log(root, "heal", fault, site, who(operator), done)
    return f"healed {fault} on {site}: {done}"


def heal_all(root: Path, operator: str = "sandbox reset") -> list[str]:
    """Heal every injected fault (``sandbox reset``); one that cannot be healed is forgotten
    and named (what else reset repairs may still cover it)."""
    said = []
    for key in list(active(root)):
        fault, _, site = key.partition("@")
        try:
            said.append(heal(root, fault, site, operator=operator))
        except SandboxError as exc:
            found = active(root)
            found.pop(key, None)
            _keep(root, found)
            _log(root, "heal", fault, site, who(operator), f"forgotten: {exc}")
            said.append(f"{fault} on {site} could not be healed and was forgotten: {exc}")
    return said


# ----------------------------------------------------------------------------- Kubernetes
def _sim_url(root: Path, state: SandboxState, site: str) -> str:
    sims = {s.site: s for s in k8s.simulators(root, state.bao_ports or {})}
    if site not in sims or not sims[site].pid():
        raise RuntimeError(f"the Kubernetes simulator of {site} is not running: sandbox up")
    return f"{sims[site].url}/apis/apps/v1/namespaces/qsign/deployments/qsign-api"


def _k8s(url: str, patch: dict[str, Any] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(patch).encode() if patch is not None else None,
        method="PATCH" if patch is not None else "GET",
        headers={"Content-Type": "application/merge-patch+json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.loads(response.read()))


def _crashloop(root: Path, state: SandboxState, site: str, _: float) -> tuple[Any, str]:
    url = _sim_url(root, state, site)
    deployment = _k8s(url)
    template = deployment["spec"].get("template", {}).get("metadata", {})
    restarted = (template.get("annotations") or {}).get(RESTARTED_AT)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    template_patch = {"metadata": {"annotations": {RESTARTED_AT: now}}}
    _k8s(url, {"metadata": {"annotations": {FAULT: "CrashLoopBackOff"}},
               "spec": {"template": template_patch}})  # fmt: skip
    replicas = deployment["spec"].get("replicas", 0)
    return {"restarted_at": restarted}, (
        f"qsign-api restarted with the fault annotation: its {replicas} new pod(s) wait in "
        "CrashLoopBackOff"
    )


def _crashloop_heal(root: Path, state: SandboxState, site: str, undo: dict[str, Any]) -> str:
    url = _sim_url(root, state, site)
    _k8s(url, {"metadata": {"annotations": {FAULT: None}},
               "spec": {"template": {"metadata": {"annotations": {
                   RESTARTED_AT: undo["restarted_at"]}}}}})  # fmt: skip
    return "fault annotation removed and the previous pods' template put back: pods start ready"


# ----------------------------------------------------------------------------- OpenBao
def _bao(root: Path, state: SandboxState, site: str) -> tuple[Any, Any]:
    servers = {s.name: s for s in openbao.servers(root, state.bao_ports or {})}
    if site not in servers or not servers[site].pid():
        raise RuntimeError(f"OpenBao {site} is not running: sandbox up")
    return servers[site], next(s for s in servers.values() if s.name != site)


def _seal(root: Path, state: SandboxState, site: str, _: float) -> tuple[Any, str]:
    server, partner = _bao(root, state, site)
    if server.client().sys.read_seal_status()["sealed"]:
        raise RuntimeError(f"OpenBao {site} is sealed already")
    for holder in (server, partner):  # after a failover drill the DR Vault takes the other's
        token = (holder.dir / "PRACTICE-ONLY-root-token").read_text().strip()
        client = server.client(token)
        try:
            client.sys.seal()
            break
        except Exception:  # noqa: BLE001 - this token is not this cluster's: try the other
            continue
    if not server.client().sys.read_seal_status()["sealed"]:
        raise RuntimeError(f"OpenBao {site} did not seal with either practice root token")
    return {}, f"OpenBao {site} ({server.addr}) sealed"


def _seal_heal(root: Path, state: SandboxState, site: str, undo: dict[str, Any]) -> str:
    server, partner = _bao(root, state, site)
    if not server.client().sys.read_seal_status()["sealed"]:
        return f"OpenBao {site} was unsealed already (by the drill)"
    server.unseal_for_practice(partner)
    return f"OpenBao {site} unsealed with the practice shares"


# ----------------------------------------------------------------------------- PostgreSQL
def _standby(state: SandboxState, sql: str) -> object:
    layout = state.layout()
    dsn = layout.dsn(state.standby_port, "postgres", "postgres")
    with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn:
        if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:  # type: ignore[index]
            raise RuntimeError("the DR database is not a standby (promoted by a drill?)")
        row = conn.execute(sql).fetchone()
        return row[0] if row else None


def _lag(root: Path, state: SandboxState, site: str, _: float) -> tuple[Any, str]:
    _standby(state, "SELECT pg_wal_replay_pause()")
    return {}, f"replay paused on the DR standby (127.0.0.1:{state.standby_port}); lag grows"


def _lag_heal(root: Path, state: SandboxState, site: str, undo: dict[str, Any]) -> str:
    _standby(state, "SELECT pg_wal_replay_resume()")
    return "replay resumed on the DR standby; it catches up"


# ----------------------------------------------------------------------------- object storage
def _moto(state: SandboxState) -> s3.MotoServer:
    moto = manager._moto(state)
    if moto is None or not moto.pid():
        raise RuntimeError("the sandbox's object storage is not running: sandbox up")
    return moto


def _errors(root: Path, state: SandboxState, site: str, share: float) -> tuple[Any, str]:
    proxy = manager._proxy(state)
    if proxy is None or not proxy.pid():
        raise RuntimeError("the sandbox's S3 fault proxy is not running: sandbox up")
    control_file(root).write_text(json.dumps({"share": share}))
    return {}, f"{round(share * 100)}% of requests to {proxy.endpoint} answered 503"


def _errors_heal(root: Path, state: SandboxState, site: str, undo: dict[str, Any]) -> str:
    control_file(root).unlink(missing_ok=True)
    return "every request passes to the bucket again"


def _corrupt(root: Path, state: SandboxState, site: str, _: float) -> tuple[Any, str]:
    import hashlib

    store = _moto(state).store()
    objs = store.objects(SNAPSHOTS)
    if not objs:
        raise RuntimeError(f"no object under {SNAPSHOTS} to corrupt")
    key = objs[-1]["key"]
    client = store.client()
    body = client.get_object(Bucket=s3.BUCKET, Key=key)["Body"].read()
    digest = hashlib.sha256(body).hexdigest()
    damaged = bytearray(body)
    damaged[len(damaged) // 2] ^= 0xFF
    name = key.rsplit("/", 1)[-1]  # the .sha256 beside it reads as sha256sum writes it
    scheduled = SNAPSHOT_SCHEDULE.pid(root) is not None
    undo: dict[str, Any] = {"key": key, "versions": {}, "scheduled": scheduled}
    manager.snapshotter_stop(root)
    try:
        for where, data in ((key, bytes(damaged)), (f"{key}.sha256", f"{digest}  {name}\n")):
            put = client.put_object(Bucket=s3.BUCKET, Key=where, Body=data)
            undo["versions"][where] = put["VersionId"]
    except Exception as exc:  # noqa: BLE001 - a boto3 error from the service: undo, then say
        _undo_half_done(root, state, site, undo, f"{type(exc).__name__}: {exc}")
    return undo, (
        f"byte {len(body) // 2} of s3://{s3.BUCKET}/{key} changed (its SHA-256 {digest[:16]}… "
        "kept beside it); Vault snapshot schedule paused"
    )


def _undo_half_done(
    root: Path, state: SandboxState, site: str, undo: dict[str, Any], problem: str
) -> NoReturn:
    """A corrupt-backup that failed half way is undone at once (what was written deleted, the
    schedule started again if it ran): the sandbox is as it was, or the message says not.

    Raises:
        RuntimeError: always, saying what failed and whether the sandbox is as it was.
    """
    try:
        _corrupt_heal(root, state, site, undo)
    except Exception as exc:  # noqa: BLE001 - the undo failed too: say what to do
        raise RuntimeError(
            f"{problem}; undoing it failed too ({type(exc).__name__}: {exc}): run "
            f"'drconsole sandbox reset --dir {root}' to put the sandbox right"
        ) from None
    again = "; the Vault snapshot schedule runs again" if undo["scheduled"] else ""
    raise RuntimeError(f"{problem}; nothing is left changed (undone{again})")


def _corrupt_heal(root: Path, state: SandboxState, site: str, undo: dict[str, Any]) -> str:
    client = _moto(state).store().client()
    for key, version in undo["versions"].items():
        client.delete_object(Bucket=s3.BUCKET, Key=key, VersionId=version)
    said = f"the damaged version of {undo['key']} and its .sha256 deleted: the original is current"
    if undo["scheduled"]:
        manager.snapshotter_start(root)
        said += "; Vault snapshot schedule running again"
    return said


def _stale(root: Path, state: SandboxState, site: str, _: float) -> tuple[Any, str]:
    client = _moto(state).store().client()
    listed = client.list_objects_v2(Bucket=s3.BUCKET, Prefix=BACKUPS).get("Contents", [])
    if not listed:
        raise RuntimeError(f"no object under {BACKUPS} to hide")
    markers = {
        o["Key"]: client.delete_object(Bucket=s3.BUCKET, Key=o["Key"])["VersionId"] for o in listed
    }
    return {"markers": markers}, (
        f"{len(markers)} object(s) under {BACKUPS} hidden behind delete markers: no backup copy "
        "is visible"
    )


def _stale_heal(root: Path, state: SandboxState, site: str, undo: dict[str, Any]) -> str:
    client = _moto(state).store().client()
    for key, marker in undo["markers"].items():
        client.delete_object(Bucket=s3.BUCKET, Key=key, VersionId=marker)
    return f"{len(undo['markers'])} delete marker(s) removed: the copies are visible again"


# ----------------------------------------------------------------------------- DNS
def _zone(state: SandboxState) -> tuple[Any, str]:
    from drconsole.adapters.aws import boto_client

    client = boto_client("route53", dns.section(_moto(state)))
    zones = client.list_hosted_zones_by_name(DNSName=dns.ZONE)["HostedZones"]
    return client, next(z["Id"] for z in zones if z["Name"] == dns.ZONE)


def _point(client: Any, zone: str, value: str) -> None:
    record = {"Name": dns.RECORD, "Type": "CNAME", "TTL": 60,
              "ResourceRecords": [{"Value": value}]}  # fmt: skip
    client.change_resource_record_sets(
        HostedZoneId=zone,
        ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": record}]},
    )


def _drift(root: Path, state: SandboxState, site: str, _: float) -> tuple[Any, str]:
    client, zone = _zone(state)
    sets = client.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    was = next(r["ResourceRecords"][0]["Value"] for r in sets if r["Name"] == dns.RECORD)
    _point(client, zone, DRIFT_TARGET)
    return {"was": was}, f"{dns.RECORD} points at {DRIFT_TARGET} (was {was})"


def _drift_heal(root: Path, state: SandboxState, site: str, undo: dict[str, Any]) -> str:
    client, zone = _zone(state)
    _point(client, zone, undo["was"])
    return f"{dns.RECORD} points at {undo['was']} again"


_INJECT: dict[str, Callable[[Path, SandboxState, str, float], tuple[Any, str]]] = {
    "crashloop": _crashloop,
    "seal-vault": _seal,
    "lag-standby": _lag,
    "s3-errors": _errors,
    "corrupt-backup": _corrupt,
    "stale-backup": _stale,
    "dns-drift": _drift,
}
_HEAL: dict[str, Callable[[Path, SandboxState, str, dict[str, Any]], str]] = {
    "crashloop": _crashloop_heal,
    "seal-vault": _seal_heal,
    "lag-standby": _lag_heal,
    "s3-errors": _errors_heal,
    "corrupt-backup": _corrupt_heal,
    "stale-backup": _stale_heal,
    "dns-drift": _drift_heal,
}
