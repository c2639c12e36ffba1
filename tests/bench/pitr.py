"""PITR plan against a plain shell script doing the same commands, on one sandbox; and where the
console's constant goes.

Both do: archive check, recovery window (pgbackrest info and the archiver's last time), stop the
writer, stop PostgreSQL, copy the data directory aside, pgbackrest restore --type=time --delta
with promote, start, wait for promotion, two integrity queries, start the writer; then rebuild
the DR standby from the restored primary (stop it, move its data aside, pg_basebackup -R, its
own port and archive_mode, start, wait until it streams) and check it streams. Runs alternate
so that drift on a noisy machine hits both.

``bench_pitr(big_gb=1.1)`` first loads that many GB of rows into the sandbox's database (the WAL
of the load, as large, archived; no new backup, so every restore brings back the sandbox's
first backup and replays all of it to the target): the console's cost must stay a constant, so
its share shrinks as the restore grows. Each run's safety copy is removed after it (outside the
timing), and the sandbox is removed at the end.

The breakdown (medians): start-up (process launch to ``run_started``: imports, validation,
targets), each step against the script's same commands (the script notes ``$EPOCHREALTIME``
between them), the engine between steps (scheduling and journal appends), the journal's fsyncs
(events written times one append measured on the same file system in the same run), the
promotion wait (PostgreSQL's "ready to accept connections" in its log to the step's end), and
the tail (``run_finished`` to the process's exit).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from drconsole.journal.journal import JournalWriter
from drconsole.sandbox import manager
from drconsole.timeutil import parse_timestamp
from tests.bench.procenv import bench_env

REPO = Path(__file__).resolve().parents[2]

# the script's segments, named by the plan step that does the same
SCRIPT = """#!/usr/bin/env bash
set -euo pipefail
AS="{as_user}"
BR="pgbackrest --config={config} --stanza=qsign"
mark() {{ echo "$1 $EPOCHREALTIME" >>{marks}; }}
mark start
$AS $BR check
mark flush-wal
$AS $BR info --output=json >/dev/null   # the plan's recovery-window check does the same
psql -h 127.0.0.1 -p {port} -U qsign -d qsign -Atc "select last_archived_time from pg_stat_archiver" >/dev/null
mark window
{writer_stop}
mark stop-writers
$AS {bin}/pg_ctl -D {data} stop -m fast -w >/dev/null
mark stop-db
$AS cp -a {data} {data}.before-restore-$(date -u +%Y%m%dT%H%M%S%N)
mark safety-copy
$AS $BR --delta --type=time "--target={target}" --target-action=promote restore
$AS {bin}/pg_ctl -D {data} start -w -l {log} >/dev/null
until [ "$(psql -h 127.0.0.1 -p {port} -U qsign -d qsign -Atc 'select pg_is_in_recovery()')" = f ]; do
  sleep 0.1
done
mark restore
psql -h 127.0.0.1 -p {port} -U qsign -d qsign -Atc "select count(*) from signatures" >/dev/null
psql -h 127.0.0.1 -p {port} -U qsign -d qsign -Atc \
  "select coalesce(max(signed_at) <= '{target}'::timestamptz, true) from signatures" >/dev/null
mark checks
{writer_start}
mark start-writers
$AS {bin}/pg_ctl -D {sdata} stop -m fast -w >/dev/null
$AS mv {sdata} {sdata}.before-rebuild-$(date -u +%Y%m%dT%H%M%S%N)
$AS {bin}/pg_basebackup -h 127.0.0.1 -p {port} -U postgres -D {sdata} -R -X stream -c fast
$AS sed -i '/^recovery_/d' {sdata}/postgresql.auto.conf
printf 'port = {sport}\narchive_mode = always\n' | $AS tee -a {sdata}/postgresql.auto.conf >/dev/null
$AS {bin}/pg_ctl -D {sdata} start -w -l {slog} >/dev/null
until [ "$(psql -h 127.0.0.1 -p {sport} -U postgres -d postgres -Atc 'select status from pg_stat_wal_receiver')" = streaming ]; do
  sleep 0.05
