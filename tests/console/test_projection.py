"""The run screen's projected finish, and what its log says when it moves: each cause named
with the step's id and title (and whom it waits for), driven through the console by keys on a
real engine and journal. The clock the journal stamps events with and the screen reads is
stopped and moved on by the test, for the minutes a person or a slow step takes. And under a
failed run on a sandbox that is off its baseline, the sandbox's hint."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from textual.widgets import RichLog

from drconsole.adapters.oscmd import free_port
from drconsole.journal import journal
from drconsole.timeutil import utcnow
from drconsole.tui import modals, run_screen
from drconsole.tui.app import DrConsoleApp
from drconsole.tui.run_screen import RunScreen
from tests.console.pilot import make_app, on, run, run_screen_of, setup, until

HEAD = "id: projection\ntitle: Projection\nkind: drill\nobjectives: {rto: 1h}\nsteps:\n"
THEN = "  - {id: restore, title: Restore, wait: 0s, estimate: 10m, needs: [FIRST]}\n"


@pytest.fixture
def wait(monkeypatch: pytest.MonkeyPatch) -> Callable[[timedelta], None]:
    """Stops the clock of the journal and the run screen; ``wait(t)`` moves it on by ``t``."""
    now = [utcnow()]
    for module in (journal, run_screen):
        monkeypatch.setattr(module, "utcnow", lambda: now[0])

    def on(by: timedelta) -> None:
        now[0] += by

    return on


def screen_of(app: DrConsoleApp) -> RunScreen:
    return run_screen_of(app)


def log_of(app: DrConsoleApp) -> list[str]:
    lines = screen_of(app).query_one("#journal-log", RichLog).lines
    return [line.text for line in lines]


def said(app: DrConsoleApp, words: str) -> Callable[[], bool]:
    return lambda: any(words in line for line in log_of(app))


def has_screen(app: DrConsoleApp) -> bool:
    return any(isinstance(s, RunScreen) for s in app.screen_stack)


def running(step_id: str) -> Callable[[DrConsoleApp], bool]:
    return lambda app: has_screen(app) and screen_of(app).run_state.steps[step_id].attempts > 0


def retrying(step_id: str) -> Callable[[DrConsoleApp], bool]:
    return lambda app: has_screen(app) and step_id in screen_of(app).retry_at


def asked(kind: type) -> Callable[[DrConsoleApp], bool]:
    return lambda app: on(app, kind)


LATER = [
    pytest.param(
        "  - {id: brief, title: Briefing, manual: Brief everyone., estimate: 1m}\n",
        asked(modals.ConfirmModal),
        "2m later: brief (Briefing) waits for tester (confirm)",
        id="a person's answer",
    ),
    pytest.param(
        "  - id: check\n    title: Check it\n    action: local.command\n"
        "    with: {argv: ['false']}\n    on_failure: ask\n    estimate: 1m\n",
        asked(modals.ChoiceModal),
        "2m later: check (Check it) failed, tester to decide",
        id="a decision after a failure",
    ),
    pytest.param(
        "  - id: probe\n    title: Probe it\n    check: local.http_check\n"
        "    with: {url: 'http://127.0.0.1:PORT/health', timeout_s: 1}\n"
        "    retry: {attempts: 2, delay: 30s}\n    estimate: 1m\n",
        retrying("probe"),
        "2m later: probe (Probe it) attempt 1 failed, retrying",
        id="a retry",
    ),
    pytest.param(
        "  - {id: soak, title: Settle, wait: 30s}\n",
        running("soak"),
        "3m later: soak (Settle) running 3m00s, no estimate",
        id="a step without an estimate",
    ),
]


@pytest.mark.parametrize(("first", "waiting", "expected"), LATER)
def test_a_later_finish_names_what_the_run_waits_for(
    tmp_path: Path,
    wait: Callable[[timedelta], None],
    first: str,
    waiting: Callable[[DrConsoleApp], bool],
    expected: str,
) -> None:
    """Before: 'the steps left take longer than estimated', or 'brief running past its
    estimate' for a step that waited for a person."""
    step_id = re.findall(r"id: (\w+)", first)[0]
    text = HEAD + first.replace("PORT", str(free_port())) + THEN.replace("FIRST", step_id)
    plans, plan, targets = setup(tmp_path, text)

    async def scenario() -> None:
        app = make_app(tmp_path, plans, targets, start_plan=plan)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: waiting(app))
            wait(timedelta(minutes=3))
            await until(pilot, said(app, "later: "), within_s=5)
            (line,) = [line for line in log_of(app) if "finish ≈" in line]
            assert line.endswith(expected)
            assert len(line) <= 80
            screen_of(app).engine.abort("the test is over")
            await until(pilot, lambda: screen_of(app).finished)

    run(scenario())


