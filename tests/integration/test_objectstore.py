"""Object storage against a real moto server (the S3 API over HTTP), with a small fault proxy
of our own in front of it for 5xx answers, timeouts and damaged bodies; the proxy counts the
HTTP requests each attempt makes."""

from __future__ import annotations

import hashlib
import http.client
import http.server
import io
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from drconsole.adapters.base import CheckFailed
from drconsole.adapters.objectstore import ObjectStore
from drconsole.journal.journal import read_events
from drconsole.sandbox.s3 import MotoServer
from tests.conftest import Cli, CliResult

pytestmark = pytest.mark.slow


@pytest.fixture
def store(moto: MotoServer, request: pytest.FixtureRequest) -> ObjectStore:
    """The sandbox bucket, with a prefix of this test's own."""
    store = moto.store()
    store.section["prefix"] = request.node.name[:40] + "/"
    return store


class FaultProxy:
    """Forwards to moto; answers 503 to the first ``fail`` requests, or sleeps ``delay`` s.

    ``damage`` spoils the body of each GET of a key ending in ``damaged``: "corrupt" flips a bit,
    "close" sends half and closes the connection, "stall" sends half and then nothing for 2.5 s.
    """

    def __init__(self, target_port: int) -> None:
        self.fail = 0
        self.delay = 0.0
        self.seen = 0
        self.damage: str | None = None
        self.damaged = ""
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _forward(self) -> None:
                proxy.seen += 1
                if proxy.fail > 0:
                    proxy.fail -= 1
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if proxy.delay:
                    time.sleep(proxy.delay)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection("127.0.0.1", target_port, timeout=30)
                conn.request(self.command, self.path, body=body, headers=dict(self.headers))
                answer = conn.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                path = self.path.split("?")[0]
                if not proxy.damage or self.command != "GET" or not path.endswith(proxy.damaged):
                    self.wfile.write(data)
                elif proxy.damage == "corrupt":
                    self.wfile.write(data[:10] + bytes([data[10] ^ 1]) + data[11:])
                else:  # close or stall: half the body, then the connection closes (HTTP/1.0)
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    time.sleep(2.5 if proxy.damage == "stall" else 0)

            do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _forward  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(moto: MotoServer) -> Iterator[FaultProxy]:
    fault = FaultProxy(moto.port)
    yield fault
    fault.close()


def put(store: ObjectStore, key: str, data: bytes) -> dict[str, Any]:
    return dict(
        store.client().put_object(
            Bucket=store.bucket, Key=key, Body=data, ChecksumAlgorithm="SHA256"
        )
    )


def test_a_changed_object_with_an_unchanged_checksum_record_names_key_and_version(
    store: ObjectStore,
) -> None:
    key = store.section["prefix"] + "qsign-full.tar"
    original = b"backup" * 10000
    put(store, key, original)
    sidecar = hashlib.sha256(original).hexdigest() + "  qsign-full.tar\n"
    store.client().put_object(Bucket=store.bucket, Key=key + ".sha256", Body=sidecar.encode())
    assert store.verify_object(key, None)["expected_from"] == "sidecar .sha256"
    changed = put(store, key, b"tampered" * 10000)  # new content; the record stays the same
    with pytest.raises(CheckFailed) as failed:
        store.verify_object(key, None)
    assert key in failed.value.message
    assert changed["VersionId"] in failed.value.message


def test_a_stored_s3_checksum_is_enough_and_is_streamed(store: ObjectStore) -> None:
    key = store.section["prefix"] + "big.bin"
    put(store, key, b"x" * (5 * 1024 * 1024 + 17))
    out = store.verify_object(key, None)
    assert out["expected_from"] == "stored S3 checksum"
    assert out["size"] == 5 * 1024 * 1024 + 17


def test_a_missing_day_of_backups_is_reported(store: ObjectStore) -> None:
    prefix = store.section["prefix"]
    put(store, prefix + "today.tar", b"today")
    with pytest.raises(CheckFailed) as failed:
        store.expected_days(prefix, 2)
    assert failed.value.evidence["missing"]
    assert "no backup under" in failed.value.message
    assert store.expected_days(prefix, 1)["missing"] == []


def test_a_backup_half_the_size_of_the_one_before_is_flagged(store: ObjectStore) -> None:
    prefix = store.section["prefix"]
    put(store, prefix + "a.tar", b"a" * 1000)
    time.sleep(1.1)  # S3 times have one-second resolution
    put(store, prefix + "b.tar", b"b" * 450)
    with pytest.raises(CheckFailed, match="55% smaller"):
        store.size_anomaly(prefix, 0.5)


