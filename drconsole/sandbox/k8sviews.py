"""What the Kubernetes API simulator shows ``kubectl`` besides the objects themselves.

- Discovery, as a real API server publishes it: ``/version``, ``/api``, ``/api/v1``, ``/apis``
  and ``/apis/apps/v1`` (the unaggregated documents; a client that asks for aggregated
  discovery gets these and falls back to them, as it does with an older server). No OpenAPI
  documents are served.
- Server-side tables (``Accept: application/json;as=Table;g=meta.k8s.io;v=v1``), the columns
  ``kubectl get`` prints: the same column names a real server gives for these kinds, computed
  from the simulated objects (ages from their ``creationTimestamp``).
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from typing import Any

VERSION = {
    "major": "1",
    "minor": "30",
    "gitVersion": "v1.30.0+drconsole-simulator",
    "gitCommit": "",
    "gitTreeState": "clean",
    "buildDate": "",
    "goVersion": "",
    "compiler": "none (a Python simulator, not a Kubernetes API server)",
    "platform": "linux/amd64",
}
_ALL = ["create", "delete", "get", "list", "patch", "update", "watch"]
_SCALE = ["get", "patch", "update"]


def _resource(
    name: str, kind: str, short: list[str] | None = None, verbs: list[str] | None = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name,
        "singularName": kind.lower(),
        "namespaced": name != "namespaces",
        "kind": kind,
        "verbs": verbs or _ALL,
    }
    if short:
        entry["shortNames"] = short
    if kind in ("Pod", "Service", "Deployment", "StatefulSet", "ReplicaSet"):
        entry["categories"] = ["all"]
    return entry


def _scale(parent: str) -> dict[str, Any]:
    return {
        "name": f"{parent}/scale",
        "singularName": "",
        "namespaced": True,
        "group": "autoscaling",
        "version": "v1",
        "kind": "Scale",
        "verbs": _SCALE,
    }


CORE_V1 = {
    "kind": "APIResourceList",
    "groupVersion": "v1",
    "resources": [
        _resource("namespaces", "Namespace", ["ns"]),
        _resource("pods", "Pod", ["po"]),
        _resource("services", "Service", ["svc"]),
        _resource("configmaps", "ConfigMap", ["cm"]),
        _resource("secrets", "Secret"),
        _resource("events", "Event", ["ev"]),
    ],
}
APPS_V1 = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": "apps/v1",
    "resources": [
        _resource("deployments", "Deployment", ["deploy"]),
        _scale("deployments"),
        _resource("statefulsets", "StatefulSet", ["sts"]),
        _scale("statefulsets"),
        _resource("replicasets", "ReplicaSet", ["rs"], ["get", "list", "watch"]),
    ],
}
_APPS_GROUP = {
    "name": "apps",
    "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
    "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"},
}


def discovery(path: str, host: str) -> dict[str, Any] | None:
    """The discovery document at ``path``, or None when it is not a discovery path."""
    if path == "/version":
        return VERSION
    if path == "/api":
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
        }
    if path == "/apis":
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_APPS_GROUP]}
    if path == "/apis/apps":
        return {"kind": "APIGroup", "apiVersion": "v1", **_APPS_GROUP}
    return {"/api/v1": CORE_V1, "/apis/apps/v1": APPS_V1}.get(path)


def wants_table(accept: str) -> bool:
    """True when the client asks for a ``meta.k8s.io`` Table (kubectl get does)."""
    return any("as=Table" in part and "g=meta.k8s.io" in part for part in accept.split(","))


# ------------------------------------------------------------------ ages, as kubectl shows them
def age(timestamp: str, now: float | None = None) -> str:
    """``creationTimestamp`` as the API server's short duration (``45s``, ``3m12s``, ``5h``)."""
    try:
        created = calendar.timegm(time.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return "<unknown>"
    seconds = int((time.time() if now is None else now) - created)
    if seconds < 0:
        return "0s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 192:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    return f"{days}d"


# ------------------------------------------------------------------ the columns of each kind
Column = tuple[str, str, int]  # name, type, priority (1: only with -o wide)
Cells = Callable[[dict[str, Any]], list[Any]]


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    return list(spec.get("containers") or [])


def _workload(obj: dict[str, Any]) -> list[Any]:
    spec, status = obj.get("spec", {}), obj.get("status", {})
    containers = _containers(obj)
    selector = spec.get("selector", {}).get("matchLabels", {})
    return [
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
        ",".join(f"{k}={v}" for k, v in selector.items()),
    ]


def _pod_status(pod: dict[str, Any]) -> str:
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    status = pod.get("status", {})
    for container in status.get("containerStatuses", []):
        waiting = container.get("state", {}).get("waiting")
        if waiting and waiting.get("reason"):
            return str(waiting["reason"])
    return str(status.get("phase", "Unknown"))


def _pod(pod: dict[str, Any]) -> list[Any]:
    statuses = pod.get("status", {}).get("containerStatuses", [])
    ready = sum(1 for c in statuses if c.get("ready"))
    return [
        f"{ready}/{len(statuses)}",
        _pod_status(pod),
        sum(int(c.get("restartCount", 0)) for c in statuses),
        "<none>",
        "<none>",
    ]


def _service(svc: dict[str, Any]) -> list[Any]:
    spec = svc.get("spec", {})
    ports = ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports", []))
    selector = ",".join(f"{k}={v}" for k, v in (spec.get("selector") or {}).items())
    return [
        spec.get("type", "ClusterIP"),
        spec.get("clusterIP", "None"),
        "<none>",
        ports or "<none>",
        selector or "<none>",
    ]


_NAME: Column = ("Name", "string", 0)
_AGE: Column = ("Age", "string", 0)
_WORKLOAD: list[Column] = [
    ("Ready", "string", 0),
    ("Up-to-date", "integer", 0),
    ("Available", "integer", 0),
    ("Containers", "string", 1),
    ("Images", "string", 1),
    ("Selector", "string", 1),
]
TABLES: dict[str, tuple[list[Column], Cells]] = {
    "deployments": (_WORKLOAD, _workload),
    # a StatefulSet shows Ready only (and, wide, Containers and Images)
    "statefulsets": (
        [_WORKLOAD[0], *_WORKLOAD[3:5]],
        lambda o: _workload(o)[0:1] + _workload(o)[3:5],
    ),
    "pods": (
        [
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "integer", 0),
            ("IP", "string", 1),
            ("Node", "string", 1),
        ],
        _pod,
    ),
    "services": (
        [
            ("Type", "string", 0),
            ("Cluster-IP", "string", 0),
            ("External-IP", "string", 0),
            ("Port(s)", "string", 0),
            ("Selector", "string", 1),
        ],
        _service,
    ),
    "configmaps": ([("Data", "integer", 0)], lambda o: [len(o.get("data") or {})]),
    "secrets": (
        [("Type", "string", 0), ("Data", "integer", 0)],
        lambda o: [o.get("type", "Opaque"), len(o.get("data") or {})],
    ),
    "namespaces": (
        [("Status", "string", 0)],
        lambda o: [o.get("status", {}).get("phase", "Active")],
    ),
    "events": (
        [("Type", "string", 0), ("Reason", "string", 0), ("Message", "string", 0)],
        lambda o: [o.get("type", ""), o.get("reason", ""), o.get("message", "")],
    ),
    "replicasets": ([], lambda o: []),  # never any: a Deployment owns its pods directly
}


def table(
    plural: str, objects: list[dict[str, Any]], resource_version: str, whole: bool
) -> dict[str, Any]:
    """A ``meta.k8s.io/v1`` Table of ``objects``; each row carries the object itself when
    ``whole`` (``includeObject=Object``), else its metadata, as a real server does."""
    columns, cells = TABLES[plural]
    every = [_NAME, *columns, _AGE]
    # Age is shown before the wide columns, as kubectl's own column order has it
    order = [c for c in every if c[2] == 0] + [c for c in every if c[2] == 1]
    rows = []
    for obj in objects:
        values = dict(zip([c[0] for c in columns], cells(obj), strict=True))
        values["Name"] = obj["metadata"]["name"]
        values["Age"] = age(obj["metadata"].get("creationTimestamp", ""))
        row_object = (
            obj
            if whole
            else {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        )
        rows.append({"cells": [values[c[0]] for c in order], "object": row_object})
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            {
                "name": name,
                "type": kind,
                "format": "name" if name == "Name" else "",
                "description": "",
                "priority": priority,
            }
            for name, kind, priority in order
        ],
        "rows": rows,
    }