def test_a_long_wait_for_a_person_is_said_again_only_every_five_minutes(
    tmp_path: Path, wait: Callable[[timedelta], None]
) -> None:
    """A finish held up by the same person slides a minute with every minute they take; the
    log says so once, then again only when it has slid five minutes more (before: a line a
    minute, which filled the log of an 80x24 screen during one slow answer)."""
    first = "  - {id: brief, title: Briefing, manual: Brief everyone., estimate: 1m}\n"
    plans, plan, targets = setup(tmp_path, HEAD + first + THEN.replace("FIRST", "brief"))

    def lines(app: DrConsoleApp) -> list[str]:
        return [line for line in log_of(app) if "finish ≈" in line]

    async def scenario() -> None:
        app = make_app(tmp_path, plans, targets, start_plan=plan)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: on(app, modals.ConfirmModal))
            wait(timedelta(minutes=2))
            await until(pilot, said(app, "later: "), within_s=5)
            assert len(lines(app)) == 1
            for _ in range(4):  # 4 more minutes, a minute at a time: nothing new
                wait(timedelta(minutes=1))
                await pilot.pause(1.1)
            assert len(lines(app)) == 1
            wait(timedelta(minutes=2))  # 6 more in all
            await until(pilot, lambda: len(lines(app)) == 2, within_s=5)
            assert lines(app)[1].endswith("6m later: brief (Briefing) waits for tester (confirm)")
            screen_of(app).engine.abort("the test is over")
            await until(pilot, lambda: screen_of(app).finished)

    run(scenario())


def test_a_step_over_its_estimate_moves_the_finish_later_and_not_back(
    tmp_path: Path, wait: Callable[[timedelta], None]
) -> None:
    """While a step keeps to its estimate the finish holds still; past it the finish moves on
    with the clock, said once it has moved a minute in all; when the step ends late, nothing
    says 'sooner'. Before: each move was measured from the last second's, so a finish that
    slid for minutes never said so, and the late step's end read 'steps finished sooner than
    their estimates'."""
    plans, plan, targets = setup(
        tmp_path,
        HEAD + "  - {id: db, title: Slow restore of the database, wait: 10s, estimate: 1m}\n"
        "  - {id: brief, title: Brief, manual: Brief everyone., estimate: 1m, needs: [db]}\n",
    )

    async def scenario() -> None:
        app = make_app(tmp_path, plans, targets, start_plan=plan)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: running("db")(app))
            for _ in range(2):  # 40s within its estimate, then 20s past it: not a minute
                wait(timedelta(seconds=40))
                await pilot.pause(1.1)
            assert not any("finish ≈" in line for line in log_of(app))
            wait(timedelta(seconds=45))  # 65s past it
            await until(pilot, said(app, "later: "), within_s=5)
            (line,) = [line for line in log_of(app) if "finish ≈" in line]
            assert "1m later: db (Slow rest…) running 2m05s, estimate 1m00s" in line
            assert len(line) == 80  # the title was cut to fit
            await until(pilot, lambda: on(app, modals.ConfirmModal), within_s=15)
            await pilot.pause(1.1)
            assert [line for line in log_of(app) if "finish ≈" in line] == [line]
            await pilot.press("y")
            await until(pilot, lambda: screen_of(app).finished)

    run(scenario())


