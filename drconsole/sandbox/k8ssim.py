"""A Kubernetes API simulator for the sandbox and the tests (no real API server runs here).

It is a simulator, not a cluster: a small HTTP server speaking the real REST shapes of the few
resources drconsole uses, so that the official ``kubernetes`` client and ``kubectl`` (get,
describe, scale, rollout restart, rollout status) reach it through an ordinary kubeconfig:

- ``/api/v1/namespaces`` and, per namespace, ``pods``, ``services``, ``configmaps``,
  ``secrets``, ``events`` (none are recorded); ``/apis/apps/v1/namespaces/NS/deployments|
  statefulsets`` with the ``scale`` subresource, and ``replicasets``, always empty (a
  Deployment owns its pods directly); the same lists across namespaces (``/api/v1/pods``);
- discovery and ``kubectl get``'s server-side tables (``k8sviews.py``); no OpenAPI;
- GET (one or a list; ``labelSelector`` and ``fieldSelector`` with equality terms only, others
  are refused), POST, PUT, PATCH (JSON merge, or strategic merge where it means the same: no
  lists, no ``$`` directives), DELETE; every write bumps a global ``resourceVersion``; a PUT
  with a stale one is 409 Conflict, a POST of an existing name 409 AlreadyExists, a missing
  object 404 NotFound, all as ``Status`` objects;
- ``?watch=true`` streams ``ADDED``/``MODIFIED``/``DELETED`` lines in HTTP chunks, as a real
  API server does: each write to the store wakes the watches, which send each changed object
  in its newest state; a watch ends after ``timeoutSeconds``, at most ``WATCH_LIMIT_S``;
- a controller thread makes each workload's pods follow its replicas, woken by each write and
  when a pod is due (no fixed tick): new pods become Ready after ``ready_delay_s``; removed
  ones terminate after a short delay; a rollout restart (the
  ``kubectl.kubernetes.io/restartedAt`` template annotation) replaces them all at once (so a
  Deployment's strategy says ``Recreate``); the annotation
  ``simulator.drconsole.io/fault`` on a workload (``CrashLoopBackOff``, ``ImagePullBackOff``,
  ``Unschedulable``) keeps its new pods from becoming ready, with that reason;
- ``GET /sim/health/NS/SERVICE``: 200 when a ready pod matches the service's selector, else 503
  (the simulated application's health endpoint behind that service).

Run it with ``python -m drconsole.sandbox.k8ssim --port N [--seed FILE] [--ready-delay S]``.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import yaml

from drconsole.sandbox.k8sviews import discovery, table, wants_table

FAULT = "simulator.drconsole.io/fault"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
OWNER = "simulator.drconsole.io/owner"
CORE = {
    "pods": "Pod",
    "services": "Service",
    "configmaps": "ConfigMap",
    "secrets": "Secret",
    "events": "Event",
}
APPS = {"deployments": "Deployment", "statefulsets": "StatefulSet"}
_NAMESPACES = re.compile(r"^/api/v1/namespaces(?:/(?P<name>[^/]+))?$")
_CORE = re.compile(
    r"^/api/v1/namespaces/(?P<ns>[^/]+)/(?P<plural>pods|services|configmaps|secrets|events)"
    r"(?:/(?P<name>[^/]+))?$"
)
_APPS = re.compile(
    r"^/apis/apps/v1/namespaces/(?P<ns>[^/]+)/(?P<plural>deployments|statefulsets|replicasets)"
    r"(?:/(?P<name>[^/]+)(?:/(?P<sub>scale|status))?)?$"
)
_TERM = re.compile(r"^(?P<key>[A-Za-z0-9_./-]+)(?:==|=)(?P<value>[A-Za-z0-9_.:-]*)$")
KINDS = {**CORE, **APPS, "namespaces": "Namespace", "replicasets": "ReplicaSet"}
NO_REPLICASETS = "the simulator has no ReplicaSets: a Deployment's pods belong to it directly"
WATCH_LIMIT_S = 120.0
CONTROLLER_IDLE_S = 0.5  # the controller looks again after this long without a write
_EVERYWHERE = re.compile(  # a list across namespaces (kubectl get -A)
    r"^/(?:api/v1/(?P<core>pods|services|configmaps|secrets|events)"
    r"|apis/apps/v1/(?P<apps>deployments|statefulsets|replicasets))$"
)
_HEALTH = re.compile(r"^/sim/health/(?P<ns>[^/]+)/(?P<name>[^/]+)$")


class ApiError(Exception):
    """A Kubernetes ``Status`` failure."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message

    def status(self) -> dict[str, Any]:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def merge(base: Any, patch: Any) -> Any:
    """JSON merge patch (RFC 7386): maps merge, null deletes, anything else replaces."""
    if not isinstance(patch, dict) or not isinstance(base, dict):
        return copy.deepcopy(patch)
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge(base.get(key), value)
    return out


