"""PITR plan against a plain shell script doing the same commands, on one sandbox.

Both do: archive check, recovery window (pgbackrest info and the archiver's last time), stop the writer, stop PostgreSQL, copy the data directory aside,
pgbackrest restore --type=time --delta with promote, start, wait for promotion, two integrity
queries, start the writer. Runs alternate so that drift on a noisy machine hits both.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from drconsole.sandbox import manager

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """#!/usr/bin/env bash
set -euo pipefail
AS="{as_user}"
BR="pgbackrest --config={config} --stanza=qsign"
$AS $BR check
$AS $BR info --output=json >/dev/null   # the plan's recovery-window check does the same
psql -h 127.0.0.1 -p {port} -U qsign -d qsign -Atc "select last_archived_time from pg_stat_archiver" >/dev/null
{writer_stop}
$AS {bin}/pg_ctl -D {data} stop -m fast -w >/dev/null
$AS cp -a {data} {data}.before-restore-$(date -u +%Y%m%dT%H%M%S%N)
$AS $BR --delta --type=time "--target={target}" --target-action=promote restore
$AS {bin}/pg_ctl -D {data} start -w -l {log} >/dev/null
until [ "$(psql -h 127.0.0.1 -p {port} -U qsign -d qsign -Atc 'select pg_is_in_recovery()')" = f ]; do
  sleep 0.3
done
psql -h 127.0.0.1 -p {port} -U qsign -d qsign -Atc "select count(*) from signatures" >/dev/null
psql -h 127.0.0.1 -p {port} -U qsign -d qsign -Atc \
  "select coalesce(max(signed_at) <= '{target}'::timestamptz, true) from signatures" >/dev/null
{writer_start}
"""


def _target() -> str:
    time.sleep(1.2)
    target = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime())
    time.sleep(1.2)
    return target


def bench_pitr(reps: int = 5) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="drconsole-bench-"))
    root.chmod(0o755)
    sbx = root / "sbx"
    try:
        manager.up(sbx)
        targets = yaml.safe_load((sbx / "targets.yaml").read_text())
        pg = targets["sites"]["primary"]["postgres"]
        writers = targets["sites"]["primary"]["writers"]
        as_user = f"runuser -u {pg['os_user']} --" if os.geteuid() == 0 else ""
        answers = root / "answers.yaml"
        answers.write_text(
            yaml.safe_dump(
                {"steps": {"confirm": {"confirm": True}, "restore": {"typed": "restore qsign"}}}
            )
        )
        plan_times, shell_times = [], []
        for _ in range(reps):
            target = _target()
            start = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "drconsole",
                    "run",
                    str(REPO / "plans" / "pitr-restore.yaml"),
                    "--headless",
                    "--targets",
                    str(sbx / "targets.yaml"),
                    "--answers",
                    str(answers),
                    "--input",
                    f"target_time={target.replace(' ', 'T')[:-3]}Z",
                    "--runs-dir",
                    str(root / "runs"),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            plan_times.append(time.perf_counter() - start)
            target = _target()
            script = root / "pitr.sh"
            script.write_text(
                SCRIPT.format(
                    as_user=as_user,
                    config=pg["pgbackrest"]["config"],
                    bin=pg["bin_dir"],
                    data=pg["data_dir"],
                    log=pg["log_file"],
                    port=pg["port"],
                    target=target,
                    writer_stop=" ".join(writers["stop"]),
                    writer_start=" ".join(writers["start"]),
                )
            )
            start = time.perf_counter()
            subprocess.run(["bash", str(script)], check=True, stdout=subprocess.DEVNULL)
            shell_times.append(time.perf_counter() - start)
        plan, shell = statistics.median(plan_times), statistics.median(shell_times)
        return {"plan_s": plan, "shell_s": shell, "ratio": plan / shell, "reps": reps}
    finally:
        try:
            manager.down(sbx)
        finally:
            shutil.rmtree(root, ignore_errors=True)
