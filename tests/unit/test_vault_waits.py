"""The Vault adapter's waits: one poll helper (adapters.base.wait_until) that answers with the
probe's last answer and stops when the step is cancelled, and a restore wait that reads only
what the server's log gained since its last read (it re-read the log's last 256 KB every 20 ms)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from drconsole.adapters import registry
from drconsole.adapters.base import ActionContext, Cancelled, wait_until
from drconsole.adapters.vaulthost import LocalBaoHost

STARTED = b"==> OpenBao server started! Log data will stream in below:\n"
BEGUN = b"2026-11-30T10:44:27.964Z [INFO]  core: shutting down prior to restoring snapshot\n"
APPLIED = b"2026-11-30T10:44:28.495Z [INFO]  storage.raft: restored user snapshot: index=37\n"
NOISE = b"2026-11-30T10:44:20.000Z [INFO]  core: some other line of the server's\n"


def test_wait_until_answers_with_the_probe_s_answer_and_asks_once_more_at_the_deadline() -> None:
    answers = iter([None, None, {"sealed": False}])
    assert wait_until(lambda: next(answers), 5, interval_s=0.01) == {"sealed": False}
    calls: list[float] = []
    start = time.monotonic()
    assert wait_until(lambda: calls.append(time.monotonic()), 0.1, interval_s=0.02) is None
    assert calls[-1] - start >= 0.1  # the last look is at the deadline


def test_a_cancelled_wait_stops_at_once() -> None:
    cancel = threading.Event()
    threading.Timer(0.1, cancel.set).start()
    start = time.monotonic()
    with pytest.raises(Cancelled):
        wait_until(lambda: False, 30, interval_s=1.0, cancel=cancel)
    assert time.monotonic() - start < 0.5


def test_a_cancelled_vault_wait_unsealed_step_stops_waiting() -> None:
    """Nothing listens on port 9: the node 'does not answer yet'; the step is cancelled."""
    spec = registry.lookup("vault.wait_unsealed")
    assert spec is not None
    ctx = ActionContext(site={"vault": {"addr": "http://127.0.0.1:9"}})
    threading.Timer(0.3, ctx.cancel.set).start()
    start = time.monotonic()
    with pytest.raises(Cancelled):
        spec.run(ctx, spec.params(within_s=20))
    assert time.monotonic() - start < 2


def _counting(monkeypatch: pytest.MonkeyPatch, log: Path) -> dict[str, int]:
    """Count the bytes read from ``log`` through Path.open (how the host reads it)."""
    read = {"bytes": 0}
    real_open = Path.open

    class Counted:
        def __init__(self, handle: Any) -> None:
            self.handle = handle

        def __enter__(self) -> Counted:
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()

        def read(self, *args: Any) -> bytes:
            data: bytes = self.handle.read(*args)
            read["bytes"] += len(data)
            return data

        def __getattr__(self, name: str) -> Any:
            return getattr(self.handle, name)

    def counted_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        handle = real_open(self, *args, **kwargs)
        return Counted(handle) if self == log else handle

    monkeypatch.setattr(Path, "open", counted_open)
    return read


def test_the_restore_wait_reads_only_what_the_log_gained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "bao.log"
    log.write_bytes(STARTED + NOISE * 20_000)  # ~1.4 MB: a server that ran for a while
    read = _counting(monkeypatch, log)
    host = LocalBaoHost("bao", "bao.hcl", str(tmp_path / "bao.pid"), str(log))
    assert host.restore_state() is None
    assert read["bytes"] == 256 * 1024  # the first look: the log's tail
    with log.open("ab") as out:
        out.write(BEGUN + APPLIED[:30])  # the server is half-way through writing a line
    assert host.restore_state() == "begun"
    assert host.restore_state() == "begun"
    assert read["bytes"] == 256 * 1024 + len(BEGUN) + 30
    with log.open("ab") as out:
        out.write(APPLIED[30:])
    assert host.wait_applied(within_s=5, appear_s=1) == "applied"
    assert read["bytes"] == 256 * 1024 + len(BEGUN) + len(APPLIED)


def test_a_log_started_afresh_is_read_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "bao.log"
    log.write_bytes(STARTED + NOISE * 100 + BEGUN)
    host = LocalBaoHost("bao", "bao.hcl", str(tmp_path / "bao.pid"), str(log))
    assert host.restore_state() == "begun"
    log.write_bytes(STARTED + BEGUN + APPLIED)  # shorter: a new file in its place
    assert host.restore_state() == "applied"
