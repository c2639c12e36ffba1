"""Kubernetes through the official client, one kubeconfig context per site: workload status,
scale and wait for the rollout, pod readiness with reasons, rollout restart, a ConfigMap or
Secret applied from a backup file, a Service's selector switched, a namespace created.

Targets ``kubernetes`` section::

    kubernetes:
      kubeconfig: /path/to/kubeconfig     # default: $DRCONSOLE_KUBECONFIG, then ~/.kube/config
      context: dr-cluster                 # default: the kubeconfig's current context
      namespace: qsign

The client's own retries are off (but for one immediate retry of a read whose connection the
server dropped without an answer): the step's ``retry`` decides, and each attempt is journaled.
Connection failures, 409 conflicts, 429 and 5xx are transient; 401/403/404/422 are not.
Secret values are never read back into outputs, logs or the journal.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import yaml
from pydantic import Field

from drconsole.adapters.base import (
    ActionContext,
    ActionSpec,
    AdapterError,
    Cancelled,
    CheckFailed,
    Effect,
    Params,
    PermanentError,
    TransientError,
)
from drconsole.adapters.sealed import KeyRef, site_key
from drconsole.timeutil import format_timestamp, utcnow

REQUEST_TIMEOUT_S = 15
WATCH_WINDOW_S = 1.0  # a watch is reopened this often, so a cancel is seen within it
Kind = Literal["deployment", "statefulset"]
PLURALS = {
    "deployment": "deployments",
    "statefulset": "statefulsets",
    "ConfigMap": "configmaps",
    "Secret": "secrets",
}
MERGE_PATCH = "application/merge-patch+json"


class Conflict(TransientError):
    """409: the object exists already, or changed since it was read."""


def _refused(status: int, message: str, what: str) -> AdapterError:
    """An API server's refusal as a typed error with what to do next."""
    text = f"{what}: {status} {message}"
    if status == 409:
        return Conflict(text)
    if status == 429 or status >= 500:
        return TransientError(text)
    if status in (401, 403):
        return PermanentError(text, hint="check the kubeconfig's credentials and RBAC")
    if status == 404:
        return PermanentError(text, hint="check the name, the namespace and the context")
    return PermanentError(text)


def _message(body: bytes | str | None, reason: str | None) -> str:
    """The ``message`` of a ``Status`` body, else the HTTP reason."""
    try:
        return str(json.loads(body or "{}").get("message") or reason)
    except (ValueError, AttributeError):
        return str(reason)


