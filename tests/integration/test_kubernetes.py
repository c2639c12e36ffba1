"""The Kubernetes adapter through the official client, against the API simulator (started per
test on a free loopback port) and, when DRCONSOLE_KUBECONFIG is set, against a real cluster
too (in a namespace of its own, deleted afterwards)."""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from drconsole.adapters.base import (
    ActionContext,
    CheckFailed,
    PermanentError,
    TransientError,
)
from drconsole.adapters.kubernetes import KubeAdapter
from drconsole.adapters.oscmd import free_port
from drconsole.adapters.pghost import StatefulSetCluster, host_for
from drconsole.sandbox.k8ssim import FAULT, Simulator, qsign_objects

BACKENDS = ["simulator", "real"]


def _real_section(tmp: Path) -> Iterator[dict[str, Any]]:
    from kubernetes import client, config, utils

    path = os.environ["DRCONSOLE_KUBECONFIG"]
    namespace = f"drconsole-test-{secrets.token_hex(3)}"
    api = config.new_client_from_config(config_file=path)
    client.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
    try:
        for obj in qsign_objects(1)[1:]:
            obj["metadata"]["namespace"] = namespace
            obj["apiVersion"] = "apps/v1" if obj["kind"] in ("Deployment", "StatefulSet") else "v1"
            utils.create_from_dict(api, obj, namespace=namespace)
        yield {"kubeconfig": path, "namespace": namespace}
    finally:
        client.CoreV1Api(api).delete_namespace(namespace)


