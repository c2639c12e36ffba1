"""The real ``kubectl`` against the Kubernetes API simulator, as an operator uses it in a drill:
get, describe, scale, rollout restart and rollout status, each with exit 0 and the text a real
cluster would print; the simulator's refusals are clear messages; ``sandbox env`` exports the
sandbox's kubeconfig. A simulator is started per test on a free loopback port (the sandbox test
starts the sandbox's own simulator programs). Skipped only where no kubectl is installed (CI
installs Debian's kubernetes-client)."""

from __future__ import annotations

import dataclasses
import getpass
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from drconsole.adapters.oscmd import free_port
from drconsole.sandbox import k8s, manager
from drconsole.sandbox.k8ssim import Simulator, qsign_objects
from drconsole.sandbox.k8sviews import age
from tests.conftest import Cli

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(
    KUBECTL is None,
    reason="kubectl is not installed (make system-packages installs Debian's kubernetes-client)",
)
Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def _kubectl(tmp: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert KUBECTL is not None
    return subprocess.run(
        [KUBECTL, "--kubeconfig", str(config), "--cache-dir", str(tmp / "kcache"), *args],
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, "HOME": str(tmp)},
    )


@pytest.fixture
def kubectl(tmp_path: Path) -> Iterator[Kubectl]:
    """kubectl against a fresh simulator with the QSIGN namespace (the api-server at 2)."""
    with Simulator(ready_delay_s=1.5) as sim:
        sim.seed(qsign_objects(2))
        config = sim.kubeconfig(tmp_path / "kubeconfig", "dr")
        yield lambda *args: _kubectl(tmp_path, config, *args)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args[5:]} exited {result.returncode}: {result.stderr}"
    assert "rror" not in result.stderr, result.stderr
    return result.stdout


def rows(table: str) -> list[list[str]]:
    return [line.split() for line in table.splitlines()]


def ready_pods(kubectl: Kubectl, want: int, within_s: float = 20.0) -> list[list[str]]:
    """The api-server's pods once exactly ``want`` are listed, all 1/1 Running."""
    deadline = time.monotonic() + within_s
    while True:
        pods = rows(ok(kubectl("get", "pods", "-l", "app=qsign-api")))[1:]
        if len(pods) == want and all(p[1:3] == ["1/1", "Running"] for p in pods):
            return pods
        assert time.monotonic() < deadline, f"not {want} ready pods: {pods}"
        time.sleep(0.2)


