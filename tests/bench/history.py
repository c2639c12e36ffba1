"""History over 1,000 runs: from the index (each journal's key checked, nothing re-verified)
against the same history with no index (every journal verified and replayed), and after one
journal changed (that run alone read again). The run list (``drconsole runs``, the console's
every 3 s) the same way: its first listing, and each next one (nothing changed, nothing read)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RUNS = 1000


def _one_run(tmp: Path) -> Path:
    """A real hello-drill run (headless), the model every copy is made from."""
    backup = tmp / "qsign.dump"
    backup.write_bytes(os.urandom(4096))
    digest = subprocess.run(["sha256sum", backup], capture_output=True, text=True, check=True)
    (tmp / "qsign.dump.sha256").write_text(digest.stdout)
    answers = tmp / "answers.yaml"
    answers.write_text(
        "operator: bench\nsteps:\n  brief: {confirm: true}\n  approve:\n    signoffs:\n"
        "      - {name: so-1, role: security_officer}\n      - {name: w-1, role: witness}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "drconsole", "run", str(REPO / "plans" / "hello-drill.yaml"),
         "--headless", "--answers", str(answers), "--input", f"file={backup}",
         "--runs-dir", str(tmp / "model")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return Path(done.stdout.splitlines()[0])


def bench_history() -> dict[str, Any]:
    from drconsole.report import history, index
    from drconsole.runs.rundir import list_runs

    with tempfile.TemporaryDirectory() as raw:
        tmp = Path(raw)
        os.environ["XDG_CACHE_HOME"] = str(tmp / "cache")
        model = _one_run(tmp)
        runs = tmp / "runs"
        runs.mkdir()
        for i in range(RUNS):
            shutil.copytree(model, runs / f"{model.name}-{i:04d}")
        start = time.perf_counter()
        assert history.history(runs)["count"] == RUNS  # builds the index
        cold = time.perf_counter() - start
        warm_times, stale_times = [], []
        for i in range(5):
            start = time.perf_counter()
            history.history(runs)
            warm_times.append(time.perf_counter() - start)
            journal = runs / f"{model.name}-{i:04d}" / "journal.jsonl"
            journal.write_bytes(journal.read_bytes())  # same bytes, a new change time
            start = time.perf_counter()
            history.history(runs)
            stale_times.append(time.perf_counter() - start)
        warm, stale = sorted(warm_times)[2], sorted(stale_times)[2]
        size = index.cache_file(runs).stat().st_size
        start = time.perf_counter()
        assert len(list_runs(runs)) == RUNS
        list_cold = time.perf_counter() - start
        list_times = []
        for _ in range(5):
            start = time.perf_counter()
            list_runs(runs)
            list_times.append(time.perf_counter() - start)
    return {"runs": RUNS, "warm_s": warm, "cold_s": cold, "stale_s": stale,
            "ratio": cold / warm, "index_kb": size / 1024, "list_cold_s": list_cold,
            "list_warm_s": sorted(list_times)[2]}  # fmt: skip


if __name__ == "__main__":
    print(bench_history())
