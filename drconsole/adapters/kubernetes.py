"""Kubernetes through the official client, one kubeconfig context per site: workload status,
scale and wait for the rollout, pod readiness with reasons, rollout restart, a ConfigMap or
Secret applied from a backup file, a Service's selector switched, a namespace created.

Targets ``kubernetes`` section::

    kubernetes:
      kubeconfig: /path/to/kubeconfig     # default: $DRCONSOLE_KUBECONFIG, then ~/.kube/config
      context: dr-cluster                 # default: the kubeconfig's current context
      namespace: qsign

The client's own retries are off: the step's ``retry`` decides, and each attempt is journaled.
Connection failures, 409 conflicts, 429 and 5xx are transient; 401/403/404/422 are not.
Secret values are never read back into outputs, logs or the journal.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

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
from drconsole.timeutil import format_timestamp, utcnow

REQUEST_TIMEOUT_S = 15
Kind = Literal["deployment", "statefulset"]


class Conflict(TransientError):
    """409: the object exists already, or changed since it was read."""


def _error(exc: Exception, what: str) -> AdapterError:
    """A client exception as a typed error with what to do next."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    if isinstance(exc, ApiException):
        status = int(exc.status or 0)
        try:
            message = json.loads(exc.body or "{}").get("message") or exc.reason
        except ValueError:
            message = exc.reason
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
    if isinstance(exc, HTTPError | OSError):
        return TransientError(f"{what}: the API server does not answer ({exc})")
    return PermanentError(f"{what}: {type(exc).__name__}: {exc}")


