"""The sandbox's object storage: a moto server (the real S3 API over HTTP) with the bucket
``qsign-backups`` (versioning on). It holds copies of pgBackRest backups (pgBackRest's S3
repository type needs TLS, which the plain moto server does not offer) and Vault snapshots.

moto keeps its data in memory: after ``down`` and ``up`` the bucket is made again and the
newest backup published again.
"""

from __future__ import annotations

import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drconsole.adapters.objectstore import ObjectStore
from drconsole.adapters.oscmd import Background

BUCKET = "qsign-backups"
REGION = "ap-northeast-2"
PRACTICE_KEY, PRACTICE_SECRET = "practice-access-key", "practice-secret-key"


@dataclass(frozen=True)
class MotoServer:
    root: Path
    port: int

    @property
    def dir(self) -> Path:
        return self.root / "s3"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def process(self) -> Background:
        return Background(self.dir / "moto.pid", self.dir / "moto.log")

    def section(self) -> dict[str, Any]:
        return {
            "bucket": BUCKET,
            "endpoint": self.endpoint,
            "region": REGION,
            "download_dir": str(self.dir / "downloads"),
            "access_key_file": str(self.dir / "PRACTICE-ONLY-access-key"),
            "secret_key_file": str(self.dir / "PRACTICE-ONLY-secret-key"),
        }

    def store(self) -> ObjectStore:
        return ObjectStore(self.section())

    def pid(self) -> int | None:
        return self.process.pid()

    def start(self) -> None:
        if self.pid():
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        for name, value in (("access-key", PRACTICE_KEY), ("secret-key", PRACTICE_SECRET)):
            path = self.dir / f"PRACTICE-ONLY-{name}"
            path.write_text(value + "\n")
            path.chmod(0o600)
        binary = Path(sys.executable).parent / "moto_server"
        if not binary.exists():
            raise RuntimeError("moto's server is not installed: run 'make setup' (moto[server])")
        self.process.start([str(binary), "-H", "127.0.0.1", "-p", str(self.port)])
        client = self.store().client()
        for _ in range(600):  # up to a minute: moto's imports take seconds on a busy machine
            try:
                client.list_buckets()
                break
            except Exception:  # noqa: BLE001 - still starting
                time.sleep(0.1)
        else:
            raise RuntimeError(f"moto did not answer on {self.endpoint}")
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        if BUCKET not in existing:
            client.create_bucket(
                Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
            )
            client.put_bucket_versioning(
                Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"}
            )

    def stop(self) -> bool:
        return self.process.stop() is not None


def publish_backup(server: MotoServer, repo: Path, stanza: str) -> str:
    """Upload the newest pgBackRest backup of the stanza as one tar, with its SHA-256."""
    backups = sorted(p for p in (repo / "backup" / stanza).glob("*F*") if p.is_dir())
    if not backups:
        raise RuntimeError("no pgBackRest backup to publish")
    newest = backups[-1]
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / f"{stanza}-{newest.name}.tar"
        with tarfile.open(archive, "w") as tar:
            tar.add(newest, arcname=newest.name)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        key = f"pgbackrest/{stanza}-{stamp}-{newest.name}.tar"
        uploaded = server.store().upload(str(archive), key)
    return f"{key} ({uploaded['size']} bytes)"