@pytest.fixture(params=BACKENDS)
def kube(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A ``kubernetes`` targets section reaching a cluster with the QSIGN objects."""
    if request.param == "real":
        if not os.environ.get("DRCONSOLE_KUBECONFIG"):
            pytest.skip("DRCONSOLE_KUBECONFIG is not set: no real cluster to test against")
        yield from _real_section(tmp_path)
        return
    with Simulator(ready_delay_s=0.2) as sim:
        sim.seed(qsign_objects(1))
        config = sim.kubeconfig(tmp_path / "kubeconfig", "dr")
        yield {"kubeconfig": str(config), "context": "dr", "namespace": "qsign", "_sim": sim}


def adapter(section: dict[str, Any]) -> KubeAdapter:
    return KubeAdapter({k: v for k, v in section.items() if not k.startswith("_")}, "dr")


def test_scale_waits_for_exactly_that_many_ready_pods(kube: dict[str, Any]) -> None:
    k = adapter(kube)
    lines: list[str] = []
    out = k.scale("deployment", "qsign-api", 3, 120, ActionContext(log=lines.append))
    assert out["previous_replicas"] == 1
    assert out["ready"] == 3
    status = k.status("deployment", "qsign-api")
    assert status["ready"] == status["replicas"] == 3
    assert any("3 replicas" in line for line in lines)
    assert k.check_pods("app=qsign-api", None)["all_running"] is True
    k.scale("deployment", "qsign-api", 0, 120, ActionContext())
    assert k.pods("app=qsign-api") == []


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("CrashLoopBackOff", "CrashLoopBackOff"),
        ("ImagePullBackOff", "ImagePullBackOff"),
        ("Unschedulable", "Unschedulable"),
    ],
)
def test_pods_that_never_get_ready_are_reported_with_their_reason(
    tmp_path: Path, fault: str, reason: str
) -> None:
    with Simulator(ready_delay_s=0.1) as sim:
        sim.seed(qsign_objects(0))
        section = {
            "kubeconfig": str(sim.kubeconfig(tmp_path / "kc", "dr")),
            "context": "dr",
            "namespace": "qsign",
        }
        k = KubeAdapter(section, "dr")
        k.request(
            "annotate",
            "PATCH",
            k.path("deployments", "qsign-api"),
            {"metadata": {"annotations": {FAULT: fault}}},
            content_type="application/merge-patch+json",
        )
        with pytest.raises(CheckFailed, match=f"0 of 2 pods ready after 1 s.*{reason}"):
            k.scale("deployment", "qsign-api", 2, 1, ActionContext())
        with pytest.raises(CheckFailed, match=reason):
            k.check_pods("app=qsign-api", None)


def test_rollout_restart_replaces_every_pod(kube: dict[str, Any]) -> None:
    k = adapter(kube)
    k.scale("deployment", "qsign-api", 2, 120, ActionContext())
    before = {p["name"] for p in k.pods("app=qsign-api")}
    out = k.rollout_restart("deployment", "qsign-api", 120, ActionContext())
    after = {p["name"] for p in k.pods("app=qsign-api")}
    assert out["restarted_at"]
    assert len(after) == 2
    assert not before & after


def test_apply_a_configmap_and_a_secret_from_backup_files(
    kube: dict[str, Any], tmp_path: Path
) -> None:
    k = adapter(kube)
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "qsign-config", "resourceVersion": "1", "uid": "x"},
                "data": {"LOG_LEVEL": "debug"},
            }
        )
    )
    assert k.apply_file(str(config)) == {
        "kind": "ConfigMap", "name": "qsign-config", "created": False, "keys": ["LOG_LEVEL"]
    }  # fmt: skip
    read = k.core().read_namespaced_config_map("qsign-config", k.namespace)
    assert read.data == {"LOG_LEVEL": "debug"}
    secret = tmp_path / "secret.json"
    secret.write_text(
        '{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "qsign-db"},'
        ' "stringData": {"password": "s3cret-value"}}'
    )
    out = k.apply_file(str(secret))
    assert out == {"kind": "Secret", "name": "qsign-db", "created": True, "keys": ["password"]}
    assert "s3cret-value" not in repr(out)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("kind: Deployment\nmetadata: {name: x}\n", "holds no ConfigMap or Secret"),
        ("kind: ConfigMap\ndata: {}\n", "has no metadata.name"),
        ("{not yaml", "is not YAML or JSON"),
    ],
)
def test_bad_backup_files_are_refused(
    kube: dict[str, Any], tmp_path: Path, text: str, words: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(PermanentError, match=words):
        adapter(kube).apply_file(str(path))


def test_switch_a_service_and_keep_the_previous_selector(kube: dict[str, Any]) -> None:
    k = adapter(kube)
    out = k.switch_service("qsign-api", {"app": "qsign-api", "site": "dr"})
    assert out["previous_selector"] == {"app": "qsign-api"}
    read = k.core().read_namespaced_service("qsign-api", k.namespace)
    assert read.spec.selector == {"app": "qsign-api", "site": "dr"}


def test_create_a_namespace_twice(kube: dict[str, Any]) -> None:
    k = adapter(kube)
    name = f"restore-test-{secrets.token_hex(3)}"
    try:
        assert k.create_namespace(name, {"purpose": "restore-test"})["created"] is True
        assert k.create_namespace(name, {})["created"] is False
    finally:
        k.core().delete_namespace(name)


def test_errors_are_typed_with_what_to_do(kube: dict[str, Any]) -> None:
    k = adapter(kube)
    with pytest.raises(PermanentError, match="404.*check the name, the namespace"):
        k.status("deployment", "no-such-thing")
    service = k.request("read", "GET", k.path("services", "qsign-api"))
    k.switch_service("qsign-api", {"app": "other"})  # the object changes under us
    with pytest.raises(TransientError, match="409"):
        k.request("replace", "PUT", k.path("services", "qsign-api"), service)


def test_a_dead_api_server_is_transient_and_a_missing_kubeconfig_permanent(
    tmp_path: Path,
) -> None:
    port = free_port()  # nobody listens there
    from drconsole.sandbox.k8ssim import write_kubeconfig

    config = write_kubeconfig(tmp_path / "kc", {"dr": f"http://127.0.0.1:{port}"})
    k = KubeAdapter({"kubeconfig": str(config), "namespace": "qsign"}, "dr")
    with pytest.raises(TransientError, match="does not answer"):
        k.status("deployment", "qsign-api")
    with pytest.raises(PermanentError, match="no kubeconfig at"):
        KubeAdapter({"kubeconfig": str(tmp_path / "none")}, "dr").status("deployment", "x")


def test_a_statefulset_database_host_stops_and_starts(kube: dict[str, Any]) -> None:
    section = {k: v for k, v in kube.items() if not k.startswith("_")}
    host = host_for({"host_kind": "statefulset", "statefulset": "postgres", "kubernetes": section})
    assert isinstance(host, StatefulSetCluster)
    deadline = time.monotonic() + 60
    while not host.is_running():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    host.stop()
    assert not host.is_running()
    host.start(wait_s=120)
    assert host.is_running()
    with pytest.raises(PermanentError, match="needs 'statefulset: NAME'"):
        host_for({"host_kind": "statefulset"})


def test_concurrent_writers_meet_optimistic_concurrency(tmp_path: Path) -> None:
    """Read-modify-replace from several clients at once, each reading before any writes: one
    wins, every other gets 409 Conflict (a transient error the engine retries), and the object
    holds exactly the winner's change (no lost update, no mix)."""
    writers = 8
    with Simulator(ready_delay_s=0.05) as sim:
        sim.seed(qsign_objects(1))
        config = sim.kubeconfig(tmp_path / "kc", "dr")
        before = sim.store.read("services", "qsign", "qsign-api")
        all_read = threading.Barrier(writers)
        results: dict[int, BaseException | None] = {}

        def worker(n: int) -> None:
            k = KubeAdapter({"kubeconfig": str(config), "namespace": "qsign"}, "dr")
            request = k.request

            def read_then_wait(what: str, method: str, *args: Any, **kwargs: Any) -> Any:
                answer = request(what, method, *args, **kwargs)
                if method == "GET":
                    all_read.wait(timeout=30)  # every writer holds the same version now
                return answer

            k.request = read_then_wait  # type: ignore[method-assign]
            try:
                k.switch_service("qsign-api", {"app": "qsign-api", "n": str(n)})
                results[n] = None
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                results[n] = exc

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(writers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        (winner,) = [n for n, error in results.items() if error is None]
        losers = [error for error in results.values() if error is not None]
        assert len(losers) == writers - 1
        for error in losers:
            assert isinstance(error, TransientError), repr(error)
            assert " 409 " in str(error), error
        final = sim.store.read("services", "qsign", "qsign-api")
        assert final["spec"]["selector"] == {"app": "qsign-api", "n": str(winner)}
        assert final["metadata"]["resourceVersion"] != before["metadata"]["resourceVersion"]
