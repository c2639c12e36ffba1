"""``make bench``: speed figures for the foundation, written to docs/benchmarks.md.

The machines are shared and noisy, so each figure is a median of several repetitions and is
reported next to a baseline measured in the same run (a ratio), not as a pass/fail timing test.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from drconsole.journal.journal import GENESIS, JournalWriter, _seal, read_events, verify
from drconsole.plans.validate import load_plan
from drconsole.runs.state import replay

REPO = Path(__file__).resolve().parents[2]


def median_time(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_append(tmp: Path, count: int = 300) -> dict[str, float]:
    """Journal appends (hash chain + fsync + head file) against bare write+fsync of a line."""
    run_dir = tmp / "append"
    run_dir.mkdir()
    writer = JournalWriter.create(run_dir)
    payload = {"step": "restore", "status": "succeeded", "outputs": {"lsn": "0/3000060"}}
    start = time.perf_counter()
    for _ in range(count):
        writer.append("step_finished", payload)
    ours = time.perf_counter() - start
    writer.close()
    line = (run_dir / "journal.jsonl").read_bytes().splitlines(keepends=True)[-1]
    fd = os.open(tmp / "bare.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    start = time.perf_counter()
    for _ in range(count):
        os.write(fd, line)
        os.fsync(fd)
    bare = time.perf_counter() - start
    os.close(fd)
    return {"ours_per_s": count / ours, "bare_per_s": count / bare, "ratio": bare / ours}


def big_journal(tmp: Path, count: int = 100_000) -> Path:
    """A 100,000-event journal of a realistic mix, written without fsync (setup only)."""
    run_dir = tmp / "big"
    run_dir.mkdir()
    prev = GENESIS
    lines = []
    start = {
        "run_id": "bench",
        "plan": {"id": "bench"},
        "mode": "drill",
        "operator": "op",
        "inputs": {},
        "incident_at": "2026-11-26T00:00:00Z",
        "objectives": {},
        "steps": [f"s{i}" for i in range(100)],
    }
    for seq in range(1, count + 1):
        if seq == 1:
            kind, data = "run_started", start
        else:
            step = f"s{seq % 100}"
            kind, data = [
                ("step_started", {"step": step, "attempt": 1, "params": {"n": seq}}),
                (
                    "attempt_failed",
                    {
                        "step": step,
                        "attempt": 1,
                        "error": "refused",
                        "transient": True,
                        "retry_in_s": 1.0,
                    },
                ),
                (
                    "step_finished",
                    {"step": step, "status": "succeeded", "outputs": {"n": seq}, "attempts": 1},
                ),
            ][seq % 3]
        body = {
            "seq": seq,
            "ts": "2026-11-26T00:00:00.000000Z",
            "mono": seq / 1000,
            "type": kind,
            "data": data,
            "prev": prev,
        }
        line, prev = _seal(body)
        lines.append(line)
    (run_dir / "journal.jsonl").write_text("".join(lines))
    return run_dir


def bench_replay_verify(tmp: Path) -> dict[str, float]:
    run_dir = big_journal(tmp)
    path = run_dir / "journal.jsonl"
    import json

    def baseline() -> None:
        with path.open("rb") as handle:
            for raw in handle:
                json.loads(raw)

    assert verify(run_dir).ok
    # alternate the three, round after round, so that drift on a busy machine hits each alike
    times: dict[str, list[float]] = {"base": [], "verify": [], "replay": []}
    for _ in range(7):
        for name, fn in (
            ("base", baseline),
            ("verify", lambda: verify(run_dir)),
            ("replay", lambda: replay(read_events(run_dir))),
        ):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    base, v, r = (statistics.median(times[k]) for k in ("base", "verify", "replay"))
    return {
        "verify_s": v,
        "replay_s": r,
        "json_parse_s": base,
        "verify_ratio": v / base,
        "replay_ratio": r / base,
        "size_mb": path.stat().st_size / 1e6,
    }


def bench_startup() -> dict[str, float]:
    def help_() -> None:
        subprocess.run(
            [sys.executable, "-m", "drconsole", "--help"], check=True, stdout=subprocess.DEVNULL
        )

    def bare() -> None:
        subprocess.run([sys.executable, "-c", "pass"], check=True)

    ours = median_time(help_, 7)
    base = median_time(bare, 7)
    return {"help_s": ours, "python_s": base, "ratio": ours / base}


def bench_validate() -> dict[str, float]:
    import yaml

    files = sorted((REPO / "plans").glob("*.yaml"))
    load_plan(files[0])  # warm imports

    def ours() -> None:
        for path in files:
            assert load_plan(path).ok, path

    def base() -> None:
        for path in files:
            yaml.safe_load(path.read_text())

    o, b = median_time(ours, 7), median_time(base, 7)
    return {"plans": len(files), "validate_s": o, "yaml_s": b, "ratio": o / b}


TREND = "<!-- trend: one row a run, written by tests/bench/run.py; keep -->"
KEEP = 30  # runs kept in the trend


def _trend(old: str, today: dict[str, str]) -> str:
    """The trend table: the rows already in the page, then today's; columns the union."""
    rows: list[dict[str, str]] = []
    if TREND in old:
        lines = [ln for ln in old.split(TREND, 1)[1].splitlines() if ln.startswith("|")]
        if len(lines) > 2:
            header = [c.strip() for c in lines[0].strip("|").split("|")]
            for line in lines[2:]:
                cells = [c.strip() for c in line.strip("|").split("|")]
                rows.append(dict(zip(header, cells, strict=False)))
    rows = [*rows, today][-KEEP:]
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(row.get(c, "") for c in columns) + " |" for row in rows]
    return "\n".join(out)


