"""Waiting on Kubernetes ends when the cluster changes, not at the next poll: the simulator's
watch streams each change as it is written (in HTTP chunks, as a real API server does), to the
official client's ``Watch``, to ``kubectl get --watch`` and to the adapter, whose scale returns
within a short time of the last pod becoming ready. A simulator is started per test on a free
loopback port."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from drconsole.adapters.base import ActionContext, Cancelled
from drconsole.adapters.kubernetes import KubeAdapter
from drconsole.sandbox.k8ssim import Simulator, qsign_objects

READY_DELAY_S = 1.0


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[tuple[Simulator, KubeAdapter, Path]]:
    with Simulator(ready_delay_s=READY_DELAY_S) as simulator:
        simulator.seed(qsign_objects(0))
        config = simulator.kubeconfig(tmp_path / "kubeconfig", "dr")
        section = {"kubeconfig": str(config), "context": "dr", "namespace": "qsign"}
        yield simulator, KubeAdapter(section, "dr"), config


def _scale_later(k: KubeAdapter, replicas: int, after_s: float) -> threading.Thread:
    def scale() -> None:
        time.sleep(after_s)
        k.request(
            "scale",
            "PATCH",
            k.path("deployments", "qsign-api", "scale"),
            {"spec": {"replicas": replicas}},
            content_type="application/merge-patch+json",
        )

    thread = threading.Thread(target=scale)
    thread.start()
    return thread


def test_scale_returns_soon_after_the_pods_are_ready(
    sim: tuple[Simulator, KubeAdapter, Path],
) -> None:
    _, k, _ = sim
    k.status("deployment", "qsign-api")  # the first request pays for the connection
    took = []
    for _ in range(3):
        started = time.monotonic()
        out = k.scale("deployment", "qsign-api", 3, 30, ActionContext())
        took.append(time.monotonic() - started)
        assert out["ready"] == 3
        # the next request right after the wait: its connection must not be left mid-watch
        assert k.status("deployment", "qsign-api")["ready"] == 3
        k.scale("deployment", "qsign-api", 0, 30, ActionContext())
    # the pods start 1 s after the scale; the wait sees it at once. The best of three, so that
    # a busy moment on a shared machine does not fail it: a 0.25 s poll and the simulator's
    # 0.1 s tick gave 1.16-1.33 s every time
    assert all(t >= READY_DELAY_S for t in took), took
    assert min(took) < READY_DELAY_S + 0.12, took


def test_the_official_clients_watch_gets_each_change_as_it_happens(
    sim: tuple[Simulator, KubeAdapter, Path],
) -> None:
    from kubernetes import watch

    _, k, _ = sim
    apps = k.apps()
    version = apps.read_namespaced_deployment("qsign-api", "qsign").metadata.resource_version
    scaler = _scale_later(k, 1, 0.3)
    started = time.monotonic()
    seen: list[tuple[float, str, int]] = []
    for event in watch.Watch().stream(  # type: ignore[no-untyped-call]
        apps.list_namespaced_deployment,
        "qsign",
        field_selector="metadata.name=qsign-api",
        resource_version=version,
        timeout_seconds=10,
    ):
        obj = event["object"]
        seen.append((time.monotonic() - started, event["type"], obj.status.ready_replicas or 0))
        if obj.status.ready_replicas == 1:
            break
    scaler.join()
    # streamed while the watch is open (not all at once when it ends after 10 s)
    first, last = seen[0], seen[-1]
    assert first[1] == "MODIFIED", seen
    assert first[0] < 1.0, seen
    assert last[2] == 1, seen
    assert 0.3 + READY_DELAY_S <= last[0] < 0.3 + READY_DELAY_S + 0.5, seen


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_get_watch_prints_each_change_as_it_happens(
    sim: tuple[Simulator, KubeAdapter, Path], tmp_path: Path
) -> None:
    _, k, config = sim
    kubectl = subprocess.Popen(
        [str(shutil.which("kubectl")), "--kubeconfig", str(config), "--cache-dir",
         str(tmp_path / "kcache"), "get", "deployment", "qsign-api", "--watch",
         "--output-watch-events", "--request-timeout=20s"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    try:
        assert kubectl.stdout is not None
        header, first = kubectl.stdout.readline(), kubectl.stdout.readline()
        assert header.split()[:3] == ["EVENT", "NAME", "READY"], header
        assert first.split()[:3] == ["ADDED", "qsign-api", "0/0"], first
        scaler = _scale_later(k, 1, 0.0)
        started = time.monotonic()
        lines: list[str] = []
        while not lines or lines[-1].split()[2] != "1/1":
            lines.append(kubectl.stdout.readline())
            assert lines[-1], kubectl.stderr.read() if kubectl.stderr else ""
        scaler.join()
        assert lines[-1].split()[:2] == ["MODIFIED", "qsign-api"], lines
        assert READY_DELAY_S <= time.monotonic() - started < READY_DELAY_S + 1.0, lines
    finally:
        kubectl.kill()
        kubectl.communicate()


def test_a_cancelled_wait_ends_within_the_watch_window(
    sim: tuple[Simulator, KubeAdapter, Path],
) -> None:
    simulator, k, _ = sim
    k.request(
        "annotate",
        "PATCH",
        k.path("deployments", "qsign-api"),
        {"metadata": {"annotations": {"simulator.drconsole.io/fault": "ImagePullBackOff"}}},
        content_type="application/merge-patch+json",
    )
    ctx = ActionContext()
    threading.Timer(0.5, ctx.cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled, match="waiting for deployment qsign-api was cancelled"):
        k.scale("deployment", "qsign-api", 1, 60, ctx)
    assert time.monotonic() - started < 2.0


def test_a_watch_ends_when_the_simulator_stops(tmp_path: Path) -> None:
    simulator = Simulator(ready_delay_s=READY_DELAY_S).start()
    simulator.seed(qsign_objects(0))
    config = simulator.kubeconfig(tmp_path / "kubeconfig", "dr")
    k = KubeAdapter({"kubeconfig": str(config), "namespace": "qsign"}, "dr")
    version = k.workload("deployment", "qsign-api")["metadata"]["resourceVersion"]
    ended: list[float] = []

    def watch() -> None:
        for _ in k.watch("watch", k.path("deployments"), {"resourceVersion": version}, 60):
            pass
        ended.append(time.monotonic())

    watcher = threading.Thread(target=watch)
    watcher.start()
    time.sleep(0.3)
    stopped = time.monotonic()
    simulator.stop()
    watcher.join(timeout=10)
    assert ended, "the watch still waits for a write after the simulator stopped"
    assert ended[0] - stopped < 2.0
