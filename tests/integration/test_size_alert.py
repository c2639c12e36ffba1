"""The daily check's size alert says the two sizes, in bytes, beside the percentage (on a real
moto server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from drconsole.adapters.base import CheckFailed
from drconsole.sandbox.s3 import MotoServer

pytestmark = pytest.mark.slow


def test_a_size_alert_names_both_sizes_in_bytes(moto: MotoServer, tmp_path: Path) -> None:
    store = moto.store()
    for name, size in (("20261129.dump", 10_000), ("20261130.dump", 2_000)):
        path = tmp_path / name
        path.write_bytes(b"x" * size)
        store.upload(str(path), f"size-alert/{name}")
    with pytest.raises(CheckFailed) as failed:
        store.size_anomaly("size-alert/", 0.5)
    assert str(failed.value) == (
        "size-alert/20261130.dump is 80% smaller than size-alert/20261129.dump "
        "(2,000 bytes against 10,000 bytes; alert above 50%)"
    )
