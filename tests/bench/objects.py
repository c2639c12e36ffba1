"""Object verification throughput against sha256sum on local disk, and many objects verified
in parallel against one by one, on the sandbox's moto server (loopback)."""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from drconsole.adapters.oscmd import free_port
from drconsole.sandbox.s3 import MotoServer

SIZE = 64 * 1024 * 1024
MANY, MANY_SIZE = 16, 4 * 1024 * 1024


def bench_objects() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as raw:
        tmp = Path(raw)
        moto = MotoServer(tmp, free_port())
        moto.start()
        try:
            store = moto.store()
            data = os.urandom(SIZE)
            local = tmp / "big.bin"
            local.write_bytes(data)
            store.client().put_object(
                Bucket=store.bucket, Key="bench/big.bin", Body=data, ChecksumAlgorithm="SHA256"
            )
            ours, base = [], []
            for _ in range(3):
                start = time.perf_counter()
                store.verify_object("bench/big.bin", None, threading.Event())
                ours.append(time.perf_counter() - start)
                start = time.perf_counter()
                subprocess.run(["sha256sum", str(local)], check=True, capture_output=True)
                base.append(time.perf_counter() - start)
            for i in range(MANY):
                store.client().put_object(
                    Bucket=store.bucket,
                    Key=f"many/{i}.bin",
                    Body=os.urandom(MANY_SIZE),
                    ChecksumAlgorithm="SHA256",
                )
            serial = statistics.median(
                _timed(lambda: store.verify_all("many/", 1, None)) for _ in range(2)
            )
            parallel = statistics.median(
                _timed(lambda: store.verify_all("many/", 4, None)) for _ in range(2)
            )
        finally:
            moto.stop()
    ours_mb = SIZE / statistics.median(ours) / 1e6
    base_mb = SIZE / statistics.median(base) / 1e6
    return {
        "ours_mb_s": ours_mb,
        "sha256sum_mb_s": base_mb,
        "ratio": ours_mb / base_mb,
        "serial_s": serial,
        "parallel_s": parallel,
        "speedup": serial / parallel,
    }


def _timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


if __name__ == "__main__":
    print(bench_objects())
