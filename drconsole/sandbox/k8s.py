"""The sandbox's two Kubernetes API simulators (sites primary and dr), run as programs, and the
kubeconfig with one context per site (``sandbox env`` exports it as ``KUBECONFIG``; the official
client and ``kubectl`` both reach the simulators through it). The primary runs the api-server
with 3 replicas; the DR site has it at 0, ready to be scaled up on failover. Simulators keep
state in memory: after ``down`` and ``up`` they start again from these seeds.
"""

from __future__ import annotations

import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from drconsole.adapters.oscmd import Background
from drconsole.sandbox.k8ssim import qsign_objects, write_kubeconfig

API_REPLICAS = {"primary": 3, "dr": 0}


@dataclass(frozen=True)
class SimProcess:
    root: Path
    site: str
    port: int

    @property
    def dir(self) -> Path:
        return self.root / "k8s"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def process(self) -> Background:
        return Background(self.dir / f"{self.site}.pid", self.dir / f"{self.site}.log")

    def pid(self) -> int | None:
        return self.process.pid()

    def start(self) -> None:
        if self.pid():
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        seed = self.dir / f"{self.site}-seed.yaml"
        seed.write_text(yaml.safe_dump(qsign_objects(API_REPLICAS[self.site])))
        self.process.start(
            [sys.executable, "-m", "drconsole.sandbox.k8ssim", "--port", str(self.port),
             "--seed", str(seed), "--ready-delay", "1.0"]
        )  # fmt: skip
        for _ in range(300):  # up to half a minute on a busy machine
            try:
                urllib.request.urlopen(f"{self.url}/api/v1/namespaces", timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the Kubernetes API simulator did not answer on {self.url}")

    def stop(self) -> bool:
        return self.process.stop() is not None

    def health_url(self) -> str:
        return f"{self.url}/sim/health/qsign/qsign-api"


def simulators(root: Path, ports: dict[str, int]) -> list[SimProcess]:
    return [
        SimProcess(root, site, ports[f"k8s_{site}"])
        for site in ("primary", "dr")
        if f"k8s_{site}" in ports
    ]


def kubeconfig_path(root: Path) -> Path:
    return root / "k8s" / "kubeconfig"


def kubeconfig(root: Path, sims: list[SimProcess]) -> Path:
    return write_kubeconfig(kubeconfig_path(root), {s.site: s.url for s in sims})


def contexts_note(sims: list[SimProcess], site: str) -> str:
    """A shell comment for ``sandbox env``: which kubectl contexts the kubeconfig holds."""
    names = [s.site for s in sims]
    here = site if site in names else names[0]
    return (
        f"# kubectl: contexts {' and '.join(names)} in $KUBECONFIG (current: {names[0]}, "
        f"namespace qsign; simulators, not clusters); here: kubectl --context {here} get deploy"
    )