class KubeAdapter:
    """One site's cluster and namespace."""

    def __init__(self, section: Mapping[str, Any], site_name: str | None = None) -> None:
        self.section = dict(section)
        self.site_name = site_name or "?"
        self.namespace = str(self.section.get("namespace") or "default")
        self._api: Any = None

    def describe(self) -> str:
        return f"{self.section.get('context') or 'current context'}/{self.namespace}"

    def api_client(self) -> Any:
        if self._api is None:
            from kubernetes import client, config
            from kubernetes.config.config_exception import ConfigException

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
            configuration = client.Configuration()
            try:
                config.load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=str(path),
                    context=self.section.get("context"),
                    client_configuration=configuration,
                )
            except ConfigException as exc:
                raise PermanentError(f"kubeconfig {path}: {exc}") from None
            configuration.retries = 0
            self._api = client.ApiClient(configuration)
        return self._api

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, _request_timeout=REQUEST_TIMEOUT_S, **kwargs)
        except Exception as exc:
            raise _error(exc, what) from None

    def apps(self) -> Any:
        from kubernetes import client

        return client.AppsV1Api(self.api_client())

    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api_client())

    # ----------------------------------------------------------------- reading
    def workload(self, kind: Kind, name: str) -> Any:
        apps = self.apps()
        read = (
            apps.read_namespaced_deployment
            if kind == "deployment"
            else apps.read_namespaced_stateful_set
        )
        return self._call(f"read {kind} {name}", read, name, self.namespace)

    def status(self, kind: Kind, name: str) -> dict[str, Any]:
        obj = self.workload(kind, name)
        status = obj.status
        return {
            "kind": kind,
            "name": name,
            "replicas": int(obj.spec.replicas or 0),
            "ready": int(status.ready_replicas or 0),
            "updated": int(status.updated_replicas or 0),
            "available": int(getattr(status, "available_replicas", None) or 0),
            "observed": (status.observed_generation or 0) >= (obj.metadata.generation or 0),
        }

    def pods(self, selector: str) -> list[dict[str, Any]]:
        listed = self._call(
            f"list pods {selector}",
            self.core().list_namespaced_pod,
            self.namespace,
            label_selector=selector,
        )
        found = []
        for pod in listed.items:
            if pod.metadata.deletion_timestamp is not None:
                continue
            ready = any(
                c.type == "Ready" and c.status == "True" for c in pod.status.conditions or []
            )
            found.append(
                {
                    "name": pod.metadata.name,
                    "phase": pod.status.phase,
                    "ready": ready,
                    "reason": None if ready else _why_not_ready(pod),
                }
            )
        return found

    def selector_of(self, kind: Kind, name: str) -> str:
        """The label selector of a workload's pods."""
        labels = self.workload(kind, name).spec.selector.match_labels or {}
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
        apps = self.apps()
        patch = (
            apps.patch_namespaced_deployment_scale
            if kind == "deployment"
            else apps.patch_namespaced_stateful_set_scale
        )
        self._call(
            f"scale {kind} {name}", patch, name, self.namespace, {"spec": {"replicas": replicas}}
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
        """Until ``replicas`` pods are ready (and no others remain). Returns seconds waited.

        Raises:
            CheckFailed: not there within ``wait_s``, with each unready pod's reason.
        """
        start = time.monotonic()
        selector = self.selector_of(kind, name)
        last = ""
        while True:
            s = self.status(kind, name)
            pods = self.pods(selector)
            ready = sum(1 for p in pods if p["ready"])
            if s["observed"] and ready == replicas and len(pods) == replicas:
                return round(time.monotonic() - start, 3)
            line = f"{name}: {ready}/{replicas} ready, {len(pods)} pods"
            if line != last:
                ctx.log(line)
                last = line
            if time.monotonic() - start > wait_s:
                reasons = "; ".join(f"{p['name']}: {p['reason']}" for p in pods if not p["ready"])
                raise CheckFailed(
                    f"{kind} {name}: {ready} of {replicas} pods ready after {wait_s:g} s"
                    + (f" ({reasons})" if reasons else ""),
                    evidence={"ready": ready, "pods": pods},
                    hint="look at the pods' events and logs",
                )
            if ctx.cancel.wait(0.25):
                raise Cancelled(f"waiting for {kind} {name} was cancelled")

    def rollout_restart(
        self, kind: Kind, name: str, wait_s: float, ctx: ActionContext
    ) -> dict[str, Any]:
        apps = self.apps()
        patch = (
            apps.patch_namespaced_deployment
            if kind == "deployment"
            else apps.patch_namespaced_stateful_set
        )
        at = format_timestamp(utcnow())
        body = {
            "spec": {
                "template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": at}}}
            }
        }
        self._call(f"restart {kind} {name}", patch, name, self.namespace, body)
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
        meta["namespace"] = self.namespace
        core = self.core()
        create, replace = (
            (core.create_namespaced_config_map, core.replace_namespaced_config_map)
            if kind == "ConfigMap"
            else (core.create_namespaced_secret, core.replace_namespaced_secret)
        )
        keys = sorted({**(body.get("data") or {}), **(body.get("stringData") or {})})
        try:
            self._call(f"create {kind} {name}", create, self.namespace, body)
            created = True
        except Conflict:
            self._call(f"replace {kind} {name}", replace, name, self.namespace, body)
            created = False
        return {"kind": kind, "name": name, "created": created, "keys": keys}

    def switch_service(self, name: str, selector: dict[str, str]) -> dict[str, Any]:
        core = self.core()
        service = self._call(
            f"read service {name}", core.read_namespaced_service, name, self.namespace
        )
        previous = dict(service.spec.selector or {})
        service.spec.selector = dict(selector)
        self._call(
            f"switch service {name}",
            core.replace_namespaced_service,
            name,
            self.namespace,
            service,
        )
        return {"previous_selector": previous, "selector": dict(selector)}

    def create_namespace(self, name: str, labels: dict[str, str]) -> dict[str, Any]:
        body = {"metadata": {"name": name, "labels": labels}}
        try:
            self._call(f"create namespace {name}", self.core().create_namespace, body)
        except Conflict:
            return {"name": name, "created": False}
        return {"name": name, "created": True}


def _why_not_ready(pod: Any) -> str:
    for status in pod.status.container_statuses or []:
        waiting = status.state.waiting if status.state else None
        if waiting is not None and waiting.reason:
            return str(waiting.reason) + (f": {waiting.message}" if waiting.message else "")
        terminated = status.state.terminated if status.state else None
        if terminated is not None:
            return f"terminated: {terminated.reason or terminated.exit_code}"
    for cond in pod.status.conditions or []:
        if cond.status == "False" and cond.reason and cond.type == "PodScheduled":
            return f"{cond.reason}: {cond.message or ''}".strip(": ")
    return str(pod.status.phase or "not ready")


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