def test_a_bucket_without_versioning_is_flagged(moto: MotoServer) -> None:
    client = moto.store().client()
    client.create_bucket(
        Bucket="unversioned-backups",
        CreateBucketConfiguration={"LocationConstraint": "ap-northeast-2"},
    )
    section = {**moto.section(), "bucket": "unversioned-backups"}
    with pytest.raises(CheckFailed, match="versioning Disabled"):
        ObjectStore(section).bucket_protection(True)
    ok = moto.store().bucket_protection(True)
    assert ok["versioning"] == "Enabled"
    assert ok["object_lock"] == "not configured"


FaultRun = Callable[[str, bytes], tuple[str, CliResult, list[dict[str, Any]]]]


@pytest.fixture
def fault_run(
    cli: Cli,
    write_plan: Callable[..., Path],
    tmp_path: Path,
    moto: MotoServer,
    proxy: FaultProxy,
    store: ObjectStore,
) -> FaultRun:
    """Put NAME (under the test's prefix) and run a plan that verifies it through the proxy
    (3 attempts); the key, the result and the journaled failures."""
    section = {**moto.section(), "endpoint": f"http://127.0.0.1:{proxy.port}", "read_timeout": 1}
    targets = tmp_path / "targets.yaml"
    targets.write_text(yaml.safe_dump({"sites": {"primary": {"s3": section}}}))

    def run(name: str, data: bytes) -> tuple[str, CliResult, list[dict[str, Any]]]:
        key = store.section["prefix"] + name
        put(store, key, data)
        plan = write_plan(
            "id: s\ntitle: S\nkind: verification\nsteps:\n"
            f"  - id: verify\n    check: s3.verify_object\n    site: primary\n"
            f"    with: {{key: {key}}}\n"
            "    retry: {attempts: 3, backoff: exponential, delay: 0.2s}\n"
        )
        result = cli.run(plan, targets=targets, runs=tmp_path / "r")
        run_dir = result.run_dir
        return key, result, [e.data for e in read_events(run_dir) if e.type == "attempt_failed"]

    return run


def test_transient_5xx_is_retried_with_backoff_then_succeeds(
    fault_run: FaultRun, proxy: FaultProxy
) -> None:
    proxy.fail = 2
    key, result, failures = fault_run("x.tar", b"x" * 100)
    assert result.code == 0, result.out
    # each failed attempt is journaled with its exponential delay, then the check succeeds;
    # one request per attempt: two 503s are two journaled attempts
    assert [f["retry_in_s"] for f in failures] == [0.2, 0.4]
    assert all(f"object s3://qsign-backups/{key}.sha256: 503" in f["error"] for f in failures)
    assert proxy.seen == 2 + 2  # two refused sidecar gets, then the sidecar get and the get


def test_persistent_5xx_and_timeouts_are_reported_after_the_attempts(
    fault_run: FaultRun, proxy: FaultProxy
) -> None:
    proxy.fail = 100
    key, result, failures = fault_run("y.tar", b"y" * 100)
    assert result.code == 1
    assert len(failures) == 3
    assert failures[-1]["retry_in_s"] is None
    assert proxy.seen == 3  # one HTTP request per journaled attempt
    proxy.fail, proxy.delay, proxy.seen = 0, 2.5, 0
    key, result, failures = fault_run("y.tar", b"y" * 100)
    assert result.code == 1
    assert len(failures) == 3
    assert "timed out" in failures[0]["error"].lower() or "timeout" in failures[0]["error"].lower()
    assert proxy.seen == 3


def test_a_corrupted_body_names_the_object_and_its_checksum(
    fault_run: FaultRun, proxy: FaultProxy
) -> None:
    proxy.damage, proxy.damaged = "corrupt", "/corrupt.tar"
    key, result, failures = fault_run("corrupt.tar", b"c" * 100_000)
    assert result.code == 1
    said = f"object s3://qsign-backups/{key}: the body does not match its SHA-256 checksum"
    assert len(failures) == 1  # a damaged body is a finding, not a fault a retry hides
    assert failures[0]["error"].startswith(said)
    assert failures[0]["transient"] is False
    assert said in result.out
    assert "FlexibleChecksumError" not in result.out + result.err
    proxy.damage = None
    again = fault_run("corrupt.tar", b"c" * 100_000)[1]
    assert again.code == 0, again.out  # undamaged, it verifies


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        ("close", "the connection closed after 50000 of 100000 bytes"),
        ("stall", "the body stopped after 0 of 100000 bytes"),
    ],
)
def test_a_truncated_body_names_the_object_and_how_far_it_got(
    fault_run: FaultRun,
    proxy: FaultProxy,
    damage: str,
    said: str,
) -> None:
    proxy.damage, proxy.damaged = damage, "/short.tar"
    key, result, failures = fault_run("short.tar", b"s" * 100_000)
    assert result.code == 1
    assert len(failures) == 3  # transient: retried, every time the same words
    for failure in failures:
        assert failure["error"].startswith(f"object s3://qsign-backups/{key}: {said}")
        assert failure["transient"] is True
    assert "None" not in failures[0]["error"]
    assert proxy.seen == 3 * 2  # sidecar get, get: one request each, per attempt


