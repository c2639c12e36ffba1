"""Watchers: a run driven in another process, followed read-only from its journal (inotify and
polling), with the driver's questions shown and never answered, and the driver's death said."""

from __future__ import annotations

import asyncio
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Static

from drconsole.journal.journal import JournalWriter, read_events
from drconsole.runs.follow import Follower, driver
from drconsole.runs.lock import RunLock
from drconsole.runs.state import StepStatus, replay
from drconsole.timeutil import parse_timestamp, utcnow
from drconsole.tui.run_screen import STATUS_WORDS
from drconsole.tui.watch_screen import WatchApp, WatchScreen
from tests.conftest import REPO, Cli, kill_run, start_run
from tests.console.test_console_tmux import keys, tmux, wait_for  # noqa: F401 (tmux: a fixture)

STEPS = ["one", "two", "three", "four"]
PLAN = (
    "id: watched\ntitle: Watched drill\nkind: drill\nobjectives: {rto: 5m}\nsteps:\n"
    "  - {id: one, wait: 0.6s}\n"
    "  - {id: two, wait: 0.6s, needs: [one]}\n"
    "  - {id: three, wait: 0.6s, needs: [two]}\n"
    "  - {id: four, wait: 0.6s, needs: [three]}\n"
    "  - {id: done, milestone: service_restored, needs: [four]}\n"
)


def status_of(screen: WatchScreen) -> str:
    return str(screen.query_one("#watch-status", Static).render())


async def until(pilot: object, check: Callable[[], bool], within_s: float = 10) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the watcher never showed it")
        await asyncio.sleep(0.05)


async def watch_screen(app: WatchApp) -> WatchScreen:
    await until(None, lambda: isinstance(app.screen, WatchScreen))
    assert isinstance(app.screen, WatchScreen)
    return app.screen


@pytest.mark.parametrize("poll", [False, True], ids=["inotify", "polling"])
def test_a_watcher_shows_each_step_within_a_second_of_its_event(tmp_path: Path, poll: bool) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    runs = tmp_path / "runs"
    proc, run_dir = start_run(
        [str(plan), "--headless", "--runs-dir", str(runs), "--operator", "kim"], step="one"
    )
    seen: dict[tuple[str, str], datetime] = {}

    async def go() -> datetime:
        app = WatchApp(runs, run_dir, poll=poll)
        async with app.run_test(size=(100, 30)):
            screen = await watch_screen(app)
            attached = utcnow()
            assert screen.follower.uses_inotify is not poll
            assert "Driven by kim on host" in status_of(screen)
            assert "WATCHING (read-only)" in str(screen.query_one("#run-title", Static).render())
            table = screen.query_one("#steps", DataTable)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                finished = screen.finished  # then one more look at what the last read showed
                now = utcnow()
                for step in STEPS:
                    seen.setdefault((step, str(table.get_cell(step, "status"))), now)
                if finished:
                    break
                await asyncio.sleep(0.02)
            assert screen.finished, status_of(screen)
            assert "The run has FINISHED: SUCCEEDED" in status_of(screen)
            log = "\n".join(str(line) for line in screen.query_one("#journal-log").lines)
            assert "RUN FINISHED SUCCEEDED" in log
            return attached

    try:
        attached = asyncio.run(go())
    finally:
        proc.wait(timeout=30)
    checked = 0
    for event in read_events(run_dir):
        if event.type not in ("step_started", "step_finished") or event.data["step"] not in STEPS:
            continue
        at = parse_timestamp(event.ts)
        if at < attached:
            continue  # before the watcher came: it was drawn from the backlog
        status = StepStatus.RUNNING if event.type == "step_started" else event.data["status"]
        shown = seen.get((event.data["step"], STATUS_WORDS[StepStatus(status)]))
        assert shown is not None, (event, seen)
        assert (shown - at).total_seconds() < 1.0, (event, shown)
        checked += 1
    assert checked >= 5  # most of the run happened while it watched


def start_long_run(tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    """A headless run by kim of one minute-long step, in another process; it has started."""
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "id: long\ntitle: Long\nkind: drill\nobjectives: {rto: 5m}\nsteps:\n"
        "  - {id: soak, wait: 60s}\n"
    )
    runs = tmp_path / "runs"
    return start_run(
        [str(plan), "--headless", "--runs-dir", str(runs), "--operator", "kim"], step="soak"
    )