def test_a_sooner_finish_names_the_step_that_ended_early(tmp_path: Path) -> None:
    plans, plan, targets = setup(
        tmp_path,
        HEAD + "  - {id: quick, title: Quick, wait: 0s, estimate: 10m}\n"
        "  - {id: skip, title: Only on Sundays, wait: 0s, estimate: 2m, when: 'false'}\n"
        "  - {id: brief, manual: Brief everyone., estimate: 1m, needs: [quick, skip]}\n",
    )

    async def scenario() -> None:
        app = make_app(tmp_path, plans, targets, start_plan=plan)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: on(app, modals.ConfirmModal))
            await until(pilot, said(app, "sooner: "), within_s=5)
            (line,) = [line for line in log_of(app) if "finish ≈" in line]
            assert "10m sooner: quick (Quick) took " in line
            assert line.endswith(" of 10m00s (+1 more)")
            assert len(line) <= 80
            await pilot.press("y")
            await until(pilot, lambda: screen_of(app).finished)

    run(scenario())


@pytest.mark.parametrize("on_sandbox", [True, False], ids=["sandbox", "not a sandbox"])
def test_a_failed_run_on_a_sandbox_off_its_baseline_says_so(
    tmp_path: Path, on_sandbox: bool
) -> None:
    """The sandbox's own state file with its primary's port closed: the baseline check reads
    it in a TCP connect, no sandbox needs to run."""
    plans, plan, targets = setup(
        tmp_path,
        HEAD + "  - {id: fail, title: Fail, action: local.command, with: {argv: ['false']}}\n",
    )
    if on_sandbox:
        root = tmp_path / "sbx"
        root.mkdir()
        state = {"root": str(root), "os_user": "postgres", "primary_port": free_port(),
                 "standby_port": free_port(), "created_at": 0.0}  # fmt: skip
        (root / "sandbox.json").write_text(json.dumps(state))
        targets = root / "targets.yaml"
        targets.write_text(yaml.safe_dump({"sites": {"primary": {"drill": True}}}))

    async def scenario() -> None:
        app = make_app(tmp_path, plans, targets, start_plan=plan)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: has_screen(app) and screen_of(app).finished)
            if on_sandbox:  # the baseline check runs in a thread once the run has ended
                await until(pilot, said(app, "SANDBOX  "), within_s=10)
            else:
                await pilot.pause(0.5)
            log = "\n".join(log_of(app))
            assert "RUN FINISHED FAILED" in log
            if on_sandbox:
                assert (
                    "SANDBOX  The sandbox is not at its baseline: the primary database does "
                    "not answer"
                ) in log
                assert f"drconsole sandbox reset --dir {tmp_path / 'sbx'}" in log
            else:
                assert "SANDBOX" not in log

    run(scenario())


def test_a_plan_without_objectives_shows_its_time_not_rto_and_rpo(tmp_path: Path) -> None:
    """A ceremony or a check sets no RTO or RPO: its clock line says how long it has run,
    not 'RTO ... (no objective set): no service_restored │ RPO - ...: not measured'."""
    text = HEAD.replace("objectives: {rto: 1h}\n", "") + (
        "  - {id: brief, title: Briefing, manual: Brief everyone., estimate: 1m}\n"
    )
    plans, plan, targets = setup(tmp_path, text)

    async def scenario() -> None:
        app = make_app(tmp_path, plans, targets, start_plan=plan)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: on(app, modals.ConfirmModal))
            await pilot.press("y")
            await until(pilot, lambda: screen_of(app).finished)
            clocks = str(screen_of(app).query_one("#run-clocks").render())
            assert clocks.startswith("Elapsed ")
            assert "(no RTO or RPO objective)" in clocks
            assert "│" not in clocks
            assert "service_restored" not in clocks

    run(scenario())