@needs_kubectl
def test_get_deployments_and_pods_prints_the_real_columns(kubectl: Kubectl) -> None:
    ready_pods(kubectl, 2)
    deploy = rows(ok(kubectl("get", "deploy", "-n", "qsign")))
    assert deploy[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert deploy[1][:4] == ["qsign-api", "2/2", "2", "2"]
    assert re.fullmatch(r"\d+s", deploy[1][4])
    pods = rows(ok(kubectl("get", "pods")))
    assert pods[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    names = [p[0] for p in pods[1:]]
    assert "postgres-0" in names
    assert "vault-0" in names
    assert sum(n.startswith("qsign-api-") for n in names) == 2
    assert all(p[1:4] == ["1/1", "Running", "0"] for p in pods[1:])
    everywhere = rows(ok(kubectl("get", "pods", "-A")))
    assert everywhere[0][:2] == ["NAMESPACE", "NAME"]
    assert [p[1] for p in everywhere[1:] if p[0] == "qsign"] == names
    sts = rows(ok(kubectl("get", "statefulsets", "-o", "wide")))
    assert sts[0] == ["NAME", "READY", "AGE", "CONTAINERS", "IMAGES"]
    assert sts[2][:2] == ["vault", "1/1"]
    assert sts[2][3:] == ["vault", "openbao/openbao:2.4"]
    assert json.loads(ok(kubectl("get", "deploy", "qsign-api", "-o", "json")))["kind"] == (
        "Deployment"
    )


@needs_kubectl
def test_describe_a_deployment(kubectl: Kubectl) -> None:
    ready_pods(kubectl, 2)
    text = ok(kubectl("describe", "deploy", "qsign-api"))
    assert re.search(r"^Name:\s+qsign-api$", text, re.M)
    assert re.search(r"^Namespace:\s+qsign$", text, re.M)
    assert "2 desired | 2 updated | 2 total | 2 available | 0 unavailable" in text
    assert re.search(r"^StrategyType:\s+Recreate$", text, re.M)  # what the simulator does
    assert re.search(r"Image:\s+qsign/api-server:1.4", text)
    assert re.search(r"^Events:\s+<none>$", text, re.M)
    assert "Status:       Running" in ok(kubectl("describe", "pod", "vault-0"))


@needs_kubectl
def test_scale_to_three_gives_three_ready_pods(kubectl: Kubectl) -> None:
    ready_pods(kubectl, 2)
    assert ok(kubectl("scale", "deploy/qsign-api", "--replicas=3")).strip() == (
        "deployment.apps/qsign-api scaled"
    )
    assert len(ready_pods(kubectl, 3)) == 3
    deploy = rows(ok(kubectl("get", "deploy", "qsign-api")))
    assert deploy[1][:4] == ["qsign-api", "3/3", "3", "3"]


@needs_kubectl
def test_rollout_restart_then_rollout_status_waits_for_the_new_pods(kubectl: Kubectl) -> None:
    before = {p[0] for p in ready_pods(kubectl, 2)}
    assert ok(kubectl("rollout", "restart", "deployment/qsign-api")).strip() == (
        "deployment.apps/qsign-api restarted"
    )
    started = time.monotonic()
    status = ok(kubectl("rollout", "status", "deployment/qsign-api", "--timeout=30s"))
    # the new pods get ready 1.5 s after the restart: kubectl saw it wait, then (by its
    # watch) the rollout finish
    assert 'Waiting for deployment "qsign-api" rollout to finish' in status
    assert status.strip().endswith('deployment "qsign-api" successfully rolled out')
    assert time.monotonic() - started < 15
    after = {p[0] for p in ready_pods(kubectl, 2)}
    assert not before & after


@needs_kubectl
def test_what_the_simulator_does_not_do_is_refused_with_what_to_do(kubectl: Kubectl) -> None:
    selector = kubectl("get", "pods", "-l", "app in (qsign-api)")
    assert selector.returncode != 0
    assert "the simulator supports only equality terms (key=value)" in selector.stderr
    containers = '{"spec":{"template":{"spec":{"containers":[{"name":"x","image":"y"}]}}}}'
    patch = kubectl("patch", "deploy", "qsign-api", "--type", "strategic", "-p", containers)
    assert patch.returncode != 0
    assert "send a JSON merge patch" in patch.stderr
    merge = '{"metadata":{"labels":{"tier":"api"}}}'
    ok(kubectl("patch", "deploy", "qsign-api", "--type", "merge", "-p", merge))
    assert "tier=api" in ok(kubectl("get", "deploy", "--show-labels"))
    replicasets = kubectl("get", "rs")  # the simulator has none: pods belong to the Deployment
    assert replicasets.returncode == 0
    assert "No resources found in qsign namespace." in replicasets.stderr


@needs_kubectl
def test_sandbox_env_exports_the_kubeconfig_of_both_sites(tmp_path: Path, cli: Cli) -> None:
    """The Kubernetes part of a sandbox (its two simulator programs and kubeconfig): what
    ``sandbox env`` says is enough for kubectl to reach either site."""
    root = tmp_path / "sbx"
    ports = {name: free_port() for name in manager.PORT_NAMES}  # only k8s_* listen
    state = manager.SandboxState(str(root), getpass.getuser(), 1, 1, time.time(), ports)
    root.mkdir()
    (root / manager.STATE).write_text(json.dumps(dataclasses.asdict(state)))
    sims = k8s.simulators(root, ports)
    try:
        for sim in sims:
            sim.start()
        config = k8s.kubeconfig(root, sims)
        said = cli("sandbox", "env", "--dir", root, "--site", "dr")
        assert said.code == 0, said.err
        assert f"export KUBECONFIG={config}" in said.out.splitlines()
        assert "contexts primary and dr in $KUBECONFIG" in said.out
        assert "kubectl --context dr get deploy" in said.out
        script = f'eval "$(cat {tmp_path / "env"})"; kubectl --cache-dir {tmp_path / "kc"} '
        (tmp_path / "env").write_text(said.out)

        def get(context: str) -> list[list[str]]:
            done = subprocess.run(
                ["bash", "-c", script + f"--context {context} get deploy"],
                capture_output=True,
                text=True,
                timeout=60,
                env={**os.environ, "HOME": str(tmp_path)},
            )
            assert done.returncode == 0, done.stderr
            return rows(done.stdout)

        assert get("dr")[1][:2] == ["qsign-api", "0/0"]
        deadline = time.monotonic() + 20
        while get("primary")[1][:2] != ["qsign-api", "3/3"]:
            assert time.monotonic() < deadline, "the primary's api-server never got 3/3"
            time.sleep(0.3)
    finally:
        for sim in sims:
            sim.stop()


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(45, "45s"), (119, "119s"), (192, "3m12s"), (300, "5m"), (1500, "25m"), (18000, "5h"),
     (19800, "5h30m"), (100800, "28h"), (273600, "3d4h"), (864000, "10d")],
)  # fmt: skip
def test_ages_are_shown_as_the_api_server_shows_them(seconds: int, shown: str) -> None:
    assert age("2026-01-01T00:00:00Z", now=1767225600 + seconds) == shown
