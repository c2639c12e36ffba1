"""How a PostgreSQL cluster is stopped and started: one small interface, one class per kind of
host. ``LocalCluster`` drives ``pg_ctl`` on this machine as the cluster's OS owner;
``StatefulSetCluster`` scales a Kubernetes StatefulSet to 0 and back (``host_kind:
statefulset``, with ``statefulset: NAME`` and a ``kubernetes`` section like a site's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from drconsole.adapters.base import ActionContext, PermanentError, TransientError
from drconsole.adapters.oscmd import run_as

DEFAULT_BIN = "/usr/lib/postgresql/15/bin"


class ClusterHost(Protocol):
    """Stop and start one cluster."""

    def describe(self) -> str: ...

    def is_running(self) -> bool: ...

    def stop(self) -> None: ...

    def start(self, wait_s: float = 120.0) -> None: ...


class LocalCluster:
    """A cluster on this machine, controlled with ``pg_ctl`` as its OS owner."""

    def __init__(
        self,
        data_dir: str,
        *,
        os_user: str | None = None,
        bin_dir: str = DEFAULT_BIN,
        log_file: str | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.os_user = os_user
        self.bin_dir = bin_dir
        self.log_file = log_file or str(Path(data_dir).parent / (Path(data_dir).name + ".log"))

    def describe(self) -> str:
        return f"local cluster {self.data_dir}"

    def pg_ctl(self, *args: str, timeout: float = 180.0) -> tuple[int, str]:
        result = run_as(
            [f"{self.bin_dir}/pg_ctl", "-D", self.data_dir, *args],
            user=self.os_user,
            timeout=timeout,
        )
        return result.code, result.tail()

    def is_running(self) -> bool:
        code, _ = self.pg_ctl("status")
        return code == 0

    def stop(self) -> None:
        if not self.is_running():
            return
        code, tail = self.pg_ctl("stop", "-m", "fast", "-w", "-t", "120")
        if code != 0:
            raise TransientError(f"pg_ctl stop failed for {self.data_dir}: {tail}")

    def start(self, wait_s: float = 120.0) -> None:
        if self.is_running():
            return
        code, tail = self.pg_ctl(
            "start", "-w", "-t", str(int(wait_s)), "-l", self.log_file, timeout=wait_s + 30
        )
        if code != 0:
            raise PermanentError(
                f"PostgreSQL did not start from {self.data_dir}: {tail}",
                hint=f"read the server log: {self.log_file}",
            )

    def log_lines(self, since_bytes: int = 0) -> list[str]:
        """The server log from ``since_bytes`` on (empty when unreadable)."""
        try:
            with open(self.log_file, "rb") as handle:
                handle.seek(since_bytes)
                return handle.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return []

    def log_size(self) -> int:
        try:
            return Path(self.log_file).stat().st_size
        except OSError:
            return 0


class StatefulSetCluster:
    """A cluster run by a StatefulSet: stopped by scaling to 0, started by scaling back."""

    def __init__(self, name: str, kubernetes: dict[str, Any], replicas: int = 1) -> None:
        from drconsole.adapters.kubernetes import KubeAdapter

        self.name = name
        self.replicas = replicas
        self.kube = KubeAdapter(kubernetes, f"statefulset {name}")

    def describe(self) -> str:
        return f"statefulset {self.name} in {self.kube.describe()}"

    def is_running(self) -> bool:
        return bool(self.kube.status("statefulset", self.name)["ready"] > 0)

    def stop(self) -> None:
        self.kube.scale("statefulset", self.name, 0, 300.0, ActionContext())

    def start(self, wait_s: float = 120.0) -> None:
        self.kube.scale("statefulset", self.name, self.replicas, wait_s, ActionContext())


def host_for(section: dict[str, Any]) -> ClusterHost:
    """The host controller a targets ``postgres`` section describes.

    Raises:
        PermanentError: the section names no way to stop and start the cluster.
    """
    kind = section.get("host_kind", "local")
    if kind == "local":
        if not section.get("data_dir"):
            raise PermanentError(
                "the targets file's postgres section has no data_dir",
                hint="add data_dir (and os_user) for a local cluster",
            )
        return LocalCluster(
            section["data_dir"],
            os_user=section.get("os_user"),
            bin_dir=section.get("bin_dir", DEFAULT_BIN),
            log_file=section.get("log_file"),
        )
    if kind == "statefulset":
        if not section.get("statefulset") or not isinstance(section.get("kubernetes"), dict):
            raise PermanentError(
                "host_kind statefulset needs 'statefulset: NAME' and a 'kubernetes' section "
                "(kubeconfig, context, namespace) in the postgres section"
            )
        return StatefulSetCluster(
            section["statefulset"], section["kubernetes"], int(section.get("replicas", 1))
        )
    raise PermanentError(f"unknown host_kind {kind!r} for PostgreSQL (known: local, statefulset)")


def settle_copied_settings(data_dir: str | Path, settings: list[str]) -> None:
    """After pg_basebackup: drop what the copy took over from the source's
    ``postgresql.auto.conf`` that must not follow it (a point-in-time restore's ``recovery_*``
    target: a standby given one promotes itself on reaching it) and add this cluster's own
    ``settings``; rewritten in place, so its owner and mode stay."""
    auto = Path(data_dir) / "postgresql.auto.conf"
    kept = [line for line in auto.read_text().splitlines() if not line.startswith("recovery_")]
    with auto.open("w", encoding="utf-8") as conf:
        conf.write("".join(f"{line}\n" for line in [*kept, *settings]))
