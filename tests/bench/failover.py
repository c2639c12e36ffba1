"""Failover on the sandbox: the plan's parallel critical path against the same steps run one
after another, from one run's journal.

The failover plan runs headless on a fresh sandbox after a simulated primary failure. From its
journal: the parallel time is the first step's start to the ``service_restored`` milestone;
the sequential time is the sum of the durations of every step that finished by then (what a
script running them one after another, as the guide's does, would take). The critical path
(the chain of steps that set the finish) is reported too.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from drconsole.journal.journal import read_events
from drconsole.runs.state import replay
from drconsole.sandbox import manager
from drconsole.timeutil import parse_timestamp

REPO = Path(__file__).resolve().parents[2]
PLAN = REPO / "plans" / "dr-site-failover.yaml"


def _answers(sbx: Path) -> dict[str, Any]:
    folder = sbx / "openbao" / "primary"
    return {
        "operator": "bench",
        "steps": {
            "declare": {"signoffs": [{"name": "IC", "role": "incident_commander"}]},
            "promote": {"typed": "promote dr"},
            "vault-restore": {"typed": "restore vault dr"},
            "custodians": {
                "signoffs": [{"name": f"c{i}", "role": "key_custodian"} for i in (1, 2, 3)]
            },
            "vault-unseal": {
                "secrets": [{"file": str(folder / f"PRACTICE-ONLY-share-{i}")} for i in (1, 2, 3)]
            },
        },
    }


def _chain(state: Any, needs: dict[str, list[str]], last: str) -> list[str]:
    """The steps that set ``last``'s start, back to the first: each time the need that ended
    last."""
    path = []
    current: str | None = last
    while current:
        path.append(current)
        ended = {d: state.steps[d].ended_at for d in needs.get(current, [])}
        finished = {d: at for d, at in ended.items() if at is not None}
        current = max(finished, key=lambda d: finished[d]) if finished else None
    return list(reversed(path))


def analyse(run_dir: Path) -> dict[str, Any]:
    """Parallel and sequential times, the critical path (each step's seconds and share of the
    parallel time) and the Vault and database branches, from a run's journal."""
    events = list(read_events(run_dir))
    state = replay(events)
    done_at = state.milestones["service_restored"]
    ran = [
        s
        for s in state.steps.values()
        if s.started_at and s.ended_at and s.ended_at <= done_at and s.duration_s is not None
    ]
    first = min(s.started_at for s in ran if s.started_at)
    parallel = (done_at - first).total_seconds()
    sequential = sum(s.duration_s or 0.0 for s in ran)
    plan = yaml.safe_load(PLAN.read_text())
    needs = {s["id"]: s.get("needs", []) for s in plan["steps"]}

    def seconds(step: str) -> float:
        return round(state.steps[step].duration_s or 0.0, 2)

    critical = [(step, seconds(step)) for step in _chain(state, needs, "service-restored")]
    return {
        "parallel_s": parallel,
        "sequential_s": sequential,
        "ratio": parallel / sequential,
        "critical": critical,
        "critical_text": " → ".join(
            f"{step} {took:g} s ({took / parallel:.0%})" for step, took in critical if took
        ),
        "branches": {
            name: {
                "steps": [(step, seconds(step)) for step in _chain(state, needs, last)],
                "ends_s": round(((state.steps[last].ended_at or first) - first).total_seconds(), 2),
            }
            for name, last in (("vault", "vault-unsealed"), ("database", "scale-up"))
        },
        "rto_s": (done_at - parse_timestamp(state.inputs["incident_at"])).total_seconds(),
    }


def bench_failover() -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="drconsole-bench-dr-"))
    root.chmod(0o755)
    sbx = root / "sbx"
    try:
        manager.up(sbx)
        manager.snapshot(sbx, "primary")
        time.sleep(1.0)  # some writes reach the standby
        manager.fail_primary(sbx)
        answers = root / "answers.yaml"
        answers.write_text(yaml.safe_dump(_answers(sbx)))
        done = subprocess.run(
            [sys.executable, "-m", "drconsole", "run", str(PLAN), "--headless", "--mode",
             "drill", "--targets", str(sbx / "targets.yaml"), "--runs-dir",
             str(root / "runs"), "--answers", str(answers)],
            capture_output=True, text=True, check=False, timeout=600,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"the failover failed:\n{done.stdout[-3000:]}{done.stderr}")
        return analyse(Path(done.stdout.splitlines()[0]))
    finally:
        try:
            manager.down(sbx)
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    found = bench_failover()
    print(
        f"first step to service_restored {found['parallel_s']:.2f} s, the same steps one after "
        f"another {found['sequential_s']:.2f} s: {found['ratio']:.2f}"
    )
    print(f"critical path (share of {found['parallel_s']:.2f} s): {found['critical_text']}")
    for name, branch in found["branches"].items():
        chain = ", ".join(f"{step} {took:g}" for step, took in branch["steps"])
        print(f"{name} branch ends at {branch['ends_s']:g} s: {chain}")
