"""What the sandbox's background programs share (the writer, the Vault snapshot schedule): a
stop asked by SIGTERM or SIGINT, and a task run every so many seconds until then, each run's
one-line result logged with its UTC time."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from types import FrameType


class StopSignal:
    """``requested`` turns true on SIGTERM or SIGINT."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGTERM, self._set)
        signal.signal(signal.SIGINT, self._set)

    def _set(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True


def next_due(now: float, seconds: float, after_boundary_s: float | None) -> float:
    """When the next run is due (``time.time()`` seconds): one interval from ``now``; or, with
    ``after_boundary_s``, that long after the next wall-clock multiple of ``seconds`` (a task
    about periods that end on the clock, such as each minute's audit log)."""
    if after_boundary_s is None:
        return now + seconds
    due = (now - after_boundary_s) // seconds * seconds + seconds + after_boundary_s
    return due if due > now else due + seconds


def every(seconds: float, task: Callable[[], str], after_boundary_s: float | None = None) -> int:
    """Run ``task`` every ``seconds`` (the first after one interval, or with
    ``after_boundary_s`` that long after each period of the clock ends) until stopped; print
    what each run says. A task reports its own failures in what it returns."""

    def due_in() -> float:  # the wall clock places the boundary; the wait is monotonic
        now = time.time()
        return time.monotonic() + next_due(now, seconds, after_boundary_s) - now

    stop = StopSignal()
    due = due_in()
    while not stop.requested:
        if time.monotonic() < due:
            time.sleep(0.2)
            continue
        due = due_in()
        try:  # one failed run is said and the schedule goes on (a drill may have caused it)
            said = task().replace("\n", "; ")
        except Exception as exc:
            said = f"failed: {type(exc).__name__}: {exc}"
        print(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {said}", flush=True)
    return 0
