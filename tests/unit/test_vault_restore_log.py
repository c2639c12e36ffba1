"""Where an OpenBao node is in a snapshot restore, read from its own log lines (issue 18,
item 1): vault.restart stops a node that has applied a restored snapshot without waiting out
the server's fixed restore delay, so it must tell "applied" from "begun", from a restore that is
over or failed, and from one of an earlier process."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from drconsole.adapters.vaulthost import LocalBaoHost

STARTED = "==> OpenBao server started! Log data will stream in below:\n"
BEGUN = "2026-11-30T10:44:27.964Z [INFO]  core: shutting down prior to restoring snapshot\n"
APPLIED = "2026-11-30T10:44:28.495Z [INFO]  storage.raft: restored user snapshot: index=37\n"
OVER = "2026-11-30T10:44:33.497Z [INFO]  core: running post snapshot restore invalidations\n"
FAILED = "2026-11-30T10:44:28.495Z [ERROR] storage.raft.snapshot: failed to restore snapshot\n"
ERROR = "2026-11-30T10:44:28.495Z [ERROR] core: error while restoring raft snapshot: ...\n"


@pytest.mark.parametrize(
    ("lines", "state"),
    [
        ([STARTED], None),
        ([STARTED, BEGUN], "begun"),
        ([STARTED, BEGUN, APPLIED], "applied"),
        ([STARTED, BEGUN, APPLIED, OVER], "done"),
        ([STARTED, BEGUN, OVER], None),
        ([STARTED, BEGUN, FAILED], "failed"),
        ([STARTED, BEGUN, ERROR], "failed"),
        ([STARTED, BEGUN, APPLIED, OVER, BEGUN], "begun"),  # a second restore, same process
        ([STARTED, BEGUN, APPLIED, STARTED], None),  # that process is gone: restarted since
        ([BEGUN, APPLIED], "applied"),  # the start line already rotated out of the tail
    ],
)
def test_the_restore_state_is_read_from_this_process_s_log_lines(
    tmp_path: Path, lines: list[str], state: str | None
) -> None:
    log = tmp_path / "bao.log"
    log.write_text("".join(lines))
    host = LocalBaoHost("bao", "bao.hcl", str(tmp_path / "bao.pid"), str(log))
    assert host.restore_state() == state


def test_no_log_means_no_restore_known(tmp_path: Path) -> None:
    (tmp_path / "bao.pid").write_text(str(os.getpid()))  # a server that runs
    host = LocalBaoHost("bao", "bao.hcl", str(tmp_path / "bao.pid"), str(tmp_path / "none.log"))
    assert host.restore_state() is None
    start = time.monotonic()
    assert host.wait_applied(within_s=5, appear_s=0.2) is None  # gives up after appear_s
    assert time.monotonic() - start < 2


def test_a_server_that_died_mid_restore_is_gone_at_once(tmp_path: Path) -> None:
    """The restore begun, then the process ended: the wait says "gone" at once (it waited
    its whole 60 s and the step passed with applied false before)."""
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / "bao.pid").write_text(str(dead.pid))
    log = tmp_path / "bao.log"
    log.write_text(STARTED + BEGUN)
    host = LocalBaoHost("bao", "bao.hcl", str(tmp_path / "bao.pid"), str(log))
    start = time.monotonic()
    assert host.wait_applied(within_s=60, appear_s=2) == "gone"
    assert time.monotonic() - start < 2


def test_a_failed_restore_ends_the_wait_as_failed(tmp_path: Path) -> None:
    (tmp_path / "bao.pid").write_text(str(os.getpid()))
    log = tmp_path / "bao.log"
    log.write_text(STARTED + BEGUN + FAILED)
    host = LocalBaoHost("bao", "bao.hcl", str(tmp_path / "bao.pid"), str(log))
    assert host.wait_applied(within_s=60, appear_s=2) == "failed"