def _multipart(store: ObjectStore, key: str, data: bytes) -> None:
    """Uploaded in 5 MiB parts with SHA-256: its stored checksum is one of part checksums."""
    from boto3.s3.transfer import TransferConfig

    part = 5 * 1024 * 1024
    store.client().upload_fileobj(
        io.BytesIO(data),
        store.bucket,
        key,
        ExtraArgs={"ChecksumAlgorithm": "SHA256"},
        Config=TransferConfig(multipart_threshold=part, multipart_chunksize=part),
    )


def _sidecar(store: ObjectStore, key: str, data: bytes) -> None:
    digest = hashlib.sha256(data).hexdigest()
    store.client().put_object(Bucket=store.bucket, Key=key + ".sha256", Body=f"{digest}  x\n")


# (how the object is put, its sidecar: "right", "wrong" or None, the outcome: where the
# expected SHA-256 came from, or the words of the failure)
CASES = {
    "the sidecar over the stored checksum": ("sha256", "wrong", "from the sidecar .sha256"),
    "the stored checksum alone": ("sha256", None, "stored S3 checksum"),
    "a part checksum is not one": ("multipart", None, "has no checksum to compare with"),
    "the sidecar of a multipart upload": ("multipart", "right", "sidecar .sha256"),
    "no SHA-256 at all": ("plain", None, "has no checksum to compare with"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_object_is_compared_with_its_sidecar_else_its_stored_whole_sha256(
    store: ObjectStore, case: str
) -> None:
    """The same outcome whether one object is verified alone (its sidecar asked for) or in a
    verify_all (the listing says whether it has one)."""
    how, sidecar, outcome = CASES[case]
    prefix = store.section["prefix"] + case.replace(" ", "-") + "/"
    key, data = prefix + "x.bin", b"b" * (6 * 1024 * 1024 if how == "multipart" else 1000)
    if how == "multipart":
        _multipart(store, key, data)
    elif how == "sha256":
        put(store, key, data)
    else:
        store.client().put_object(Bucket=store.bucket, Key=key, Body=data)
    if sidecar is not None:
        _sidecar(store, key, data if sidecar == "right" else b"something else")
    if outcome.startswith(("sidecar", "stored")):
        assert store.verify_object(key, None)["expected_from"] == outcome
        assert store.verify_all(prefix, 2, threading.Event())["checked"] == 1
        return
    with pytest.raises(CheckFailed, match=outcome):
        store.verify_object(key, None)
    with pytest.raises(CheckFailed, match=outcome) as failed:
        store.verify_all(prefix, 2, threading.Event())
    assert failed.value.evidence["checked"] == 1


def test_verify_all_gets_each_body_once_and_only_the_sidecars_the_listing_shows(
    store: ObjectStore, moto: MotoServer, proxy: FaultProxy
) -> None:
    """One listing, one GET per object (its stored checksum comes with the body: no HEAD),
    and a sidecar GET only for the object that has one."""
    prefix = store.section["prefix"]
    for n in range(5):
        put(store, f"{prefix}{n}.bin", bytes([n]) * 1000)
    _sidecar(store, f"{prefix}3.bin", bytes([3]) * 1000)
    via = ObjectStore({**moto.section(), "endpoint": f"http://127.0.0.1:{proxy.port}"})
    out = via.verify_all(prefix, 4, threading.Event())
    assert (out["checked"], out["failed"]) == (5, [])
    assert proxy.seen == 1 + 5 + 1


def test_a_body_damaged_on_the_way_fails_verify_all_by_its_stored_checksum(
    store: ObjectStore, moto: MotoServer, proxy: FaultProxy
) -> None:
    prefix = store.section["prefix"]
    put(store, prefix + "corrupt.tar", b"c" * 100_000)
    put(store, prefix + "fine.tar", b"f" * 100_000)
    proxy.damage, proxy.damaged = "corrupt", "/corrupt.tar"
    via = ObjectStore({**moto.section(), "endpoint": f"http://127.0.0.1:{proxy.port}"})
    with pytest.raises(CheckFailed) as failed:
        via.verify_all(prefix, 2, threading.Event())
    assert failed.value.evidence["checked"] == 2
    assert failed.value.evidence["failed"] == [
        f"object s3://qsign-backups/{prefix}corrupt.tar: the body does not match its SHA-256 "
        "checksum"
    ]