def _commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    )
    return done.stdout.strip() or "?"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--output", default="docs/benchmarks.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as raw:
        tmp = Path(raw)
        append = bench_append(tmp)
        big = bench_replay_verify(tmp)
    startup = bench_startup()
    valid = bench_validate()
    from tests.bench.plans import bench_validate_chain

    chain = bench_validate_chain()
    from tests.bench.pitr import bench_pitr, describe

    pitr = bench_pitr()
    pitr_big = bench_pitr(reps=3, big_gb=1.1)
    from tests.bench.console import bench_console

    console = bench_console()
    from tests.bench.objects import bench_objects

    objects = bench_objects()
    from tests.bench.objscale import bench_objects_scale

    scale = bench_objects_scale()
    from tests.bench.failover import bench_failover

    failover = bench_failover()
    from tests.bench.history import bench_history

    hist = bench_history()
    from tests.bench.watchers import bench_watchers

    watchers = bench_watchers()
    critical = failover["critical_text"]
    branches = "; ".join(
        f"the {name} branch ends at {branch['ends_s']:g} s"
        for name, branch in failover["branches"].items()
    )
    mem = console["memory"]
    # (trend column, what, figure, baseline, ratio, how the ratio reads, goal)
    rows: list[tuple[str, str, str, str, float, str, str]] = [
        (
            "append",
            "journal append, hash chain + fsync + head",
            f"{append['ours_per_s']:.0f} events/s",
            f"bare write+fsync: {append['bare_per_s']:.0f}/s",
            append["ratio"],
            "{:.2f} of bare",
            "durable first; fsync dominates",
        ),
        (
            "verify",
            f"verify a 100,000-event journal ({big['size_mb']:.1f} MB)",
            f"{big['verify_s']:.3f} s",
            f"json.loads of every line: {big['json_parse_s']:.3f} s",
            big["verify_ratio"],
            "{:.2f}x",
            "under 1 s",
        ),
        (
            "replay",
            "replay the same journal to run state",
            f"{big['replay_s']:.3f} s",
            "same",
            big["replay_ratio"],
            "{:.2f}x",
            "under 1 s",
        ),
        (
            "help",
            "`drconsole --help` start-up",
            f"{startup['help_s']:.3f} s",
            f"`python -c pass`: {startup['python_s']:.3f} s",
            startup["ratio"],
            "{:.2f}x",
            "under 0.3 s",
        ),
        (
            "validate",
            f"validate every shipped plan ({valid['plans']})",
            f"{valid['validate_s'] * 1000:.1f} ms",
            f"yaml.safe_load only: {valid['yaml_s'] * 1000:.1f} ms",
            valid["ratio"],
            "{:.2f}x",
            "-",
        ),
        (
            "chain",
            f"validate a {chain['large']}-step plan, each step referring to the one before",
            f"{chain['large_s']:.3f} s",
            f"the same with {chain['small']} steps: {chain['small_s']:.3f} s",
            chain["ratio"],
            "{:.1f}x (linear: 10x)",
            "under 2 s",
        ),
        (
            "pitr",
            "PITR plan on the sandbox, whole run",
            f"{pitr['plan_s']:.2f} s",
            f"the same commands in a shell script: {pitr['shell_s']:.2f} s",
            pitr["ratio"],
            "{:.3f}x",
            "at most 1.05",
        ),
        (
            "pitr-1GB",
            f"PITR plan on a {pitr_big['table_gb']:.1f} GB database ({pitr_big['wal_gb']:.1f} GB of WAL replayed)",
            f"{pitr_big['plan_s']:.1f} s",
            f"the same commands in a shell script: {pitr_big['shell_s']:.1f} s",
            pitr_big["ratio"],
            "{:.3f}x",
            "at most 1.02",
        ),
        (
            "first-paint",
            "console: launch to first screen drawn (tmux, 80x24)",
            f"{console['first']['ours_s']:.2f} s",
            f"a minimal Textual app: {console['first']['minimal_s']:.2f} s",
            console["first"]["ratio"],
            "{:.2f}x",
            "under 1 s",
        ),
        (
            "keys",
            "console: key to updated step view while an action blocks in a worker",
            f"{console['keys']['busy_ms']:.1f} ms",
            f"same keys, nothing running: {console['keys']['idle_ms']:.1f} ms",
            console["keys"]["ratio"],
            "{:.2f}x",
            "under 50 ms",
        ),
        (
            "console-mem",
            "console: peak memory (VmHWM) of a whole run",
            f"{mem['ours_mb']:.1f} MB",
            f"a minimal Textual app: {mem['minimal_mb']:.1f} MB",
            mem["ratio"],
            "{:.2f}x",
            "at most 1.5x",
        ),
        (
            "obj-MBps",
            "object verification (64 MiB from the sandbox's moto, streamed through SHA-256)",
            f"{objects['ours_mb_s']:.0f} MB/s",
            f"sha256sum of the same bytes on local disk: {objects['sha256sum_mb_s']:.0f} MB/s",
            objects["ratio"],
            "{:.2f}",
            "at least 0.8",
        ),
        (
            "verify-1k",
            "daily verification (`drconsole run`, s3.verify_all) of 1,000 objects of 16 KiB in moto",
            f"{scale['1k']['ours_s']:.2f} s",
            f"listing them + sha256sum of the same bytes: {scale['1k']['theirs_s']:.2f} s",
            scale["1k"]["ratio"],
            "{:.1f}x",
            "-",
        ),
        (
            "verify-10k",
            "the same, 10,000 objects",
            f"{scale['10k']['ours_s']:.2f} s",
            f"listing them + sha256sum: {scale['10k']['theirs_s']:.2f} s",
            scale["10k"]["ratio"],
            "{:.1f}x",
            "-",
        ),
        (
            "verify-2GiB",
            "the same, one 2 GiB object (multipart, against its .sha256)",
            f"{scale['2GiB']['ours_s']:.2f} s",
            f"listing it + sha256sum: {scale['2GiB']['theirs_s']:.2f} s",
            scale["2GiB"]["ratio"],
            "{:.2f}x",
            "-",
        ),
        (
            "mem-10k/1k",
            "peak memory (VmHWM) of the drconsole process verifying 10,000 objects",
            f"{scale['10k']['peak_mb']:.1f} MB",
            f"verifying 1,000: {scale['1k']['peak_mb']:.1f} MB",
            scale["memory_ratio_count"],
            "{:.3f}x",
            "flat (at most 1.05x)",
        ),
        (
            "mem-2GiB/1k",
            "peak memory verifying one 2 GiB object",
            f"{scale['2GiB']['peak_mb']:.1f} MB",
            f"verifying 1,000 of 16 KiB: {scale['1k']['peak_mb']:.1f} MB",
            scale["memory_ratio_size"],
            "{:.3f}x",
            "flat (at most 1.05x)",
        ),
        (
            "failover",
            "failover on the sandbox: first step to service_restored",
            f"{failover['parallel_s']:.2f} s",
            f"the same steps one after another (sum of their durations, same run): {failover['sequential_s']:.2f} s",
            failover["ratio"],
            "{:.2f}",
            "at most 0.6",
        ),
        (
            "history",
            f"history of {hist['runs']} runs from the index (a changed journal re-read: {hist['stale_s']:.3f} s)",
            f"{hist['warm_s']:.3f} s",
            f"no index, every journal verified and replayed: {hist['cold_s']:.2f} s",
            hist["ratio"],
            "{:.0f}x faster",
            "under 1 s",
        ),
        (
            "parallel",
            "verify 16 objects of 4 MiB, 4 at a time",
            f"{objects['parallel_s']:.2f} s",
            f"one by one: {objects['serial_s']:.2f} s",
            objects["speedup"],
            "{:.2f}x faster",
            "-",
        ),
        (
            "watchers",
            f"a run followed by {watchers['watchers']} `drconsole watch` screens "
            f"({watchers['events']} events)",
            f"{watchers['watched_s']:.2f} s",
            f"the same run unwatched: {watchers['alone_s']:.2f} s "
            f"(spread of its runs: {watchers['spread']:.0%})",
            watchers["ratio"],
            "{:.2f}x",
            "within noise",
        ),
    ]
    table = "\n".join(
        f"| {what} | {figure} | {base} | {how.format(ratio)} | {goal} |"
        for _, what, figure, base, ratio, how, goal in rows
    )
    day = time.strftime("%Y-%m-%d", time.gmtime())
    today = {"date": day, "commit": _commit(), **{key: f"{r:.3g}" for key, *_m, r, _h, _g in rows}}
    output = Path(args.output)
    trend = _trend(output.read_text() if output.exists() else "", today)
    text = f"""# Benchmarks

Written by `make bench` ({day}, {platform.machine()},
{os.cpu_count()} cores, Python {platform.python_version()}). The machines are shared and
noisy: each figure is a median, next to a baseline measured in the same run, and what is
compared between runs is the ratio (the trend below), not the seconds.

| what | figure | baseline (same run) | ratio | goal |
|---|---|---|---|---|
{table}

## Trend

The ratio of every row above, one row a run (the last {KEEP}), oldest first: a regression shows
as a column that grows (or, for "of bare", "faster" and MB/s, shrinks).

{TREND}
{trend}

## How each is measured

The PITR figures are medians of {pitr["reps"]} runs of each ({pitr_big["reps"]} on the large
database), alternating, on one sandbox (`tests/bench/pitr.py`): the plan run headless through
`drconsole run`, against a bash script doing the same pgBackRest, pg_ctl, cp and psql commands
in the same order (its promotion wait polls every 0.1 s, as the console's does). Since the plan
rebuilds the DR standby after the restore (a standby left on the old timeline would be promoted
with the rows the restore threw away), both also stop the standby, move its data aside,
`pg_basebackup -R` from the restored primary, start it and wait until it streams: the plan does
that beside the writers' start, the script after it (about 0.2-0.3 s of the plan's lead on the
small sandbox is that, not a saving of the console's). The processes
start with their bytecode compiled once (`tests/bench/procenv.py`), as an installed drconsole's
is. Where the console's constant goes, on the default sandbox: {describe(pitr)}. On the
{pitr_big["table_gb"]:.1f} GB database: {describe(pitr_big)}. The large database is loaded by the
benchmark (about 600-byte rows) without a new backup, so every restore brings back the sandbox's
first backup and replays all of that WAL to the target; the sandbox is removed after.
The same commands run on both sides, so a PITR ratio under 1 is the machine's noise (the
restore's own seconds vary most), not a saving: the console's constant is its start-up, the
engine between steps and its exit, above.

Verification at scale (`tests/bench/objscale.py`): a moto server of the benchmark's own holds
10,000 objects of 16 KiB (1,000 under one prefix) and one 2 GiB object uploaded in parts with its
`.sha256`; `drconsole run` of a one-step plan (s3.verify_all, 4 at a time) in its own process,
whose peak memory is its VmHWM read at exit, against listing the same prefix with boto3 and
`sha256sum` of the same bytes on local disk; medians of 3, peaks the largest of 3. Each object
costs one request to moto, its GET: the stored SHA-256 comes in that answer's headers, and a
`.sha256` sidecar is fetched only for an object whose listing page shows one (none here). Before
issue 18's third part it was three (head, sidecar, body): 1,000 objects took 8.0 s and 10,000
84 s on a busy machine, 3.4 s and 31 s after; verify_all alone, old and new alternating on one
moto, 9.1 s against 2.7 s. What is left against a local `sha256sum` is per request, not
hashing: moto's work for each GET (about 1.8 ms of CPU) and botocore's (about 1.2 ms) on two
cores. Memory stays flat because keys come a listing page at a time, at most twice the
parallelism is in flight and only counts and failures are kept.

Failover figures (`tests/bench/failover.py`): `dr-site-failover.yaml` run headless on a fresh
sandbox after `sandbox fail-primary`; both figures come from that one run's journal. Critical
path (each step's share of the time to service_restored): {critical}. The database branch
(promote, scale up the api-server) runs beside the Vault branch (restore, restart, unseal);
{branches}. The ratio is bounded by how long the longer branch is against the sum of both.
Before issue 18 the Vault branch took 6 s: OpenBao's raft restore, once the
snapshot is applied, sleeps a fixed 5 s (`restoreOpDelayDuration`, for standbys a single node
does not have) holding its state lock, then seals, and the restart waited for that. The restore
step now returns when the server logs the snapshot applied, and `vault.restart` stops such a node
at once (tests/integration/test_vault_restart.py); what is left is the server's own work (its
0.5 s teardown before applying, its start, the unseal). Taking those 5 s off also took them off the
sum, so the ratio went from 0.80 to about 0.65-0.70 while the time itself went from 6.8 s to
about 2 s; the critical path is now the database branch, most of it the Kubernetes simulator's
1 s pod start in scale-up. Then (issue 18, part 1) the waits on that path that were drconsole's
own went: scale-up took 1.4-1.5 s for the 1 s pod start, because the Kubernetes client's typed
API classes import some 280 pydantic models on first use (0.5 s before the scale request was
sent; the adapter now sends JSON through the client's `ApiClient`), the rollout was polled every
0.25 s (it now waits on a watch of the workload) and the simulator's controller and watch worked
on a 0.1 s tick (both now wake on each write, the controller also when a pod is due); scale-up now
takes 1.01 s. `dns` and `check-dns` each made a Route 53 client (botocore reading its endpoint
and service data, about 0.05-0.1 s); they share one now. `promote` took 0.11 s because
`pg_promote(wait => true)` looks every 100 ms; it now asks every 10 ms and takes 0.03 s. Medians
of 5 alternating runs on one machine: before, 1.78 s against 2.63 s (0.68; scale-up 1.43 s, dns
0.15 s, check-dns 0.07 s, promote 0.11 s); after, 1.15 s against 1.86 s (0.61). The ratio moved
less than the time because each wait taken off the critical path comes off the sum too. Its floor
is the 1 s pod start (the stand-in for a real pod's start, kept) against the Vault branch's
0.66 s of server work: with every other step taking no time, 1.01 / (1.01 + 0.66) = 0.60. What is
left on the path besides the servers' work: the first Route 53 client in dns (about 0.05 s) and
the engine between steps (about 0.03 s). Last, the plan's order: `dns` waited for scale-up as well
as for the promoted database and the unsealed Vault, so the switch followed the pods' start. It now
needs only the two the guide names (promote the DR database, activate the DR Vault, update DNS);
the checks wait for both the switch and the pods. The primary is down and fenced by then, so
nothing served is lost by switching while the pods start, and a real record's propagation (up to
its TTL, 60 s here) overlaps the start instead of following it. A failback keeps DNS after its
scale-up (there the site being left still serves). Five runs: 1.08-1.10 s against 1.87-1.93 s
(0.57-0.58); the path is promote, scale-up, one check.

Long plans (`tests/bench/plans.py`): every step checks a file and refers to the previous
step's output, validated in-process, median of 5 alternating rounds. Before the fix, 1000 steps
took 6.8 s (each reference walked the chain with a linear step lookup). What grows faster than
the plan is CPython's cycle collector over PyYAML's node objects: with it off, the time per step
is flat.

Console figures (`tests/bench/console.py`): the first screen is timed from starting the
process in tmux until the home screen shows; key latency is read inside the app, from the key
to the step view's update, median of 20 presses; memory is the process's VmHWM.
What the console holds above the bare app (measured at the end of issue 18, RSS read between
imports, 54.5 MB in all): Textual and the console's first module 33.0 MB (the bare app peaks at
32.6); third-party libraries 13.4 MB, of which pydantic and pydantic-core 9.4 (the compiled
core 4.5, its Python modules and the machinery the first model builds 4.9), `importlib.metadata`
1.3 (imported only by pydantic's plugin loader, at the first model; with that loader replaced in
an experiment the run peaked 1.6 MB lower), PyYAML 0.9, rich.pretty and attrs (Textual's
RichLog) 1.0, hashlib with OpenSSL 0.6, tenacity 0.5, zoneinfo 0.3; drconsole's own modules 4.9
(2.6 of Python objects, the rest the validators pydantic-core builds for its models); the run
itself 4.5 (widgets, styles, the worker, mostly Textual's own allocations). Deferring every
model's build (`defer_build`) saved 2.4 MB at import but 0.5 MB at the run's end, because a run
validates its plan, which builds every step kind. 1.5x is 49 MB: 5.5 MB less, more than
everything above that is not pydantic, the plans' model or Textual. It would take validating
plans without pydantic (a listed runtime dependency, the model every plan, answers file and
action's parameters are checked by) or running the engine in a second process (more memory in
all, not less); neither was done, and the goal is not met.

History (`tests/bench/history.py`): 1,000 copies of a real hello-drill run; the index (in the
cache directory, {hist["index_kb"]:.0f} KiB) is keyed on each journal's size, inode, modification and
change times and head, so only a changed journal is verified again; median of 5.

Watchers (`tests/bench/watchers.py`): ten watcher processes (headless, each what
`drconsole watch` runs) follow a headless run of 120 short steps on the same 2-core machine;
the run's time from its first step's end to its end, from its journal, median of
{watchers["reps"]} alternating runs with and without them. A watcher reads the journal a
quarter of a second after inotify says it changed (one read and one redraw for a burst of
events) and runs at nice 10.

How: `tests/bench/run.py`. Appends are {300} real fsynced events. The big journal is built
in memory with the journal's own line format, then verified (hash of every line, chain, head)
and replayed (every event folded into the run state).
"""
    output.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