@pytest.mark.parametrize("poll", [False, True], ids=["inotify", "polling"])
def test_a_watcher_says_when_the_driver_is_killed(tmp_path: Path, poll: bool) -> None:
    proc, run_dir = start_long_run(tmp_path)
    runs = run_dir.parent

    async def go() -> None:
        app = WatchApp(runs, run_dir, poll=poll)
        async with app.run_test(size=(80, 24)):
            screen = await watch_screen(app)
            assert f"Driven by kim on host {os.uname().nodename}, pid {proc.pid}" in status_of(
                screen
            )
            killed = time.monotonic()
            kill_run(proc)
            await until(None, lambda: "The driver has STOPPED" in status_of(screen), 5)
            assert time.monotonic() - killed < 2.5
            text = status_of(screen)
            assert "ended without a word" in text
            # what to do comes first: the panel shows its first lines only, at 80x24
            assert text.startswith(f"The driver has STOPPED. Resume it: drconsole resume {run_dir}")
            # it stays attached: a resume elsewhere would show up (nothing was written)
            assert not screen.finished

    try:
        asyncio.run(go())
    finally:
        if proc.poll() is None:
            kill_run(proc)


def test_a_pending_question_is_shown_and_cannot_be_answered_by_a_watcher(
    tmux: list[str],  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    """The driver is the console in a real terminal (tmux), asking a manual step's question;
    the watcher shows it and whom it asks, and no key of the watcher answers it."""
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "id: asks\ntitle: Asks\nkind: drill\nobjectives: {rto: 5m}\nsteps:\n"
        "  - {id: brief, manual: Brief everyone.}\n"
        "  - {id: done, milestone: service_restored, needs: [brief]}\n"
    )
    runs = tmp_path / "runs"
    command = shlex.join(
        [sys.executable, "-m", "drconsole", "run", str(plan), "--runs-dir", str(runs)]
        + ["--operator", "driver-kim"]
    )
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", "dc", "-x", "80", "-y", "24"]
        + [f"cd {shlex.quote(str(REPO))} && {command}; sleep 30"],
        check=True,
    )
    wait_for(tmux, "y: Yes, done")
    [run_dir] = list(runs.iterdir())

    async def go() -> None:
        app = WatchApp(runs, run_dir)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await watch_screen(app)
            assert "WAITING for driver-kim: brief: confirm" in status_of(screen)
            assert "answered at the driver's console, not here" in status_of(screen)
            before = len(list(read_events(run_dir)))
            await pilot.press("y", "enter", "a", "space")
            await pilot.pause(0.5)
            assert app.screen is screen  # no question opened here
            assert len(list(read_events(run_dir))) == before  # nothing was answered or written
            keys(tmux, "y")  # the driver answers
            await until(pilot, lambda: screen.finished)
            assert "WAITING" not in status_of(screen)
            table = screen.query_one("#steps", DataTable)
            assert str(table.get_cell("brief", "status")) == STATUS_WORDS[StepStatus.SUCCEEDED]

    asyncio.run(go())
    answers = [e.data for e in read_events(run_dir) if e.type == "operator_answer"]
    assert [(a["step"], a["by"]) for a in answers] == [("brief", "driver-kim")]


def test_home_opens_a_running_run_in_watch_mode(tmp_path: Path) -> None:
    from drconsole.tui.app import DrConsoleApp
    from drconsole.tui.run_screen import RunScreen

    proc, run_dir = start_long_run(tmp_path)
    runs = run_dir.parent

    async def go() -> None:
        app = DrConsoleApp(
            plan_dirs=[], runs_dir=runs, targets_path=None, operator_name="someone-else"
        )
        async with app.run_test(size=(80, 24)) as pilot:
            table = app.screen.query_one("#runs", DataTable)
            await until(pilot, lambda: table.row_count == 1)
            await until(pilot, lambda: str(table.get_cell(str(run_dir), "result")) == "running")
            table.focus()
            await pilot.press("enter")
            screen = await watch_screen(app)  # type: ignore[arg-type]
            assert not any(isinstance(s, RunScreen) for s in app.screen_stack)
            assert "Driven by kim" in status_of(screen)

    try:
        asyncio.run(go())
    finally:
        kill_run(proc)
    # the watcher never became a driver: nothing but the driver's events
    assert {e.data.get("operator") for e in read_events(run_dir) if "operator" in e.data} == {"kim"}


