"""``drconsole history`` read at a terminal fits it: at 80 columns no line is wider (the runs
are short list items, long lines wrapped), everything the table says is still there; written
to a file or a pipe it stays the wide table. ``drconsole report`` at a terminal: its tables fit
80 columns (the console's narrow report)."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios
from pathlib import Path

from tests.conftest import Cli, drconsole_cmd
from tests.unit.test_history import _runs


def at_terminal(args: list[str], columns: int) -> str:
    """``drconsole ARGS`` with its standard output a terminal ``columns`` wide; what it shows."""
    main, side = pty.openpty()
    fcntl.ioctl(side, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen([*drconsole_cmd(), *args], stdout=side, stderr=side, env=env)
    os.close(side)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the terminal closed: the command has ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    assert proc.wait(timeout=60) == 0
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_history_at_an_80_column_terminal_fits_it(
    cli: Cli, tmp_path: Path, backup_file: Path
) -> None:
    runs = _runs(cli, tmp_path, backup_file)
    deep = tmp_path / ("a-long-folder-name-" * 4) / "runs"  # a title wider than 80 on its own
    deep.parent.mkdir()
    runs.rename(deep)
    shown = at_terminal(["history", "--runs-dir", str(deep)], 80)
    lines = shown.splitlines()
    assert max(len(line) for line in lines) <= 80, [line for line in lines if len(line) > 80]
    wide = cli("history", "--runs-dir", deep).out  # not a terminal: the table
    assert max(len(line) for line in wide.splitlines()) > 80
    for run in sorted(deep.iterdir()):
        if run.is_dir():
            assert f"run {run.name}" in shown
    assert "by op-2" in shown
    assert "RTO " in shown
    assert "/ 10m00s met" in shown
    assert "| drill | failed |" not in shown
    assert "drill failed, by op-1" in shown
    assert "objective 10m00s" in shown
    written = tmp_path / "history.md"
    assert at_terminal(["history", "--runs-dir", str(deep), "--output", str(written)], 80)
    assert "| drill | failed |" in written.read_text()  # a file keeps the table


def test_a_report_at_an_80_column_terminal_has_tables_that_fit(
    cli: Cli, tmp_path: Path, backup_file: Path
) -> None:
    runs = _runs(cli, tmp_path, backup_file)
    run = next(r for r in sorted(runs.iterdir()) if "hello-drill" in r.name)
    shown = at_terminal(["report", str(run)], 80)
    rows = [line for line in shown.splitlines() if line.startswith("|")]
    assert rows
    assert max(len(row) for row in rows) <= 80, [row for row in rows if len(row) > 80]
    assert "| brief | succeeded |" in shown
    wide = cli("report", run).out  # not a terminal: the auditors' table, who included
    assert max(len(line) for line in wide.splitlines() if line.startswith("|")) > 80