def _selector_matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def parse_selector(terms: list[str], what: str) -> dict[str, str]:
    """``a=b,c==d`` as a map; any other term (``!=``, ``in (...)``, ``exists``) is refused."""
    out: dict[str, str] = {}
    for term in ",".join(terms).split(","):
        if not term.strip():
            continue
        m = _TERM.match(term.strip())
        if m is None:
            raise ApiError(
                400,
                "BadRequest",
                f"{what} {term!r}: the simulator supports only equality terms (key=value)",
            )
        out[m["key"]] = m["value"]
    return out


def _field(obj: dict[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def _api_version(plural: str) -> str:
    return "apps/v1" if plural in APPS or plural == "replicasets" else "v1"


class Store:
    """Every object, by (plural, namespace, name); one lock; one resourceVersion counter."""

    def __init__(self, ready_delay_s: float = 1.0, terminate_delay_s: float = 0.3) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)  # notified on every write
        self.changes = 0  # writes so far
        self.stopped = False  # set when the simulator stops: every wait for a write ends
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.rv = itertools.count(1)
        self.ready_delay_s = ready_delay_s
        self.terminate_delay_s = terminate_delay_s

    # ----------------------------------------------------------------- helpers
    def _stamp(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj["metadata"]["resourceVersion"] = str(next(self.rv))
        self._wrote()
        return obj

    def _wrote(self) -> None:
        """Count a write and wake whoever waits for one (watches, the controller)."""
        self.changes += 1
        self.changed.notify_all()

    def wait_for_change(self, seen: int, timeout: float) -> int:
        """Block until there were more than ``seen`` writes, the simulator stops, or
        ``timeout``; the writes now."""
        with self.lock:
            self.changed.wait_for(lambda: self.changes != seen or self.stopped, max(timeout, 0.0))
            return self.changes

    def _require_ns(self, ns: str) -> None:
        if ("namespaces", "", ns) not in self.objects:
            raise ApiError(404, "NotFound", f'namespaces "{ns}" not found')

    def _get(self, plural: str, ns: str, name: str) -> dict[str, Any]:
        obj = self.objects.get((plural, ns, name))
        if obj is None:
            raise ApiError(404, "NotFound", f'{plural} "{name}" not found')
        return obj

    @staticmethod
    def _shape(plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        obj["kind"] = KINDS[plural]
        obj["apiVersion"] = _api_version(plural)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", _now())
        meta.setdefault("labels", {})
        if plural in APPS:
            spec = obj.setdefault("spec", {})
            spec.setdefault("replicas", 1)
            meta.setdefault("generation", 1)
            obj.setdefault("status", {"replicas": 0, "readyReplicas": 0, "observedGeneration": 0})
            if plural == "statefulsets":
                spec.setdefault("serviceName", meta["name"])
            else:  # every pod is replaced at once, as the Recreate strategy does
                spec.setdefault("strategy", {"type": "Recreate"})
        if plural == "namespaces":
            obj["status"] = {"phase": "Active"}
        if plural == "services":
            spec = obj.setdefault("spec", {})
            spec.setdefault("type", "ClusterIP")
            spec.setdefault("clusterIP", f"10.96.0.{secrets.randbelow(250) + 2}")
        return obj

    # ----------------------------------------------------------------- the API
    def list(
        self,
        plural: str,
        ns: str,
        selector: dict[str, str],
        fields: dict[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """Objects (in every namespace when ``ns`` is empty) whose labels and fields (dotted
        paths: ``metadata.name``, ``involvedObject.uid``) equal the given values."""
        with self.lock:
            if plural != "namespaces" and ns:
                self._require_ns(ns)
            return [
                copy.deepcopy(o)
                for (p, n, _), o in sorted(self.objects.items())
                if p == plural
                and (not ns or n == ns)
                and all(o["metadata"].get("labels", {}).get(k) == v for k, v in selector.items())
                and all(_field(o, k) == v for k, v in (fields or {}).items())
            ]

    def read(self, plural: str, ns: str, name: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self._get(plural, ns, name))

    def create(self, plural: str, ns: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            name = body.get("metadata", {}).get("name")
            if plural == "replicasets":
                raise ApiError(405, "MethodNotAllowed", NO_REPLICASETS)
            if not name:
                raise ApiError(422, "Invalid", "metadata.name: Required value")
            if plural != "namespaces":
                self._require_ns(ns)
            key = (plural, "" if plural == "namespaces" else ns, name)
            if key in self.objects:
                raise ApiError(409, "AlreadyExists", f'{plural} "{name}" already exists')
            obj = self._shape(plural, copy.deepcopy(body))
            if plural != "namespaces":
                obj["metadata"]["namespace"] = ns
            self.objects[key] = self._stamp(obj)
            return copy.deepcopy(obj)

    def replace(self, plural: str, ns: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            old = self._get(plural, ns, name)
            given = body.get("metadata", {}).get("resourceVersion")
            if given and given != old["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {plural} "{name}": the object has been '
                    "modified; please apply your changes to the latest version and try again",
                )
            obj = copy.deepcopy(body)
            obj["metadata"] = {**old["metadata"], **obj.get("metadata", {})}
            obj = self._shape(plural, obj)
            obj["metadata"]["namespace"] = old["metadata"].get("namespace")
            if plural in APPS:
                obj["status"] = old["status"]
                if obj.get("spec") != old.get("spec"):
                    obj["metadata"]["generation"] = old["metadata"]["generation"] + 1
            self.objects[(plural, ns, name)] = self._stamp(obj)
            return copy.deepcopy(obj)

    def patch(
        self, plural: str, ns: str, name: str, body: Any, strategic: bool = False
    ) -> dict[str, Any]:
        """A JSON merge patch; a strategic merge patch only where it means the same (no lists,
        no ``$`` directives), as ``kubectl rollout restart`` and ``kubectl scale`` send."""
        with self.lock:
            old = self._get(plural, ns, name)
            if not isinstance(body, dict):
                raise ApiError(415, "UnsupportedMediaType", "only merge patches are simulated")
            if strategic and _has_list_or_directive(body):
                raise ApiError(
                    415,
                    "UnsupportedMediaType",
                    "the simulator applies a strategic merge patch only without lists or $ "
                    "directives; send a JSON merge patch (application/merge-patch+json)",
                )
            new = merge(old, body)
            new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            return self.replace(plural, ns, name, new)

    def delete(self, plural: str, ns: str, name: str) -> dict[str, Any]:
        with self.lock:
            key = (plural, "" if plural == "namespaces" else ns, name)
            self._get(*key)  # 404 when missing
            del self.objects[key]
            if plural == "namespaces":
                for other in [k for k in self.objects if k[1] == name]:
                    del self.objects[other]
            self._wrote()
            return {"kind": "Status", "apiVersion": "v1", "status": "Success", "metadata": {}}

    def scale(self, plural: str, ns: str, name: str, replicas: int | None) -> dict[str, Any]:
        with self.lock:
            if replicas is not None:
                if replicas < 0:
                    raise ApiError(422, "Invalid", "spec.replicas: must be >= 0")
                self.patch(plural, ns, name, {"spec": {"replicas": replicas}})
            obj = self._get(plural, ns, name)
            selector = obj["spec"].get("selector", {}).get("matchLabels", {})
            return {
                "kind": "Scale",
                "apiVersion": "autoscaling/v1",
                "metadata": {
                    "name": name,
                    "namespace": ns,
                    "resourceVersion": obj["metadata"]["resourceVersion"],
                },
                "spec": {"replicas": obj["spec"]["replicas"]},
                "status": {
                    "replicas": obj["status"].get("replicas", 0),
                    "selector": ",".join(f"{k}={v}" for k, v in selector.items()),
                },
            }

    def health(self, ns: str, name: str) -> tuple[int, dict[str, Any]]:
        with self.lock:
            service = self._get("services", ns, name)
            selector = service["spec"].get("selector") or {}
            ready = [
                o["metadata"]["name"]
                for (p, n, _), o in self.objects.items()
                if p == "pods"
                and n == ns
                and _selector_matches(selector, o["metadata"].get("labels", {}))
                and _pod_ready(o)
            ]
        if ready:
            return 200, {"status": "ok", "service": name, "ready_endpoints": len(ready)}
        return 503, {"status": "unavailable", "service": name, "ready_endpoints": 0}

    # ----------------------------------------------------------------- the controller
    def reconcile(self) -> tuple[int, float | None]:
        """Readiness follows after a delay; pods follow their workloads' replicas. Pods first,
        so that a workload's status counts the pods as they are when the lock is released.
        Returns the writes so far and when a pod is next due to become ready or go (monotonic),
        or None."""
        with self.lock:
            now = time.monotonic()
            for key, pod in list(self.objects.items()):
                if key[0] != "pods":
                    continue
                sim = pod["metadata"].get("annotations", {})
                if "terminating-until" in sim and now >= float(sim["terminating-until"]):
                    del self.objects[key]
                    self._wrote()
                elif "ready-at" in sim and not _pod_ready(pod) and now >= float(sim["ready-at"]):
                    fault = sim.get("fault")
                    if not fault:
                        _set_pod_ready(pod)
                        self._stamp(pod)
            for (plural, ns, name), obj in list(self.objects.items()):
                if plural in APPS:
                    self._reconcile_workload(plural, ns, name, obj, now)
            due = [
                float(sim[at])
                for (p, _, _), pod in self.objects.items()
                if p == "pods"
                for sim in [pod["metadata"].get("annotations", {})]
                for at in ("terminating-until", "ready-at")
                if at in sim and not (at == "ready-at" and (_pod_ready(pod) or sim.get("fault")))
            ]
            return self.changes, min(due, default=None)

    def _reconcile_workload(
        self, plural: str, ns: str, name: str, obj: dict[str, Any], now: float
    ) -> None:
        owner = f"{plural}/{name}"
        template = obj["spec"].get("template", {})
        restarted = template.get("metadata", {}).get("annotations", {}).get(RESTARTED_AT, "")
        fault = obj["metadata"].get("annotations", {}).get(FAULT, "")
        pods = [
            o
            for (p, n, _), o in self.objects.items()
            if p == "pods" and n == ns and o["metadata"].get("labels", {}).get(OWNER) == owner
        ]
        alive = [p for p in pods if "terminating-until" not in p["metadata"]["annotations"]]
        for pod in alive:
            if pod["metadata"]["annotations"].get("restarted-at", "") != restarted:
                pod["metadata"]["annotations"]["terminating-until"] = str(
                    now + self.terminate_delay_s
                )
                pod["metadata"]["deletionTimestamp"] = _now()
                self._stamp(pod)
        alive = [p for p in alive if "terminating-until" not in p["metadata"]["annotations"]]
        want = int(obj["spec"].get("replicas") or 0)
        for pod in sorted(alive, key=lambda p: p["metadata"]["name"])[want:]:
            pod["metadata"]["annotations"]["terminating-until"] = str(now + self.terminate_delay_s)
            pod["metadata"]["deletionTimestamp"] = _now()
            self._stamp(pod)
        alive = alive[:want]
        taken = {p["metadata"]["name"] for p in pods}
        for index in range(want):
            if len(alive) >= want:
                break
            pod_name = (
                f"{name}-{index}" if plural == "statefulsets" else f"{name}-{secrets.token_hex(3)}"
            )
            if pod_name in taken:
                continue
            pod = _new_pod(
                ns, pod_name, owner, template, restarted, fault, now + self.ready_delay_s
            )
            self.objects[("pods", ns, pod_name)] = self._stamp(pod)
            alive.append(pod)
            taken.add(pod_name)
        ready = sum(1 for p in alive if _pod_ready(p))
        status = {
            "replicas": len(alive),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "updatedReplicas": len(alive),
            "observedGeneration": obj["metadata"].get("generation", 1),
        }
        if plural == "statefulsets":
            status["currentReplicas"] = len(alive)
        if obj.get("status") != status:
            obj["status"] = status
            self._stamp(obj)


def _has_list_or_directive(value: Any) -> bool:
    if isinstance(value, list):
        return True
    if isinstance(value, dict):
        return any(k.startswith("$") or _has_list_or_directive(v) for k, v in value.items())
    return False


def _pod_ready(pod: dict[str, Any]) -> bool:
    for cond in pod.get("status", {}).get("conditions", []):
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def _set_pod_ready(pod: dict[str, Any]) -> None:
    status = pod["status"]
    status["phase"] = "Running"
    status["conditions"] = [{"type": "Ready", "status": "True"}]
    for c in status["containerStatuses"]:
        c["ready"] = True
        c["state"] = {"running": {"startedAt": _now()}}


def _new_pod(
    ns: str,
    name: str,
    owner: str,
    template: dict[str, Any],
    restarted: str,
    fault: str,
    ready_at: float,
) -> dict[str, Any]:
    labels = {**template.get("metadata", {}).get("labels", {}), OWNER: owner}
    containers = template.get("spec", {}).get("containers") or [{"name": "app", "image": "app"}]
    waiting = {
        "CrashLoopBackOff": ("Running", "CrashLoopBackOff", "back-off restarting failed container"),
        "ImagePullBackOff": ("Pending", "ImagePullBackOff", "Back-off pulling image"),
        "Unschedulable": ("Pending", "Unschedulable", "0/3 nodes are available"),
    }
    phase, reason, message = waiting.get(fault, ("Pending", "ContainerCreating", ""))
    statuses = [
        {
            "name": c.get("name", "app"),
            "image": c.get("image", "app"),
            "imageID": "",
            "ready": False,
            "restartCount": 5 if fault == "CrashLoopBackOff" else 0,
            "state": {"waiting": {"reason": reason, "message": message}},
        }
        for c in containers
    ]
    conditions = [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}]
    if fault == "Unschedulable":
        conditions = [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
             "message": message},
            {"type": "Ready", "status": "False", "reason": "ContainersNotReady"},
        ]  # fmt: skip
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "namespace": ns,
            "uid": str(uuid.uuid4()),
            "creationTimestamp": _now(),
            "labels": labels,
            "annotations": {"ready-at": str(ready_at), "restarted-at": restarted, "fault": fault},
        },
        "spec": {"containers": containers},
        "status": {"phase": phase, "conditions": conditions, "containerStatuses": statuses},
    }


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass

    def _send(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            raise ApiError(400, "BadRequest", "the body is not JSON") from None

    def _route(self, method: str) -> None:
        store = self.server.store
        url = urlparse(self.path)
        query = parse_qs(url.query)
        try:
            if method == "GET" and (doc := discovery(url.path, self.headers["Host"] or "")):
                self._send(200, doc)
                return
            if m := _HEALTH.match(url.path):
                if method != "GET":
                    raise ApiError(405, "MethodNotAllowed", "GET only")
                self._send(*store.health(m["ns"], m["name"]))
                return
            if m := _NAMESPACES.match(url.path):
                plural, ns, name, sub = "namespaces", "", m["name"], None
            elif m := _CORE.match(url.path):
                plural, ns, name, sub = m["plural"], m["ns"], m["name"], None
            elif m := _APPS.match(url.path):
                plural, ns, name, sub = m["plural"], m["ns"], m["name"], m["sub"]
            elif m := _EVERYWHERE.match(url.path):
                if method != "GET":
                    raise ApiError(405, "MethodNotAllowed", "only GET across namespaces")
                plural, ns, name, sub = m["core"] or m["apps"], "", None, None
            else:
                raise ApiError(404, "NotFound", f"the simulator does not serve {url.path}")
            selector = parse_selector(query.get("labelSelector", []), "labelSelector")
            fields = parse_selector(query.get("fieldSelector", []), "fieldSelector")
            if name is not None:
                fields["metadata.name"] = name
            as_table = wants_table(self.headers["Accept"] or "") and sub is None
            whole = query.get("includeObject", [""])[0] == "Object"
            if method == "GET" and query.get("watch", [""])[0] in ("true", "1"):
                self._watch(store, (plural, ns, selector, fields), query, as_table, whole)
                return
            code, body = self._dispatch(store, method, plural, ns, name, sub, selector, fields)
            if method == "GET" and as_table:
                items = body["items"] if name is None else [body]
                body = table(plural, items, body["metadata"]["resourceVersion"], whole)
            self._send(code, body)
        except ApiError as exc:
            self._send(exc.code, exc.status())

    def _dispatch(
        self,
        store: Store,
        method: str,
        plural: str,
        ns: str,
        name: str | None,
        sub: str | None,
        selector: dict[str, str],
        fields: dict[str, str],
    ) -> tuple[int, dict[str, Any]]:
        if plural == "replicasets" and (name is not None or method != "GET"):
            raise ApiError(404 if method == "GET" else 405, "NotFound", NO_REPLICASETS)
        if name is None:
            if method == "GET":
                return 200, {
                    "kind": KINDS[plural] + "List",
                    "apiVersion": _api_version(plural),
                    "metadata": {"resourceVersion": str(next(store.rv))},
                    "items": store.list(plural, ns, selector, fields),
                }
            if method == "POST":
                return 201, store.create(plural, ns, self._body())
            raise ApiError(405, "MethodNotAllowed", f"{method} on a collection")
        if sub == "scale":
            if method == "GET":
                return 200, store.scale(plural, ns, name, None)
            body = self._body()
            return 200, store.scale(plural, ns, name, int(body.get("spec", {}).get("replicas")))
        if method == "GET":
            return 200, store.read(plural, ns, name)
        if method == "PUT":
            return 200, store.replace(plural, ns, name, self._body())
        if method == "PATCH":
            strategic = (self.headers["Content-Type"] or "").startswith(
                "application/strategic-merge-patch+json"
            )
            return 200, store.patch(plural, ns, name, self._body(), strategic)
        if method == "DELETE":
            return 200, store.delete(plural, ns, name)
        raise ApiError(405, "MethodNotAllowed", method)

    def _watch(
        self,
        store: Store,
        where: tuple[str, str, dict[str, str], dict[str, str]],
        query: dict[str, list[str]],
        as_table: bool,
        whole: bool,
    ) -> None:
        """Stream ``{"type": ADDED|MODIFIED|DELETED, "object": ...}`` lines, one per change,
        in chunks (``Transfer-Encoding: chunked``, as a real API server streams a watch), sent
        when the store is written (objects changed twice by then are sent once, in their newest
        state), until ``timeoutSeconds`` (at most ``WATCH_LIMIT_S``)."""
        try:
            since = int(query.get("resourceVersion", ["0"])[0] or 0)
            timeout = min(float(query.get("timeoutSeconds", [WATCH_LIMIT_S])[0]), WATCH_LIMIT_S)
        except ValueError:
            raise ApiError(
                400, "BadRequest", "resourceVersion and timeoutSeconds are numbers"
            ) from None
        plural = where[0]

        def now() -> tuple[int, dict[tuple[str, str], dict[str, Any]]]:
            with store.lock:
                listed = store.list(*where)
                return store.changes, {
                    (o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in listed
                }

        writes, seen = now()
        self.protocol_version = "HTTP/1.1"  # chunked transfer needs it
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()  # the connection stays open after the watch, as an API server's does
        changed = [
            ("ADDED" if since == 0 else "MODIFIED", o)
            for o in seen.values()
            if int(o["metadata"]["resourceVersion"]) > since
        ]
        deadline = time.monotonic() + timeout
        try:
            while True:
                for kind, obj in changed:
                    rv = obj["metadata"]["resourceVersion"]
                    shown = table(plural, [obj], rv, whole) if as_table else obj
                    line = json.dumps({"type": kind, "object": shown}).encode() + b"\n"
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                left = deadline - time.monotonic()
                if self.server.stopping.is_set() or left <= 0:
                    break
                store.wait_for_change(writes, left)
                writes, current = now()
                changed = [
                    ("ADDED" if k not in seen else "MODIFIED", o)
                    for k, o in current.items()
                    if seen.get(k, {}).get("metadata", {}).get("resourceVersion")
                    != o["metadata"]["resourceVersion"]
                ] + [("DELETED", o) for k, o in seen.items() if k not in current]
                seen = current
            self.wfile.write(b"0\r\n\r\n")
        except (ApiError, OSError):  # the namespace went away, or the client hung up
            return

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's names
        self._route("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._route("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._route("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self._route("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self._route("DELETE")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    store: Store
    stopping: threading.Event


class Simulator:
    """The simulator in this process (tests) or as a program (the sandbox)."""

    def __init__(self, port: int = 0, ready_delay_s: float = 1.0) -> None:
        self.store = Store(ready_delay_s)
        self.server = _Server(("127.0.0.1", port), _Handler)
        self.server.store = self.store
        self._stop = self.server.stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def seed(self, objects: list[dict[str, Any]]) -> None:
        """Create objects (namespaces first); each needs ``kind`` and ``metadata``."""
        plural_of = {v: k for k, v in {**CORE, **APPS, "namespaces": "Namespace"}.items()}
        for obj in sorted(objects, key=lambda o: o["kind"] != "Namespace"):
            plural = plural_of[obj["kind"]]
            self.store.create(plural, obj["metadata"].get("namespace", ""), obj)

    def _controller(self) -> None:
        """Reconcile at each write (as a controller reacting to its watches does) and when a
        pod is due to become ready or go, not on a fixed tick."""
        while not self._stop.is_set():
            seen, due = self.store.reconcile()
            wait = CONTROLLER_IDLE_S if due is None else due - time.monotonic()
            self.store.wait_for_change(seen, min(wait, CONTROLLER_IDLE_S))

    def start(self) -> Simulator:
        for target in (self.server.serve_forever, self._controller):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        with self.store.lock:
            self.store.stopped = True
            self.store.changed.notify_all()  # the controller and the watches end now
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def kubeconfig(self, path: Path, context: str) -> Path:
        """Write a kubeconfig reaching this simulator as ``context``."""
        return write_kubeconfig(path, {context: self.url})


def write_kubeconfig(path: Path, contexts: dict[str, str]) -> Path:
    """A kubeconfig with one cluster, user and context per name -> server URL."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": {"server": url}} for n, url in contexts.items()],
        "users": [{"name": n, "user": {"token": "simulator-no-auth"}} for n in contexts],
        "contexts": [
            {"name": n, "context": {"cluster": n, "user": n, "namespace": "qsign"}}
            for n in contexts
        ],
        "current-context": next(iter(contexts)),
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def qsign_objects(api_replicas: int, db_replicas: int = 1) -> list[dict[str, Any]]:
    """The QSIGN namespace as the guide describes it: the api-server, PostgreSQL as a
    StatefulSet, Vault, the service in front of the API, and the application's config."""

    def workload(kind: str, name: str, replicas: int, image: str) -> dict[str, Any]:
        labels = {"app": name}
        return {
            "kind": kind,
            "metadata": {"name": name, "namespace": "qsign", "labels": labels},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": name, "image": image}]},
                },
            },
        }

    api = workload("Deployment", "qsign-api", api_replicas, "qsign/api-server:1.4")
    api["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [
        {"configMapRef": {"name": "qsign-config"}},
        {"secretRef": {"name": "qsign-api-credentials"}},
    ]  # the api-server reads its config: a config restore restarts it
    return [
        {"kind": "Namespace", "metadata": {"name": "qsign"}},
        api,
        workload("StatefulSet", "postgres", db_replicas, "postgres:15"),
        workload("StatefulSet", "vault", 1, "openbao/openbao:2.4"),
        {
            "kind": "Service",
            "metadata": {"name": "qsign-api", "namespace": "qsign"},
            "spec": {
                "selector": {"app": "qsign-api"},
                "ports": [{"port": 443, "targetPort": 8443, "protocol": "TCP"}],
            },
        },
        {
            "kind": "ConfigMap",
            "metadata": {"name": "qsign-config", "namespace": "qsign"},
            "data": {"LOG_LEVEL": "info"},
        },
        {
            "kind": "Secret",
            "metadata": {"name": "qsign-api-credentials", "namespace": "qsign"},
            "type": "Opaque",
            # base64 of practice-only-db-password
            "data": {"DB_PASSWORD": "cHJhY3RpY2Utb25seS1kYi1wYXNzd29yZA=="},
        },
    ]


def _iter_seed(path: Path) -> Iterator[dict[str, Any]]:
    data = yaml.safe_load(path.read_text())
    yield from data if isinstance(data, list) else data.get("items", [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seed", type=Path, help="YAML list of objects to create at start")
    parser.add_argument("--ready-delay", type=float, default=1.0)
    args = parser.parse_args()
    sim = Simulator(args.port, args.ready_delay)
    if args.seed:
        sim.seed(list(_iter_seed(args.seed)))
    sim.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sim.stop()


if __name__ == "__main__":
    main()