done
mark rebuild-standby
psql -h 127.0.0.1 -p {sport} -U postgres -d postgres -Atc 'select status from pg_stat_wal_receiver' >/dev/null
mark standby-streams
"""
STEPS = ["flush-wal", "window", "stop-writers", "stop-db", "safety-copy", "restore"]
STANDBY = ["rebuild-standby", "standby-streams"]  # beside start-writers in the plan
READY = "database system is ready to accept connections"


def _target() -> str:
    time.sleep(1.2)
    target = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime())
    time.sleep(1.2)
    return target


def _ready_at(log: Path, offset: int) -> float | None:
    """When PostgreSQL last said it accepts connections (log_line_prefix %m), after offset."""
    with log.open("rb") as handle:
        handle.seek(offset)
        text = handle.read().decode("utf-8", "replace")
    found = [line for line in text.splitlines() if READY in line]
    if not found:
        return None
    stamp = re.match(r"(\S+ \S+) (\S+)", found[-1])
    if not stamp:
        return None
    return datetime.strptime(stamp.group(1) + " +0000", "%Y-%m-%d %H:%M:%S.%f %z").timestamp()


def _plan_run(run_dir: Path, launched: float, exited: float, ready: float | None) -> dict[str, Any]:
    events = [json.loads(line) for line in (run_dir / "journal.jsonl").open()]
    at = [parse_timestamp(e["ts"]).timestamp() for e in events]
    started: dict[str, float] = {}
    steps: dict[str, float] = {}
    for event, when in zip(events, at, strict=True):
        step = str(event["data"].get("step", "")) if isinstance(event["data"], dict) else ""
        if event["type"] == "step_started":
            started[step] = when
        elif event["type"] == "step_finished":
            steps[step] = when - started[step]
    first = min(started.values())
    finished = next(w for e, w in zip(events, at, strict=True) if e["type"] == "run_finished")
    checks = max(steps["row-count"], steps["newest-row"])  # they run side by side
    standby = sum(steps[s] for s in STANDBY)  # beside start-writers
    work = sum(steps[s] for s in STEPS) + checks + max(steps["start-writers"], standby)
    return {
        "total": exited - launched,
        "startup": first - launched,
        "steps": {
            **{s: steps[s] for s in STEPS},
            "checks": checks,
            "start-writers": steps["start-writers"],
            **{s: steps[s] for s in STANDBY},
        },
        "engine": finished - first - work,
        "tail": exited - finished,
        "events": len(events),
        "promotion_wait": (started["restore"] + steps["restore"] - ready) if ready else None,
    }


def _shell_run(
    marks_file: Path, launched: float, exited: float, ready: float | None
) -> dict[str, Any]:
    marks = [line.split() for line in marks_file.read_text().splitlines()]
    when = {name: float(stamp) for name, stamp in marks}
    order = [name for name, _ in marks]
    steps = {name: when[name] - when[order[i - 1]] for i, name in enumerate(order) if i}
    return {
        "total": exited - launched,
        "startup": when["start"] - launched,
        "steps": steps,
        "tail": exited - when[order[-1]],
        "promotion_wait": (when["restore"] - ready) if ready else None,
    }


def _append_s(directory: Path, count: int = 50) -> float:
    """One journal append (line, fsync, head) on this file system."""
    run_dir = directory / f"fsync-{time.monotonic_ns()}"
    run_dir.mkdir(parents=True)
    writer = JournalWriter.create(run_dir)
    payload = {"step": "restore", "status": "succeeded", "outputs": {"lsn": "0/3000060"}}
    start = time.perf_counter()
    for _ in range(count):
        writer.append("step_finished", payload)
    took = (time.perf_counter() - start) / count
    writer.close()
    return took


def _grow(pg: dict[str, Any], as_user: list[str], gb: float) -> dict[str, float]:
    """Load about ``gb`` GB of rows (about 600 bytes each) and wait until its WAL is archived."""
    rows = int(gb * 1e9 / 600)
    psql = ["psql", "-h", "127.0.0.1", "-p", str(pg["port"]), "-U", "qsign", "-d", "qsign", "-Atc"]
    start_lsn = subprocess.run(
        [*psql, "select pg_current_wal_lsn()"], capture_output=True, text=True, check=True
    ).stdout.strip()
    batch = 500_000
    for first in range(0, rows, batch):
        subprocess.run(
            [
                *psql,
                "insert into signatures (payload, digest) select repeat(md5(n::text), 16), "
                f"md5(n::text) from generate_series({first}, {min(first + batch, rows) - 1}) n",
            ],
            check=True,
            capture_output=True,
        )
    table = subprocess.run(
        [*psql, "select pg_total_relation_size('signatures')"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    wal = subprocess.run(
        [*psql, f"select pg_current_wal_lsn() - '{start_lsn}'::pg_lsn"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    config = pg["pgbackrest"]["config"]
    subprocess.run(
        [*as_user, "pgbackrest", f"--config={config}", "--stanza=qsign", "check"],
        check=True,
        capture_output=True,
    )
    return {"table_gb": int(table) / 1e9, "wal_gb": float(wal) / 1e9}


def bench_pitr(reps: int = 5, big_gb: float = 0.0) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="drconsole-bench-"))
    root.chmod(0o755)
    sbx = root / "sbx"
    try:
        manager.up(sbx)
        targets = yaml.safe_load((sbx / "targets.yaml").read_text())
        pg = targets["sites"]["primary"]["postgres"]
        standby = targets["sites"]["dr"]["postgres"]
        writers = targets["sites"]["primary"]["writers"]
        as_user = ["runuser", "-u", pg["os_user"], "--"] if os.geteuid() == 0 else []
        size = _grow(pg, as_user, big_gb) if big_gb else {}
        answers = root / "answers.yaml"
        answers.write_text(
            yaml.safe_dump(
                {
                    "steps": {
                        "confirm": {"confirm": True},
                        "restore": {"typed": "restore qsign"},
                        "rebuild-standby": {"typed": "rebuild dr"},
                    }
                }
            )
        )
        log = Path(pg["log_file"])
        append_s = statistics.median(_append_s(root / "runs") for _ in range(3))
        plans: list[dict[str, Any]] = []
        shells: list[dict[str, Any]] = []
        for rep in range(reps):
            target = _target()
            runs = root / "runs" / str(rep)
            offset = log.stat().st_size
            launched = time.time()
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
                    str(runs),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                env=bench_env(),
            )
            exited = time.time()
            (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
            plans.append(_plan_run(run_dir, launched, exited, _ready_at(log, offset)))
            _drop_safety_copies(pg["data_dir"], standby["data_dir"])
            target = _target()
            script, marks = root / "pitr.sh", root / f"marks-{rep}.txt"
            script.write_text(
                SCRIPT.format(
                    as_user=" ".join(as_user),
                    config=pg["pgbackrest"]["config"],
                    bin=pg["bin_dir"],
                    data=pg["data_dir"],
                    log=pg["log_file"],
                    port=pg["port"],
                    target=target,
                    writer_stop=" ".join(writers["stop"]),
                    writer_start=" ".join(writers["start"]),
                    marks=marks,
                    sdata=standby["data_dir"],
                    slog=standby["log_file"],
                    sport=standby["port"],
                )
            )
            offset = log.stat().st_size
            launched = time.time()
            subprocess.run(
                ["bash", str(script)], check=True, stdout=subprocess.DEVNULL, env=bench_env()
            )
            exited = time.time()
            shells.append(_shell_run(marks, launched, exited, _ready_at(log, offset)))
            _drop_safety_copies(pg["data_dir"], standby["data_dir"])
        return _summary(plans, shells, append_s, reps, size)
    finally:
        try:
            manager.down(sbx)
        finally:
            shutil.rmtree(root, ignore_errors=True)


def _drop_safety_copies(data_dir: str, standby_dir: str) -> None:
    """The primary's safety copies and the standby's old data directories, outside the timing
    (on the large database each is as large as the database)."""
    for pattern in (data_dir + ".before-restore-*", standby_dir + ".before-rebuild-*"):
        for copy in Path(pattern).parent.glob(Path(pattern).name):
            shutil.rmtree(copy, ignore_errors=True)


def _med(values: list[float | None]) -> float:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else float("nan")


def _summary(
    plans: list[dict[str, Any]],
    shells: list[dict[str, Any]],
    append_s: float,
    reps: int,
    size: dict[str, float],
) -> dict[str, Any]:
    plan, shell = _med([p["total"] for p in plans]), _med([s["total"] for s in shells])
    events = _med([p["events"] for p in plans])
    steps = {
        name: (_med([p["steps"][name] for p in plans]), _med([s["steps"][name] for s in shells]))
        for name in plans[0]["steps"]
    }
    return {
        "plan_s": plan,
        "shell_s": shell,
        "ratio": plan / shell,
        "reps": reps,
        **size,
        "startup": (_med([p["startup"] for p in plans]), _med([s["startup"] for s in shells])),
        "steps": steps,
        "engine_s": _med([p["engine"] for p in plans]),
        "fsync_s": events * append_s,
        "events": events,
        "append_ms": append_s * 1000,
        "promotion_wait": (
            _med([p["promotion_wait"] for p in plans]),
            _med([s["promotion_wait"] for s in shells]),
        ),
        "tail": (_med([p["tail"] for p in plans]), _med([s["tail"] for s in shells])),
    }


def describe(result: dict[str, Any]) -> str:
    """The breakdown in words: where the console's extra time goes."""
    (sp, ss), (wp, ws), (tp, ts) = result["startup"], result["promotion_wait"], result["tail"]
    steps = ", ".join(
        f"{name} {ours:.2f}/{theirs:.2f}" for name, (ours, theirs) in result["steps"].items()
    )
    return (
        f"start-up {sp:.3f} s against the script's {ss:.3f} s; steps (console/script, s): "
        f"{steps}; the engine between steps {result['engine_s']:.3f} s, of which "
        f"{result['events']:.0f} journal appends with fsync about {result['fsync_s']:.3f} s "
        f"({result['append_ms']:.1f} ms each); PostgreSQL ready to the restore's end "
        f"{wp:.3f} s against {ws:.3f} s; exit {tp:.3f} s against {ts:.3f} s"
    )


if __name__ == "__main__":
    gb = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    out = bench_pitr(reps, gb)
    print(json.dumps(out, indent=1))
    print(describe(out))