# ----------------------------------------------------------------------------- the follower
def test_the_follower_waits_for_a_line_being_written_and_reads_it_whole(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    writer = JournalWriter.create(run_dir)
    writer.append("run_interrupted", {"reason": "first"})
    with Follower(run_dir) as follower:
        assert [e.data["reason"] for e in follower.read()] == ["first"]
        line = (run_dir / "journal.jsonl").read_bytes().splitlines(keepends=True)[0]
        with (run_dir / "journal.jsonl").open("ab") as handle:
            handle.write(line[:20])  # a line still being written
        start = time.monotonic()
        follower.wait(2.0)
        assert time.monotonic() - start < 1.0  # inotify woke it
        assert follower.read() == []  # the torn part is not an event yet
        with (run_dir / "journal.jsonl").open("ab") as handle:
            handle.write(line[20:])
        assert [e.data["reason"] for e in follower.read()] == ["first"]
    writer.close()


def test_the_follower_reads_a_repair_written_over_a_torn_line(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    writer = JournalWriter.create(run_dir)
    writer.append("run_interrupted", {"reason": "first"})
    writer.close()
    with (run_dir / "journal.jsonl").open("ab") as handle:
        handle.write(b'{"data":{"reason":"cut')  # the driver died mid-line
    with Follower(run_dir, poll=True) as follower:
        assert len(follower.read()) == 1
        assert follower.read() == []
        JournalWriter.reopen(run_dir).close()  # a resume repairs it in place
        later = follower.read()
        assert [e.type for e in later] == ["journal_repaired"]
        assert replay(read_events(run_dir)).events == 2


def test_the_driver_is_known_from_the_lock_without_touching_it(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    assert driver(run_dir).driving is False
    lock = RunLock.acquire(run_dir, "kim")
    now = driver(run_dir)
    assert now.driving
    assert now.holder is not None
    assert now.holder.pid == os.getpid()
    assert now.describe().startswith("driven by kim on host")
    lock.release()
    now = driver(run_dir)
    assert not now.driving
    assert now.describe().startswith("last driven by kim")
    RunLock.acquire(run_dir, "lee").release()  # watchers never held it: a driver can take it


def test_watch_refuses_what_is_not_a_run_and_needs_a_terminal(cli: Cli, tmp_path: Path) -> None:
    result = cli("watch", str(tmp_path))
    assert result.code == 2
    assert "is not a run directory" in result.err
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    JournalWriter.create(run_dir).close()
    result = cli("watch", str(run_dir))
    assert result.code == 2
    assert "needs a terminal" in result.err
    assert "Traceback" not in result.err


def watch_finished(
    tmp_path: Path, cli: Cli, text: str, check: Callable[[Any, WatchScreen], Awaitable[None]]
) -> None:
    """Run the plan ``text`` headless to its end, then ``check`` a watcher of it (80x24)."""
    plan = tmp_path / "plan.yaml"
    plan.write_text(text)
    run_dir = cli.run(plan).run_dir

    async def go() -> None:
        app = WatchApp(cli.runs, run_dir, poll=True)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await watch_screen(app)
            await pilot.pause(0.5)
            await check(pilot, screen)

    asyncio.run(go())


def test_a_watcher_keeps_following_after_a_batch_of_steps(tmp_path: Path, cli: Cli) -> None:
    """A watcher that reads several step starts at once (joining late, or one read of a fast
    run) still follows: each start moved the cursor, and the highlights that came after the
    batch were taken for the person's own arrow keys (on the failover walk the watcher stayed on
    'declare' for the whole run)."""

    async def check(pilot: Any, screen: WatchScreen) -> None:
        assert screen.following, "the watcher stopped following without a key pressed"
        assert screen.selected == "done"  # the last step that started
        await pilot.press("up")  # the person looks elsewhere: following stops
        await pilot.pause(0.1)
        assert not screen.following
        assert screen.selected == "four"

    watch_finished(tmp_path, cli, PLAN.replace("0.6s", "0s"), check)


def test_the_detail_shows_the_followed_steps_own_guidance(tmp_path: Path, cli: Cli) -> None:
    """The guidance under a step's name is that step's, however fast the steps went by: a
    watcher of the failover showed 'Notify stakeholders' over the first step's guidance (a
    Markdown mounted with one text and updated before it was mounted shows the first text,
    and updates that overlap leave the older one)."""
    text = (
        "id: guided\ntitle: Guided\nkind: drill\nsteps:\n"
        "  - {id: one, wait: 0s, guidance: FIRSTGUIDANCE}\n"
        "  - {id: two, wait: 0s, guidance: SECONDGUIDANCE, needs: [one]}\n"
        "  - {id: three, wait: 0s, needs: [two]}\n"
        "  - {id: four, wait: 0s, guidance: LASTGUIDANCE, needs: [three]}\n"
    )
    guidance = ("FIRSTGUIDANCE", "SECONDGUIDANCE", "LASTGUIDANCE")

    async def check(pilot: Any, screen: WatchScreen) -> None:
        assert screen.selected == "four"
        shown = pilot.app.export_screenshot()
        assert [g for g in guidance if g in shown] == ["LASTGUIDANCE"]
        await pilot.press("up")  # three has no guidance: none is shown
        await pilot.pause(0.5)
        shown = pilot.app.export_screenshot()
        assert not any(g in shown for g in guidance)

    watch_finished(tmp_path, cli, text, check)
