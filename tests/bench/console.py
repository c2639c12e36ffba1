"""Console figures: first screen after launch, key-to-repaint while an action blocks in a
worker thread, and memory, each against a baseline measured in the same run."""

from __future__ import annotations

import asyncio
import shlex
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

from tests.bench.procenv import bench_env

REPO = Path(__file__).resolve().parents[2]

# peak memory from /proc/self/status (VmHWM): ru_maxrss would carry the parent's peak
# across fork and exec on Linux
_HWM = (
    "def HWM():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            return int(line.split()[1])\n"
)

MINIMAL_APP = _HWM + textwrap.dedent("""
    import sys
    from textual.app import App
    from textual.widgets import Label
    class Minimal(App):
        def compose(self):
            yield Label("minimal ready")
        def on_mount(self):
            if "--exit" in sys.argv:
                self.set_timer(1.0, self.exit)
    Minimal().run(headless="--exit" in sys.argv)
    if "--exit" in sys.argv:
        print(HWM())
""")

CONSOLE_RUN = _HWM + textwrap.dedent("""
    import sys
    from pathlib import Path
    from drconsole.tui.app import DrConsoleApp
    from drconsole.tui.run_screen import RunScreen
    plans, runs, plan = map(Path, sys.argv[1:4])
    app = DrConsoleApp(plan_dirs=[plans], runs_dir=runs, targets_path=None,
                       operator_name="bench", start_plan=plan)
    def check():
        screen = app.screen
        if isinstance(screen, RunScreen) and screen.finished:
            app.exit()
    async def watch():
        import asyncio
        while True:
            await asyncio.sleep(0.2)
            check()
    app.call_later(lambda: app.run_worker(watch()))
    app.run(headless=True)
    print(HWM())
""")

PLAN = (
    "id: bench\ntitle: Bench\nkind: drill\nsteps:\n"
    "  - {id: work, action: local.command, with: {argv: [sleep, 'SECONDS']}}\n"
    "  - {id: b, action: local.sleep, with: {seconds: 0.2}, needs: [work]}\n"
    "  - {id: c, wait: 0.1s, needs: [b]}\n  - {id: d, wait: 0.1s, needs: [c]}\n"
)


def _first_draw(command: str, text: str) -> float:
    base = ["tmux", "-L", f"bench-{uuid.uuid4().hex[:8]}"]
    start = time.perf_counter()
    subprocess.run(
        [
            *base,
            "new-session",
            "-d",
            "-s",
            "b",
            "-x",
            "80",
            "-y",
            "24",
            f"cd {shlex.quote(str(REPO))} && {command}; sleep 5",
        ],
        check=True,
    )
    try:
        while True:
            shown = subprocess.run(
                [*base, "capture-pane", "-p", "-t", "b"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            if text in shown:
                return time.perf_counter() - start
            if time.perf_counter() - start > 20:
                raise RuntimeError(f"{text!r} never appeared")
            time.sleep(0.01)
    finally:
        subprocess.run([*base, "kill-server"], capture_output=True, check=False)


def bench_first_screen(tmp: Path) -> dict[str, float]:
    minimal = tmp / "minimal.py"
    minimal.write_text(MINIMAL_APP)
    env = bench_env()
    py = "env -u PYTHONDONTWRITEBYTECODE PYTHONPYCACHEPREFIX={} {}".format(
        shlex.quote(env["PYTHONPYCACHEPREFIX"]), shlex.quote(sys.executable)
    )
    ours_cmd = f"{py} -m drconsole console --runs-dir {tmp / 'runs'} --plans {REPO / 'plans'}"
    ours = statistics.median(_first_draw(ours_cmd, "Recent runs") for _ in range(3))
    base = statistics.median(_first_draw(f"{py} {minimal}", "minimal ready") for _ in range(3))
    return {"ours_s": ours, "minimal_s": base, "ratio": ours / base}


async def _key_latency(tmp: Path, busy: bool) -> list[float]:
    from drconsole.tui.app import DrConsoleApp
    from drconsole.tui.run_screen import RunScreen

    plans = tmp / ("busy" if busy else "idle")
    plans.mkdir()
    plan = plans / "plan.yaml"
    plan.write_text(PLAN.replace("SECONDS", "30" if busy else "0"))
    app = DrConsoleApp(
        plan_dirs=[plans],
        runs_dir=tmp / "runs",
        targets_path=None,
        operator_name="bench",
        start_plan=plan,
    )
    samples = []
    async with app.run_test(size=(80, 24)) as pilot:
        while not isinstance(app.screen, RunScreen):
            await pilot.pause(0.05)
        screen = app.screen
        while busy and screen.engine.state.steps["work"].status.value != "running":
            await pilot.pause(0.05)
        while not busy and not screen.finished:
            await pilot.pause(0.05)
        from textual.widgets import DataTable

        screen.query_one("#steps", DataTable).move_cursor(row=1)
        await pilot.pause(0.1)
        # time from the key's arrival to the updated step view (the handler that repaints it),
        # read inside the app, so that the test harness's own waits are not counted
        shown: list[float] = []
        original = screen._show_detail

        def timed() -> None:
            original()
            shown.append(time.perf_counter())

        screen._show_detail = timed  # type: ignore[method-assign]
        for i in range(20):
            before = screen.selected
            start = time.perf_counter()
            await pilot.press("down" if i % 2 == 0 else "up")
            await pilot.pause()
            assert screen.selected != before
            samples.append(shown[-1] - start)
        if busy:
            screen.engine.interrupt("benchmark done")
            while not screen.finished:
                await pilot.pause(0.05)
    return samples


def bench_keys(tmp: Path) -> dict[str, float]:
    busy = statistics.median(asyncio.run(_key_latency(tmp, True)))
    idle = statistics.median(asyncio.run(_key_latency(tmp, False)))
    return {"busy_ms": busy * 1000, "idle_ms": idle * 1000, "ratio": busy / idle}


def bench_memory(tmp: Path) -> dict[str, float]:
    plans = tmp / "mem"
    plans.mkdir()
    plan = plans / "plan.yaml"
    plan.write_text(PLAN.replace("SECONDS", "1"))
    script = tmp / "console_run.py"
    script.write_text(CONSOLE_RUN)
    minimal = tmp / "minimal.py"
    minimal.write_text(MINIMAL_APP)

    def hwm(*argv: str) -> int:
        done = subprocess.run(
            [sys.executable, *argv],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
            env=bench_env(),
        )
        return int(done.stdout.split()[-1])

    # each twice, alternating, the second counted: the first compiles the modules' bytecode
    # (into the benchmark's cache), which an installed console does not do at every start
    ours = base = 0
    for _ in range(2):
        ours = hwm(str(script), str(plans), str(tmp / "mr"), str(plan))
        base = hwm(str(minimal), "--exit")
    return {"ours_mb": ours / 1024, "minimal_mb": base / 1024, "ratio": ours / base}


def bench_console() -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as raw:
        tmp = Path(raw)
        return {
            "first": bench_first_screen(tmp),
            "keys": bench_keys(tmp),
            "memory": bench_memory(tmp),
        }


if __name__ == "__main__":
    print(bench_console())