def _error(exc: Exception, what: str) -> AdapterError:
    """A client exception as a typed error with what to do next."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    if isinstance(exc, ApiException):
        return _refused(int(exc.status or 0), _message(exc.body, exc.reason), what)
    if isinstance(exc, HTTPError | OSError):
        return TransientError(f"{what}: the API server does not answer ({exc})")
    return PermanentError(f"{what}: {type(exc).__name__}: {exc}")


class KubeAdapter:
    """One site's cluster and namespace.

    Requests go through the official client's ``ApiClient`` (kubeconfig, TLS, tokens) as JSON
    in and out: its typed API classes import some 280 pydantic models on first use (0.6 s for
    ``AppsV1Api``, 0.9 s for ``CoreV1Api``), which a step would wait for. ``apps()`` and
    ``core()`` still give them to callers that want models.
    """

    def __init__(self, section: Mapping[str, Any], site_name: str | None = None) -> None:
        self.section = dict(section)
        self.site_name = site_name or "?"
        self.namespace = str(self.section.get("namespace") or "default")
        self._api: Any = None

    def describe(self) -> str:
        return f"{self.section.get('context') or 'current context'}/{self.namespace}"

    def api_client(self) -> Any:
        if self._api is None:
            from kubernetes.client.api_client import ApiClient
            from kubernetes.client.configuration import Configuration
            from kubernetes.config.config_exception import ConfigException
            from kubernetes.config.kube_config import load_kube_config
            from urllib3.util.retry import Retry

            path = (
                self.section.get("kubeconfig")
                or os.environ.get("DRCONSOLE_KUBECONFIG")
                or os.path.expanduser("~/.kube/config")
            )
            if not os.path.isfile(str(path)):
                raise PermanentError(
                    f"site {self.site_name}: no kubeconfig at {path}",
                    hint="set kubernetes.kubeconfig in the targets file",
                )
            configuration = Configuration()
            try:
                load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=str(path),
                    context=self.section.get("context"),
                    client_configuration=configuration,
                )
            except ConfigException as exc:
                raise PermanentError(f"kubeconfig {path}: {exc}") from None
            # one immediate retry of a read the server dropped without an answer (a kept-alive
            # connection it had closed: "Remote end closed connection"); nothing else
            configuration.retries = Retry(
                total=1, connect=0, read=1, status=0, other=0, allowed_methods={"GET"},
                raise_on_status=False,
            )  # fmt: skip
            self._api = ApiClient(configuration)
        return self._api

    def path(self, plural: str, name: str | None = None, sub: str | None = None) -> str:
        """The URL path of this namespace's ``plural`` (one object, or its subresource)."""
        group = "/apis/apps/v1" if plural in ("deployments", "statefulsets") else "/api/v1"
        path = f"{group}/namespaces/{quote(self.namespace, safe='')}/{plural}"
        return path + "".join(f"/{quote(part, safe='')}" for part in (name, sub) if part)

    def _send(
        self,
        what: str,
        method: str,
        path: str,
        body: Any = None,
        query: Mapping[str, Any] | None = None,
        content_type: str = "application/json",
        timeout: Any = REQUEST_TIMEOUT_S,
    ) -> Any:
        """The response to one request (its body not read yet); a refusal raises."""
        api = self.api_client()
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        try:
            request = api.param_serialize(
                method,
                path,
                query_params=list((query or {}).items()),
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            response = api.call_api(*request, _request_timeout=timeout)
            if not 200 <= response.status < 300:
                response.read()
        except Exception as exc:
            raise _error(exc, what) from None
        if not 200 <= response.status < 300:
            raise _refused(response.status, _message(response.data, response.reason), what)
        return response

    def request(
        self, what: str, method: str, path: str, body: Any = None, **options: Any
    ) -> dict[str, Any]:
        """One request's JSON answer (``options``: query, content_type). Raises a typed error
        saying what was being done."""
        response = self._send(what, method, path, body, **options)
        try:
            return dict(json.loads(response.read()))
        except Exception as exc:
            raise _error(exc, what) from None

    def watch(
        self, what: str, path: str, query: Mapping[str, Any], seconds: float
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(type, object)`` for each change the API server streams for at most ``seconds``
        (``ADDED``, ``MODIFIED``, ``DELETED``; ``ERROR`` with a ``Status``, e.g. 410 when the
        resourceVersion is too old)."""
        wait = max(1, round(seconds))
        query = {**query, "watch": "true", "timeoutSeconds": wait}
        response = self._send(
            what, "GET", path, query=query, timeout=(REQUEST_TIMEOUT_S, wait + REQUEST_TIMEOUT_S)
        )
        stream = response.response
        buffer = b""
        try:
            while chunk := stream.read1(65536):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        event = json.loads(line)
                        yield str(event.get("type")), dict(event.get("object") or {})
        except Exception as exc:
            raise _error(exc, what) from None
        finally:
            # a watch left before its end (the wait saw what it waited for) is still streaming:
            # close it, or the next request on the pooled connection reads the rest of it
            stream.close()
            stream.release_conn()

    def apps(self) -> Any:
        """The client's typed ``AppsV1Api`` (models; slow to import the first time)."""
        from kubernetes import client

        return client.AppsV1Api(self.api_client())

    def core(self) -> Any:
        """The client's typed ``CoreV1Api`` (models; slow to import the first time)."""
        from kubernetes import client

        return client.CoreV1Api(self.api_client())

    # ----------------------------------------------------------------- reading
    def workload(self, kind: Kind, name: str) -> dict[str, Any]:
        return self.request(f"read {kind} {name}", "GET", self.path(PLURALS[kind], name))

    def status(self, kind: Kind, name: str) -> dict[str, Any]:
        return _workload_status(kind, self.workload(kind, name))

    def pods(self, selector: str) -> list[dict[str, Any]]:
        listed = self.request(
            f"list pods {selector}", "GET", self.path("pods"), query={"labelSelector": selector}
        )
        found = []
        for pod in listed.get("items") or []:
            meta, status = pod.get("metadata") or {}, pod.get("status") or {}
            if meta.get("deletionTimestamp") is not None:
                continue
            ready = any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or []
            )
            found.append(
                {
                    "name": meta.get("name"),
                    "phase": status.get("phase"),
                    "ready": ready,
                    "reason": None if ready else _why_not_ready(status),
                }
            )
        return found

    def selector_of(self, kind: Kind, name: str) -> str:
        """The label selector of a workload's pods."""
        spec = self.workload(kind, name).get("spec") or {}
        labels = (spec.get("selector") or {}).get("matchLabels") or {}
        return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))

    def check_pods(self, selector: str, min_ready: int | None) -> dict[str, Any]:
        pods = self.pods(selector)
        ready = sum(1 for p in pods if p["ready"])
        need = len(pods) if min_ready is None else min_ready
        outputs = {
            "pods": pods,
            "ready": ready,
            "total": len(pods),
            "all_running": bool(pods) and ready == len(pods),
        }
        if not pods and need > 0:
            raise CheckFailed(f"no pods match {selector} in {self.namespace}", evidence=outputs)
        if ready < need or (min_ready is None and ready < len(pods)):
            reasons = "; ".join(f"{p['name']}: {p['reason']}" for p in pods if not p["ready"])
            raise CheckFailed(
                f"{ready} of {len(pods)} pods ready (need {need}): {reasons}", evidence=outputs
            )
        return outputs

    # ----------------------------------------------------------------- changing
    def scale(
        self, kind: Kind, name: str, replicas: int, wait_s: float, ctx: ActionContext
    ) -> dict[str, Any]:
        before = self.status(kind, name)
        self.request(
            f"scale {kind} {name}",
            "PATCH",
            self.path(PLURALS[kind], name, "scale"),
            {"spec": {"replicas": replicas}},
            content_type=MERGE_PATCH,
        )
        ctx.log(f"{kind} {name}: {before['replicas']} -> {replicas} replicas")
        waited = self.wait_rollout(kind, name, replicas, wait_s, ctx)
        return {
            "previous_replicas": before["replicas"],
            "replicas": replicas,
            "ready": replicas,
            "waited_s": waited,
        }

    def wait_rollout(
        self, kind: Kind, name: str, replicas: int, wait_s: float, ctx: ActionContext
    ) -> float:
        """Until the workload's status says ``replicas`` pods are ready and up to date, and no
        others remain. The workload is watched, so the wait ends when its status changes, not
        at the next poll. Returns seconds waited.

        Raises:
            CheckFailed: not there within ``wait_s``, with each unready pod's reason.
            Cancelled: the step was cancelled (seen within ``WATCH_WINDOW_S``).
        """
        start = time.monotonic()
        last = ""
        for obj in self._versions(kind, name, start + wait_s, ctx):
            s = _workload_status(kind, obj)
            current = int((obj.get("status") or {}).get("replicas") or 0)
            if s["observed"] and s["ready"] == s["updated"] == current == replicas:
                return round(time.monotonic() - start, 3)
            line = f"{name}: {s['ready']}/{replicas} ready, {current} pods"
            if line != last:
                ctx.log(line)
                last = line
        pods = self.pods(self.selector_of(kind, name))
        ready = sum(1 for p in pods if p["ready"])
        reasons = "; ".join(f"{p['name']}: {p['reason']}" for p in pods if not p["ready"])
        raise CheckFailed(
            f"{kind} {name}: {ready} of {replicas} pods ready after {wait_s:g} s"
            + (f" ({reasons})" if reasons else ""),
            evidence={"ready": ready, "pods": pods},
            hint="look at the pods' events and logs",
        )

    def _versions(
        self, kind: Kind, name: str, until: float, ctx: ActionContext
    ) -> Iterator[dict[str, Any]]:
        """The workload as it is now, then each new version of it as the API server streams
        them, until the monotonic time ``until``."""
        obj = self.workload(kind, name)
        yield obj
        query = {"fieldSelector": f"metadata.name={name}"}
        while (left := until - time.monotonic()) > 0:
            if ctx.cancel.is_set():
                raise Cancelled(f"waiting for {kind} {name} was cancelled")
            since = {**query, "resourceVersion": obj["metadata"]["resourceVersion"]}
            changes = self.watch(
                f"watch {kind} {name}", self.path(PLURALS[kind]), since, min(left, WATCH_WINDOW_S)
            )
            for event, changed in changes:
                if event not in ("ADDED", "MODIFIED"):  # deleted, or the version is too old
                    break
                obj = changed
                yield obj
            else:
                continue  # the window ended: watch on from the last version seen
            obj = self.workload(kind, name)
            yield obj

    def rollout_restart(
        self, kind: Kind, name: str, wait_s: float, ctx: ActionContext
    ) -> dict[str, Any]:
        at = format_timestamp(utcnow())
        body = {
            "spec": {
                "template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": at}}}
            }
        }
        path = self.path(PLURALS[kind], name)
        self.request(f"restart {kind} {name}", "PATCH", path, body, content_type=MERGE_PATCH)
        replicas = self.status(kind, name)["replicas"]
        return {
            "restarted_at": at,
            "waited_s": self.wait_rollout(kind, name, replicas, wait_s, ctx),
        }

    def apply_file(self, path: str) -> dict[str, Any]:
        """Create or replace the ConfigMap or Secret a backup file holds."""
        try:
            body = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise PermanentError(f"cannot read {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise PermanentError(f"{path} is not YAML or JSON: {exc}") from None
        if not isinstance(body, dict) or body.get("kind") not in ("ConfigMap", "Secret"):
            raise PermanentError(f"{path} holds no ConfigMap or Secret (kind is missing or other)")
        kind, name = body["kind"], (body.get("metadata") or {}).get("name")
        if not name:
            raise PermanentError(f"{path}: the {kind} has no metadata.name")
        meta = body["metadata"]
        for key in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
            meta.pop(key, None)
        keys = sorted({**(body.get("data") or {}), **(body.get("stringData") or {})})
        return {"kind": kind, "name": name, "created": self._put(kind, body), "keys": keys}

    def _put(self, kind: str, body: dict[str, Any]) -> bool:
        """Create or replace a ConfigMap or Secret in this namespace; True when created."""
        name = body["metadata"]["name"]
        body["metadata"]["namespace"] = self.namespace
        plural = PLURALS[kind]
        try:
            self.request(f"create {kind} {name}", "POST", self.path(plural), body)
            return True
        except Conflict:
            self.request(f"replace {kind} {name}", "PUT", self.path(plural, name), body)
            return False

    # ----------------------------------------------------------------- config backup
    def export_config(self, folder: str, key: bytes) -> dict[str, Any]:
        """The namespace's ConfigMaps (readable) and Secrets (sealed) in one backup file, with
        its ``.sha256`` beside it. Generated objects (the cluster's CA bundle, service-account
        tokens) are left out: the cluster makes them again."""
        from drconsole.adapters import sealed

        where = f"in namespace {self.namespace}"
        maps = self.request(f"list configmaps {where}", "GET", self.path("configmaps"))
        secrets = self.request(f"list secrets {where}", "GET", self.path("secrets"))
        configmaps = []
        for obj in maps.get("items") or []:
            if obj["metadata"]["name"] not in GENERATED_CONFIGMAPS:
                configmaps.append(
                    {"metadata": _kept_meta(obj)}
                    | {k: obj[k] for k in ("data", "binaryData") if obj.get(k)}
                )
        kept = []
        for obj in secrets.get("items") or []:
            if obj.get("type") in GENERATED_SECRET_TYPES:
                continue
            data = dict(obj.get("data") or {})
            for name, value in (obj.get("stringData") or {}).items():  # as written, unencoded
                data[name] = base64.b64encode(str(value).encode()).decode()
            kept.append({"metadata": _kept_meta(obj), "type": obj.get("type"), "data": data})
        clear: dict[str, Any] = {
            "namespace": self.namespace,
            "taken_at": format_timestamp(utcnow()),
            "configmaps": configmaps,
            "secrets": [{"name": s["metadata"]["name"], "keys": sorted(s["data"])} for s in kept],
        }
        name = f"config-{self.namespace}-{sealed.stamp()}.json"
        written = sealed.write(Path(folder) / name, sealed.seal(CONFIG_KIND, clear, kept, key))
        return {
            **written,
            "configmaps": [m["metadata"]["name"] for m in configmaps],
            "secrets": [s["name"] for s in clear["secrets"]],
            "taken_at": clear["taken_at"],
        }

    def restore_config(self, path: str, key: bytes, only: list[str]) -> dict[str, Any]:
        """Check the backup's ``.sha256``, decrypt and authenticate it, and only then create or
        replace its ConfigMaps and Secrets (all, or those named in ``only``)."""
        from drconsole.adapters import sealed

        clear, kept = sealed.open_sealed(sealed.read_checked(path), CONFIG_KIND, key, path)
        objects = [("ConfigMap", m) for m in clear["configmaps"]] + [("Secret", s) for s in kept]
        held = sorted({obj["metadata"]["name"] for _, obj in objects})
        unknown = sorted(set(only) - set(held))
        if unknown:
            raise PermanentError(
                f"the backup holds no ConfigMap or Secret named {', '.join(unknown)}; nothing "
                f"was applied (it holds: {', '.join(held) or 'nothing'})"
            )
        applied: dict[str, list[str]] = {"ConfigMap": [], "Secret": [], "created": []}
        for kind, obj in objects:
            name = obj["metadata"]["name"]
            if only and name not in only:
                continue
            body = {"apiVersion": "v1", "kind": kind, **obj, "metadata": dict(obj["metadata"])}
            if kind == "Secret" and not body.get("type"):
                body.pop("type", None)
            if self._put(kind, body):
                applied["created"].append(name)
            applied[kind].append(name)
        return {
            "configmaps": applied["ConfigMap"],
            "secrets": applied["Secret"],
            "created": applied["created"],
            "count": len(applied["ConfigMap"]) + len(applied["Secret"]),
            "namespace_in_backup": clear["namespace"],
            "taken_at": clear["taken_at"],
        }

    def restart_readers(
        self, configmaps: list[str], secrets: list[str], wait_s: float, ctx: ActionContext
    ) -> dict[str, Any]:
        """Rollout-restart each Deployment and StatefulSet whose pods read one of these
        ConfigMaps or Secrets (env, envFrom, volumes), so that they read the restored values."""
        wanted = {("ConfigMap", n) for n in configmaps} | {("Secret", n) for n in secrets}
        readers: dict[str, list[str]] = {}
        for kind in ("deployment", "statefulset"):
            path = self.path(PLURALS[kind])
            listed = self.request(f"list {kind}s in {self.namespace}", "GET", path)
            for obj in listed.get("items") or []:
                pod_spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
                reads = sorted(f"{k}/{n}" for k, n in _reads(pod_spec) & wanted)
                if reads:
                    readers[f"{kind}/{obj['metadata']['name']}"] = reads
        waited = 0.0
        for workload in readers:
            kind, _, name = workload.partition("/")
            ctx.log(f"{workload} reads {', '.join(readers[workload])}: restarting it")
            waited += self.rollout_restart(kind, name, wait_s, ctx)["waited_s"]  # type: ignore[arg-type]
        return {"restarted": list(readers), "readers": readers, "waited_s": round(waited, 3)}

    def switch_service(self, name: str, selector: dict[str, str]) -> dict[str, Any]:
        path = self.path("services", name)
        service = self.request(f"read service {name}", "GET", path)
        spec = service.setdefault("spec", {})
        previous = dict(spec.get("selector") or {})
        spec["selector"] = dict(selector)
        self.request(f"switch service {name}", "PUT", path, service)  # 409 if it changed since
        return {"previous_selector": previous, "selector": dict(selector)}

    def create_namespace(self, name: str, labels: dict[str, str]) -> dict[str, Any]:
        body = {"metadata": {"name": name, "labels": labels}}
        try:
            self.request(f"create namespace {name}", "POST", "/api/v1/namespaces", body)
        except Conflict:
            return {"name": name, "created": False}
        return {"name": name, "created": True}


CONFIG_KIND = "k8s-config"
GENERATED_CONFIGMAPS = {"kube-root-ca.crt"}
GENERATED_SECRET_TYPES = {"kubernetes.io/service-account-token"}
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _kept_meta(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What a backup keeps of an object's metadata: name, labels, annotations (without
    kubectl's last-applied copy, which would hold a Secret's values in the clear)."""
    meta = obj.get("metadata") or {}
    kept: dict[str, Any] = {"name": meta["name"]}
    if meta.get("labels"):
        kept["labels"] = dict(meta["labels"])
    notes = {k: v for k, v in (meta.get("annotations") or {}).items() if k != _LAST_APPLIED}
    if notes:
        kept["annotations"] = notes
    return kept


def _reads(pod_spec: Mapping[str, Any]) -> set[tuple[str, str]]:
    """The ConfigMaps and Secrets a pod template reads: env, envFrom, volumes (projected too)."""
    found: set[tuple[str, str]] = set()

    def ref(kind: str, value: Any, field: str = "name") -> None:
        if isinstance(value, Mapping) and value.get(field):
            found.add((kind, str(value[field])))

    for container in [*(pod_spec.get("containers") or []), *(pod_spec.get("initContainers") or [])]:
        for source in container.get("envFrom") or []:
            ref("ConfigMap", source.get("configMapRef"))
            ref("Secret", source.get("secretRef"))
        for env in container.get("env") or []:
            value_from = env.get("valueFrom") or {}
            ref("ConfigMap", value_from.get("configMapKeyRef"))
            ref("Secret", value_from.get("secretKeyRef"))
    for volume in pod_spec.get("volumes") or []:
        ref("ConfigMap", volume.get("configMap"))
        ref("Secret", volume.get("secret"), "secretName")
        for source in (volume.get("projected") or {}).get("sources") or []:
            ref("ConfigMap", source.get("configMap"))
            ref("Secret", source.get("secret"))
    return found


def _workload_status(kind: Kind, obj: Mapping[str, Any]) -> dict[str, Any]:
    """A Deployment's or StatefulSet's replicas: wanted, ready, updated, available."""
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    return {
        "kind": kind,
        "name": meta.get("name"),
        "replicas": int(spec.get("replicas") or 0),
        "ready": int(status.get("readyReplicas") or 0),
        "updated": int(status.get("updatedReplicas") or 0),
        "available": int(status.get("availableReplicas") or 0),
        "observed": (status.get("observedGeneration") or 0) >= (meta.get("generation") or 0),
    }


def _why_not_ready(status: Mapping[str, Any]) -> str:
    """Why a pod (its ``status``) is not ready: a container's waiting reason, its exit, or
    why it is not scheduled."""
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        waiting = state.get("waiting")
        if waiting and waiting.get("reason"):
            message = waiting.get("message")
            return str(waiting["reason"]) + (f": {message}" if message else "")
        terminated = state.get("terminated")
        if terminated is not None:
            return f"terminated: {terminated.get('reason') or terminated.get('exitCode')}"
    for cond in status.get("conditions") or []:
        if (
            cond.get("type") == "PodScheduled"
            and cond.get("status") == "False"
            and cond.get("reason")
        ):
            return f"{cond['reason']}: {cond.get('message') or ''}".strip(": ")
    return str(status.get("phase") or "not ready")


# --------------------------------------------------------------------------- parameters
class WorkloadParams(Params):
    kind: Kind = Field(description="deployment or statefulset")
    name: str


class ScaleParams(WorkloadParams):
    replicas: int = Field(ge=0, le=1000)
    wait_s: float = Field(300, gt=0, description="How long to wait for the rollout.")


class RestartParams(WorkloadParams):
    wait_s: float = Field(300, gt=0)


class PodsParams(Params):
    selector: str | None = Field(None, description="A label selector, e.g. app=qsign-api.")
    workload: str | None = Field(None, description="Or a workload: deployment/NAME.")
    min_ready: int | None = Field(None, ge=0, description="Default: every pod ready.")


class ApplyParams(Params):
    path: str = Field(description="A ConfigMap or Secret as YAML or JSON (a backup).")


class SwitchParams(Params):
    name: str = Field(description="The Service.")
    selector: dict[str, str] = Field(description="Its new selector (replaces the old one).")


class NamespaceParams(Params):
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    labels: dict[str, str] = Field(default_factory=dict)


class ExportConfigParams(KeyRef):
    dir: str = Field(description="The folder the backup file is written to (.sha256 beside).")


class RestoreConfigParams(KeyRef):
    path: str = Field(description="A config backup file, its .sha256 beside it.")
    only: list[str] = Field(
        default_factory=list, description="Restore only these ConfigMaps or Secrets (names)."
    )


class ReadersParams(Params):
    configmaps: list[str] = Field(default_factory=list)
    secrets: list[str] = Field(default_factory=list)
    wait_s: float = Field(300, gt=0)


def _k(ctx: ActionContext) -> KubeAdapter:
    return KubeAdapter(ctx.site.get("kubernetes") or {}, ctx.site_name)


def _pods(ctx: ActionContext, p: PodsParams) -> dict[str, Any]:
    k = _k(ctx)
    if p.workload:
        kind, _, name = p.workload.partition("/")
        if kind not in ("deployment", "statefulset") or not name:
            raise PermanentError(
                f"workload {p.workload!r}: write deployment/NAME or statefulset/NAME"
            )
        selector = k.selector_of(kind, name)  # type: ignore[arg-type]
    elif p.selector:
        selector = p.selector
    else:
        raise PermanentError("give selector or workload")
    return k.check_pods(selector, p.min_ready)


ACTIONS = [
    ActionSpec(
        name="k8s.status",
        summary="A Deployment's or StatefulSet's replicas: wanted, ready, updated, available.",
        params=WorkloadParams,
        outputs={
            "kind": "",
            "name": "",
            "replicas": "wanted",
            "ready": "ready",
            "updated": "updated",
            "available": "available",
            "observed": "the controller has seen the latest spec",
        },
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: _k(c).status(p.kind, p.name),
        describe=lambda p: f"read {p.kind} {p.name}",
        needs_site=True,
    ),
    ActionSpec(
        name="k8s.pods",
        summary="Pods by selector or workload, ready or not with the reason "
        "(CrashLoopBackOff, ImagePullBackOff, Unschedulable, pending).",
        params=PodsParams,
        outputs={
            "pods": "name, phase, ready, reason",
            "ready": "ready pods",
            "total": "pods",
            "all_running": "true when every pod is ready",
        },
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=_pods,
        describe=lambda p: (
            f"pods {p.workload or p.selector}, "
            + (f"at least {p.min_ready} ready" if p.min_ready is not None else "all ready")
        ),
        needs_site=True,
    ),
    ActionSpec(
        name="k8s.scale",
        summary="Scale a Deployment or StatefulSet; wait until exactly that many pods are ready.",
        params=ScaleParams,
        outputs={
            "previous_replicas": "replicas before (for going back)",
            "replicas": "replicas now",
            "ready": "ready pods",
            "waited_s": "seconds until the rollout finished",
        },
        effect=Effect.CHANGES,
        idempotent=True,
        run=lambda c, p: _k(c).scale(p.kind, p.name, p.replicas, p.wait_s, c),
        describe=lambda p: f"scale {p.kind} {p.name} to {p.replicas}, wait up to {p.wait_s:g} s",
        needs_site=True,
    ),
    ActionSpec(
        name="k8s.rollout_restart",
        summary="Restart a workload's pods (as kubectl rollout restart) and wait until ready.",
        params=RestartParams,
        outputs={"restarted_at": "the restart annotation", "waited_s": "seconds"},
        effect=Effect.CHANGES,
        idempotent=True,
        run=lambda c, p: _k(c).rollout_restart(p.kind, p.name, p.wait_s, c),
        describe=lambda p: f"rollout restart {p.kind} {p.name}",
        needs_site=True,
    ),
    ActionSpec(
        name="k8s.apply",
        summary="Create or replace a ConfigMap or Secret from a backup file (values not shown).",
        params=ApplyParams,
        outputs={"kind": "", "name": "", "created": "false when replaced", "keys": "data keys"},
        effect=Effect.CHANGES,
        idempotent=True,
        run=lambda c, p: _k(c).apply_file(p.path),
        describe=lambda p: f"apply the ConfigMap or Secret in {p.path}",
        needs_site=True,
    ),
    ActionSpec(
        name="k8s.export_config",
        summary="Back up the namespace's ConfigMaps and Secrets to a file (Secrets sealed "
        "with AES-256-GCM), .sha256 beside it.",
        params=ExportConfigParams,
        outputs={
            "path": "the backup file",
            "name": "its file name",
            "sha256": "",
            "size": "bytes",
            "configmaps": "names",
            "secrets": "names (values sealed, never shown)",
            "taken_at": "when it was read",
        },
        effect=Effect.CHANGES,
        idempotent=True,
        run=lambda c, p: _k(c).export_config(p.dir, site_key(c, p)),
        describe=lambda p: f"back up the namespace's ConfigMaps and Secrets into {p.dir}",
        needs_site=True,
    ),
    ActionSpec(
        name="k8s.restore_config",
        summary="Restore ConfigMaps and Secrets from a config backup: checksum first, then "
        "decrypt and authenticate, then apply (nothing is applied unless both pass).",
        params=RestoreConfigParams,
        outputs={
            "configmaps": "names applied",
            "secrets": "names applied (values never shown)",
            "created": "names that did not exist",
            "count": "",
            "namespace_in_backup": "",
            "taken_at": "when the backup was taken (the recovery point)",
        },
        effect=Effect.CHANGES,
        idempotent=True,
        run=lambda c, p: _k(c).restore_config(p.path, site_key(c, p), p.only),
        describe=lambda p: (
            f"check, decrypt and apply {p.path}"
            + (f" (only {', '.join(p.only)})" if p.only else "")
        ),
        needs_site=True,
    ),
    ActionSpec(
        name="k8s.restart_readers",
        summary="Rollout-restart the Deployments and StatefulSets whose pods read these "
        "ConfigMaps or Secrets, and wait until they are ready.",
        params=ReadersParams,
        outputs={
            "restarted": "kind/name of each workload restarted",
            "readers": "workload to what it reads",
            "waited_s": "",
        },
        effect=Effect.CHANGES,
        idempotent=True,
        run=lambda c, p: _k(c).restart_readers(p.configmaps, p.secrets, p.wait_s, c),
        describe=lambda p: (
            "restart the workloads that read "
            + ", ".join([*p.configmaps, *p.secrets] or ["(the restored objects)"])
        ),
        needs_site=True,
    ),
    ActionSpec(
        name="k8s.switch_service",
        summary="Point a Service at other pods (replace its selector); the old one is kept.",
        params=SwitchParams,
        outputs={"previous_selector": "the selector before", "selector": "the selector now"},
        effect=Effect.CHANGES,
        idempotent=True,
        run=lambda c, p: _k(c).switch_service(p.name, p.selector),
        describe=lambda p: f"service {p.name} selector -> {p.selector}",
        needs_site=True,
    ),
    ActionSpec(
        name="k8s.create_namespace",
        summary="Create a namespace (for a restore test); an existing one is reported as such.",
        params=NamespaceParams,
        outputs={"name": "", "created": "false when it existed"},
        effect=Effect.CHANGES,
        idempotent=True,
        run=lambda c, p: _k(c).create_namespace(p.name, p.labels),
        describe=lambda p: f"create namespace {p.name}",
        needs_site=True,
    ),
]
