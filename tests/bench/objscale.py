"""Verification at scale: ``s3.verify_all`` over 1,000 and 10,000 objects and over one 2 GiB
object, each run by ``drconsole run`` headless in its own process on a moto server this benchmark
starts, against listing the same objects and hashing the same bytes with ``sha256sum`` on local
disk; and the drconsole process's peak memory (VmHWM, read by the process itself at exit) for
each, which must not grow with the number or the size of the objects.

The objects are 16 KiB of random bytes each, uploaded with their SHA-256 (``a/`` holds 1,000 of
them, ``b/`` 9,000 more; the 10,000 are the bucket's whole ``objects/`` prefix). The large one is
a multipart upload (its stored checksum is a checksum of checksums), so it is verified against
its ``.sha256`` sidecar, streamed.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from drconsole.adapters.oscmd import free_port
from drconsole.sandbox.s3 import MotoServer
from tests.bench.procenv import bench_env

SMALL = 16 * 1024
COUNTS = {"a": 1_000, "b": 9_000}
BIG = 2 * 1024**3
PART = 64 * 1024**2
REPS = 3
CASES = ("1k", "10k", "2GiB")

# runs the CLI in this process and writes its peak RSS where the benchmark reads it
WRAPPER = textwrap.dedent("""
    import sys
    from drconsole.cli import main
    out = sys.argv.pop(1)
    code = main(sys.argv[1:])
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            open(out, "w").write(line.split()[1])
    sys.exit(code)
""")

PLAN = (
    "id: bench-verify\ntitle: Verify every object under a prefix\nkind: verification\n"
    "inputs:\n  prefix: {type: string, required: true}\n"
    "steps:\n  - id: verify\n    check: s3.verify_all\n    site: primary\n"
    "    with: {prefix: '${inputs.prefix}', parallel: 4}\n"
)


def _fill(moto: MotoServer, local: Path) -> None:
    client = moto.store().client()
    bucket = moto.store().bucket

    def put(item: tuple[str, int]) -> None:
        folder, number = item
        body = os.urandom(SMALL)
        path = local / folder / f"{number:05d}.bin"
        path.write_bytes(body)
        client.put_object(
            Bucket=bucket,
            Key=f"objects/{folder}/{number:05d}.bin",
            Body=body,
            ChecksumAlgorithm="SHA256",
        )

    items = [(folder, n) for folder, count in COUNTS.items() for n in range(count)]
    for folder in COUNTS:
        (local / folder).mkdir(parents=True)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, items))


def _big(moto: MotoServer, local: Path) -> None:
    """A 2 GiB file on disk, uploaded in parts with its .sha256 beside it."""
    from boto3.s3.transfer import TransferConfig

    path = local / "big" / "big.bin"
    path.parent.mkdir()
    digest = hashlib.sha256()
    block = os.urandom(PART)
    with path.open("wb") as handle:
        for index in range(BIG // PART):
            # every part different, cheaply: the random block with the part number in front
            part = index.to_bytes(8, "big") + block[8:]
            digest.update(part)
            handle.write(part)
    store = moto.store()
    config = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART, max_concurrency=2)
    store.client().upload_file(str(path), store.bucket, "big/big.bin", Config=config)
    store.client().put_object(
        Bucket=store.bucket, Key="big/big.bin.sha256", Body=f"{digest.hexdigest()}  big.bin\n"
    )


def _ours(tmp: Path, targets: Path, prefix: str) -> tuple[float, int]:
    """Wall time and peak RSS (KiB) of ``drconsole run`` verifying every object under prefix."""
    hwm = tmp / "hwm.txt"
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            str(tmp / "wrapper.py"),
            str(hwm),
            "run",
            str(tmp / "plan.yaml"),
            "--headless",
            "--targets",
            str(targets),
            "--input",
            f"prefix={prefix}",
            "--runs-dir",
            str(tmp / "runs"),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        env=bench_env(),
    )
    return time.perf_counter() - start, int(hwm.read_text())


def _theirs(moto: MotoServer, files: list[Path], prefix: str) -> float:
    """Listing the prefix (every page) and ``sha256sum`` of the same bytes on local disk."""
    store = moto.store()
    start = time.perf_counter()
    paginator = store.client().get_paginator("list_objects_v2")
    listed = sum(
        len(page.get("Contents", []))
        for page in paginator.paginate(Bucket=store.bucket, Prefix=prefix)
    )
    subprocess.run(
        ["xargs", "-0", "sha256sum"],
        input=b"\0".join(str(f).encode() for f in files),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    assert listed >= len(files), (listed, len(files))
    return time.perf_counter() - start


def bench_objects_scale(reps: int = REPS, only: tuple[str, ...] = CASES) -> dict[str, Any]:
    """Medians over ``reps`` of the cases named in ``only`` (all three by default)."""
    with tempfile.TemporaryDirectory() as raw:
        tmp = Path(raw)
        (tmp / "wrapper.py").write_text(WRAPPER)
        (tmp / "plan.yaml").write_text(PLAN)
        moto = MotoServer(tmp, free_port())
        moto.start()
        try:
            targets = tmp / "targets.yaml"
            targets.write_text(yaml.safe_dump({"sites": {"primary": {"s3": moto.section()}}}))
            local = tmp / "local"
            _fill(moto, local)
            if "2GiB" in only:
                _big(moto, local)
            every = {
                "1k": ("objects/a/", sorted((local / "a").iterdir())),
                "10k": (
                    "objects/",
                    sorted((local / "a").iterdir()) + sorted((local / "b").iterdir()),
                ),
                "2GiB": ("big/", [local / "big" / "big.bin"]),
            }
            cases = {case: every[case] for case in only}
            times: dict[str, dict[str, list[float]]] = {
                c: {"ours": [], "theirs": [], "hwm": []} for c in cases
            }
            _ours(tmp, targets, "objects/a/")  # compiles the modules once, not counted
            for _ in range(reps):
                for case, (prefix, files) in cases.items():
                    took, hwm = _ours(tmp, targets, prefix)
                    times[case]["ours"].append(took)
                    times[case]["hwm"].append(hwm / 1024)
                    times[case]["theirs"].append(_theirs(moto, files, prefix))
        finally:
            moto.stop()
    out: dict[str, Any] = {}
    for case, got in times.items():
        ours, theirs = statistics.median(got["ours"]), statistics.median(got["theirs"])
        out[case] = {
            "ours_s": ours,
            "theirs_s": theirs,
            "ratio": ours / theirs,
            "peak_mb": max(got["hwm"]),
        }
    if "1k" in out and "10k" in out:
        out["memory_ratio_count"] = out["10k"]["peak_mb"] / out["1k"]["peak_mb"]
    if "1k" in out and "2GiB" in out:
        out["memory_ratio_size"] = out["2GiB"]["peak_mb"] / out["1k"]["peak_mb"]
    return out


if __name__ == "__main__":
    # python -m tests.bench.objscale [REPS [CASE...]], e.g. 3 1k 10k (without the 2 GiB object)
    print(
        bench_objects_scale(
            int(sys.argv[1]) if len(sys.argv) > 1 else REPS, tuple(sys.argv[2:]) or CASES
        )
    )
