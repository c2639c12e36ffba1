"""What ten watchers cost the driver: the same run with and without ten ``drconsole watch``
screens following it (each what ``drconsole watch`` runs, headless, in its own process).

The plan's first step waits while the watchers start and replay; what is measured is the rest,
a chain of 120 short steps (240 fsynced events the watchers each read and draw), from the
first step's end to the run's end, in the journal's own monotonic clock. Runs with and without
watchers alternate; medians of REPS each.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from drconsole.journal.journal import read_events
from tests.conftest import start_run

REPS = 5
WATCHERS = 10
STEPS = 120
SETTLE_S = 10  # the first step: time for the watchers to start before the measured part
WATCHER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from drconsole.tui.watch_screen import watch
    run_dir = Path(sys.argv[1])
    watch(run_dir.parent, run_dir, headless=True)
""")


def plan_text() -> str:
    steps = [f"  - {{id: settle, wait: {SETTLE_S}s}}"]
    previous = "settle"
    for number in range(STEPS):
        steps.append(f"  - {{id: s{number}, wait: 0.01s, needs: [{previous}]}}")
        previous = f"s{number}"
    head = "id: watched\ntitle: Watched\nkind: drill\nobjectives: {rto: 30m}\nsteps:\n"
    return head + "\n".join(steps) + "\n"


def one_run(tmp: Path, watchers: int) -> float:
    """Seconds from the settle step's end to the run's end, with ``watchers`` watching."""
    plan = tmp / "plan.yaml"
    plan.write_text(plan_text())
    runs = Path(tempfile.mkdtemp(dir=tmp))
    proc, run_dir = start_run([str(plan), "--headless", "--runs-dir", str(runs)], step="settle")
    watching = [
        subprocess.Popen(
            [sys.executable, "-c", WATCHER, str(run_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        for _ in range(watchers)
    ]
    try:
        proc.wait(timeout=SETTLE_S + 120)
    finally:
        for watcher in watching:
            watcher.terminate()
        for watcher in watching:
            watcher.wait(timeout=10)
    events = list(read_events(run_dir))
    alive = [w for w in watching if w.returncode not in (0, -15)]
    assert not alive, f"a watcher failed: {[w.returncode for w in alive]}"
    settled = next(
        e.mono for e in events if e.type == "step_finished" and e.data["step"] == "settle"
    )
    finished = next(e.mono for e in events if e.type == "run_finished")
    assert next(e.data["result"] for e in events if e.type == "run_finished") == "succeeded"
    return finished - settled


def bench_watchers() -> dict[str, float]:
    alone: list[float] = []
    watched: list[float] = []
    with tempfile.TemporaryDirectory() as raw:
        for _ in range(REPS):
            alone.append(one_run(Path(raw), 0))
            watched.append(one_run(Path(raw), WATCHERS))
    alone_s, watched_s = statistics.median(alone), statistics.median(watched)
    return {
        "alone_s": alone_s,
        "watched_s": watched_s,
        "ratio": watched_s / alone_s,
        "reps": REPS,
        "watchers": WATCHERS,
        "events": 2 * STEPS,
        "spread": (max(alone) - min(alone)) / alone_s,  # how noisy runs alone are
    }


if __name__ == "__main__":
    print(bench_watchers())
