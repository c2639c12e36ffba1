"""One boto3 client per service and section serves the whole process (aws.boto_client): the S3
and Route 53 steps naming a section share it, threads asking at once get the same one, and what
makes a client differ (endpoint, service, credentials) gets one of its own. No request is sent:
making a client contacts nothing."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from drconsole.adapters import aws
from drconsole.adapters.dns import Dns
from drconsole.adapters.objectstore import ObjectStore


def _section(tmp_path: Path) -> dict[str, Any]:
    """A section of this test's own (its key files are), so no other test's client is found."""
    access, secret = tmp_path / "access", tmp_path / "secret"
    access.write_text("PRACTICE-ONLY-access\n")
    secret.write_text("PRACTICE-ONLY-secret\n")
    return {
        "endpoint": "http://127.0.0.1:9",
        "region": "us-east-1",
        "access_key_file": str(access),
        "secret_key_file": str(secret),
    }


def test_threads_asking_at_once_get_one_client(tmp_path: Path) -> None:
    section = _section(tmp_path)
    threads = 4
    start = threading.Barrier(threads)
    got: list[Any] = []

    def ask() -> None:
        start.wait()
        got.append(aws.boto_client("s3", section))

    workers = [threading.Thread(target=ask) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(got) == threads
    assert all(client is got[0] for client in got)
    assert aws.boto_client("s3", section) is got[0]


def test_what_makes_a_client_differ_gets_one_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    section = _section(tmp_path)
    s3 = ObjectStore({**section, "bucket": "qsign-backups"}).client()
    # steps naming the section share its client, whatever else the section says
    assert ObjectStore({**section, "bucket": "another"}).client() is s3
    route53 = Dns({**section, "zone": "qsign.example."}, "dr").client()
    assert route53 is not s3
    assert route53.meta.service_model.service_name == "route53"
    assert aws.boto_client("route53", {**section, "zone_id": "Z1"}) is route53

    other = aws.boto_client("route53", {**section, "endpoint": "http://127.0.0.1:10"})
    assert other is not route53
    assert other.meta.endpoint_url == "http://127.0.0.1:10"
    assert aws.boto_client("route53", {**section, "region": "eu-west-1"}) is not route53
    assert aws.boto_client("route53", section, connections=32) is not route53

    # a rotated key file, or another AWS_* variable, may be other credentials
    os.utime(section["secret_key_file"], ns=(1, 1))
    rotated = aws.boto_client("route53", section)
    assert rotated is not route53
    assert aws.boto_client("route53", section) is rotated
    monkeypatch.setenv("AWS_SESSION_TOKEN", "PRACTICE-ONLY-session-token")
    assert aws.boto_client("route53", section) is not rotated
    assert "session-token" not in repr(aws._clients)  # the variables' values are not kept


def test_the_clients_kept_are_bounded(tmp_path: Path) -> None:
    """A process that meets many endpoints (a test run: a sandbox each) keeps the most recently
    asked for, not one client (and its open connections) per endpoint ever met."""
    section = _section(tmp_path)
    first = aws.boto_client("route53", section)
    for port in range(aws._KEEP):
        aws.boto_client("route53", {**section, "endpoint": f"http://127.0.0.1:{20000 + port}"})
    assert len(aws._clients) <= aws._KEEP
    assert aws.boto_client("route53", section) is not first
