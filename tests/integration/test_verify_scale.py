"""s3.verify_all at scale, on a real moto server: several listing pages, a damaged object named,
and memory that does not grow with the number of objects (Python allocations traced while it
runs, 3,000 objects against 1,000, past the listing page of 1,000 both)."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from drconsole.adapters.base import CheckFailed
from drconsole.adapters.objectstore import ObjectStore
from drconsole.sandbox.s3 import MotoServer

pytestmark = pytest.mark.slow


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObjectStore]:
    server = MotoServer(tmp_path_factory.mktemp("s3"), _port())
    server.start()
    try:
        store = server.store()

        def put(key: str) -> None:
            store.client().put_object(
                Bucket=store.bucket, Key=key, Body=os.urandom(256), ChecksumAlgorithm="SHA256"
            )

        keys = [f"few/{n:04d}" for n in range(1000)] + [f"many/{n:04d}" for n in range(3000)]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(put, keys))
        yield store
    finally:
        server.stop()


def _peak(store: ObjectStore, prefix: str) -> tuple[int, dict[str, object]]:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        out = store.verify_all(prefix, 4, threading.Event())
        return tracemalloc.get_traced_memory()[1] - base, out
    finally:
        tracemalloc.stop()


def test_every_object_over_several_listing_pages_is_checked_in_flat_memory(
    store: ObjectStore,
) -> None:
    store.verify_all("few/", 4, threading.Event())  # the client and its models, once
    few, out_few = _peak(store, "few/")
    many, out_many = _peak(store, "many/")
    assert out_few["checked"] == 1000
    assert out_few["bytes"] == 1000 * 256
    assert out_many["checked"] == 3000
    assert out_many["failed"] == []
    # a listing page holds 1,000: past that, what is kept per object would show
    assert many < few * 1.5, (few, many)


def test_a_damaged_object_among_many_is_named(store: ObjectStore, tmp_path: Path) -> None:
    body = b"the sidecar says otherwise"
    client = store.client()
    client.put_object(Bucket=store.bucket, Key="damaged/x.bin", Body=body)
    client.put_object(
        Bucket=store.bucket,
        Key="damaged/x.bin.sha256",
        Body=hashlib.sha256(b"something else").hexdigest() + "  x.bin\n",
    )
    for n in range(1100):  # past one listing page
        client.put_object(
            Bucket=store.bucket, Key=f"damaged/ok-{n:04d}", Body=b"ok", ChecksumAlgorithm="SHA256"
        )
    with pytest.raises(CheckFailed) as caught:
        store.verify_all("damaged/", 4, threading.Event())
    assert "1 of 1101 objects" in caught.value.message
    assert "s3://" in caught.value.message
    assert "damaged/x.bin" in caught.value.message


def test_a_sidecar_on_the_next_listing_page_is_still_compared(store: ObjectStore) -> None:
    """``edge/b`` ends the first page of 1,000 and its ``.sha256`` starts the next: the first
    page cannot say it has none, so it is asked for, and it disagrees."""
    client = store.client()

    def put(key: str) -> None:
        client.put_object(Bucket=store.bucket, Key=key, Body=b"ok", ChecksumAlgorithm="SHA256")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, [f"edge/a-{n:04d}" for n in range(999)] + ["edge/b"]))
    client.put_object(
        Bucket=store.bucket,
        Key="edge/b.sha256",
        Body=hashlib.sha256(b"not ok").hexdigest() + "  b\n",
    )
    first = client.list_objects_v2(Bucket=store.bucket, Prefix="edge/")
    assert first["Contents"][-1]["Key"] == "edge/b"
    assert first["IsTruncated"]
    with pytest.raises(CheckFailed) as caught:
        store.verify_all("edge/", 4, threading.Event())
    assert caught.value.evidence["checked"] == 1000
    [problem] = caught.value.evidence["failed"]
    assert "s3://qsign-backups/edge/b (version" in problem
    assert problem.endswith("from the sidecar .sha256")
