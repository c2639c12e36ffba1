"""The HTML report: one self-contained page with the timeline as an SVG Gantt chart, opened in
headless Chromium (Debian's ``chromium``) with no network at all (``unshare -n``) and its net
log read: the page asks for nothing. The timeline has one bar per step that started; the
screenshot is kept in the test's directory (its path is printed). The timeline's arithmetic
(waits for people, time in systems, the critical path) is checked on a journal with known
times."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from drconsole.journal.journal import GENESIS, _seal
from drconsole.report.timeline import timeline
from drconsole.runs.read import read_run
from tests.conftest import Cli
from tests.unit.test_ceremony import answers
from tests.unit.test_cli_report import hello_run
from tests.unit.test_report_truth import ceremony_run

CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--hide-scrollbars"]  # fmt: skip
# What could make a page load something: attributes naming another resource, CSS imports and
# url() other than a fragment of the page itself, scripts, links, frames.
LOADS = re.compile(
    r"""(\b(src|href|srcset|data|action|poster|xlink:href)\s*=)|@import|url\(\s*['"]?(?!#)"""
    r"""|<script|<link|<iframe|<object|<embed""",
    re.IGNORECASE,
)


def chromium(page: Path, tmp: Path, *args: str) -> tuple[str, set[str]]:
    """Open ``page`` in headless Chromium in a namespace with no network; return what it
    printed and the URLs the page itself asked for (the browser's own housekeeping requests,
    whose initiator is 'not an origin', are left out)."""
    if shutil.which("chromium") is None:
        pytest.fail("chromium is not installed: make system-packages (Debian's chromium)")
    netlog = tmp / f"{page.stem}.netlog.json"
    done = subprocess.run(
        ["unshare", "-n", *CHROMIUM, f"--user-data-dir={tmp / 'profile'}",
         f"--log-net-log={netlog}", *args, page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    events = json.loads(netlog.read_text())["events"]
    asked = {
        e["params"]["url"]
        for e in events
        if "url" in e.get("params", {})
        and e["params"].get("initiator", "not an origin") != "not an origin"
    }
    return done.stdout, asked


def html_of(cli: Cli, run_dir: Path, out: Path) -> str:
    result = cli("report", run_dir, "--format", "html", "--output", out)
    assert result.code == 0, result.err
    return out.read_text("utf-8")


def test_the_net_log_sees_what_a_page_asks_for(tmp_path: Path) -> None:
    """The detector itself: a page with one remote image is caught asking for it."""
    page = tmp_path / "control.html"
    page.write_text("<html><body><img src='http://example.invalid/x.png'>hi</body></html>")
    _, asked = chromium(page, tmp_path, "--dump-dom")
    assert asked == {"http://example.invalid/x.png"}
    assert LOADS.search(page.read_text())


@pytest.mark.parametrize("kind", ["hello-drill", "ceremony"])
def test_the_html_report_renders_offline_with_a_bar_per_step_that_ran(
    cli: Cli, tmp_path: Path, backup_file: Path, kind: str
) -> None:
    if kind == "hello-drill":
        run_dir = hello_run(cli, tmp_path, backup_file)
    else:
        run_dir = ceremony_run(cli, tmp_path, answers())
    page = tmp_path / "report.html"
    text = html_of(cli, run_dir, page)
    assert not LOADS.search(text), LOADS.search(text)
    dom, asked = chromium(page, tmp_path, "--dump-dom")
    assert asked == set()
    ran = {e.data["step"] for e in read_run(run_dir).events if e.type == "step_started"}
    bars = re.findall(r'<rect class="bar[^"]*" data-step="([^"]+)"', dom)
    assert sorted(bars) == sorted(ran)
    assert ran
    assert "Verified" in dom
    assert "yes: every line hashes and chains" in dom
    assert read_run(run_dir).check.final_hash in dom
    assert "Waiting for people" in dom
    assert "Critical path:" in dom
    if kind == "ceremony":
        assert "Jung Ra" in dom
        assert "security_officer" in dom
        assert "Participants (signed in)" in dom
    shot = tmp_path / f"report-{kind}.png"
    chromium(page, tmp_path, f"--screenshot={shot}", "--window-size=1240,1754")
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")


def _journal(run_dir: Path, events: list[tuple[float, str, dict[str, Any]]]) -> None:
    """A journal whose events happen at the given seconds after 03:00:00 (hash-chained)."""
    run_dir.mkdir()
    prev, lines = GENESIS, []
    for seq, (at, kind, data) in enumerate(events, start=1):
        ts = f"2026-11-26T03:{int(at) // 60:02d}:{at % 60:09.6f}Z"
        body = {"seq": seq, "ts": ts, "mono": at, "type": kind, "data": data, "prev": prev}
        line, prev = _seal(body)
        lines.append(line)
    (run_dir / "journal.jsonl").write_text("".join(lines))
    (run_dir / "plan.yaml").write_text(
        "id: t\ntitle: T\nkind: drill\nsteps:\n"
        "  - {id: a, manual: do it}\n"
        "  - {id: b, action: local.sleep, with: {seconds: 1}, needs: [a]}\n"
        "  - {id: c, action: local.sleep, with: {seconds: 1}, needs: [a]}\n"
        "  - {id: d, approval: {signers: 1}, needs: [b, c]}\n"
    )


def test_the_timeline_splits_people_from_systems_and_finds_the_critical_path(
    tmp_path: Path,
) -> None:
    start = {"run_id": "r", "plan": {"id": "t", "title": "T"}, "mode": "drill", "operator": "o",
             "inputs": {}, "incident_at": "2026-11-26T03:00:00Z", "objectives": {"rto_s": 100},
             "steps": ["a", "b", "c", "d", "e"]}  # fmt: skip
    ok = {"status": "succeeded", "outputs": {}, "attempts": 1}
    _journal(
        tmp_path / "run",
        [
            (0, "run_started", start),
            (0, "step_started", {"step": "a", "attempt": 1}),
            (30, "operator_answer", {"step": "a", "question": "confirm", "answer": "done", "by": "o"}),
            (30, "step_finished", {"step": "a", **ok}),
            (30, "step_started", {"step": "b", "attempt": 1}),
            (30, "step_started", {"step": "c", "attempt": 1}),
            (35, "attempt_failed", {"step": "c", "attempt": 1, "error": "refused", "retry_in_s": 1}),
            (40, "step_finished", {"step": "b", **ok}),
            (50, "step_finished", {"step": "c", **ok, "attempts": 2}),
            (50, "step_started", {"step": "d", "attempt": 1}),
            (55, "question_asked", {"step": "d", "question": "sign-off", "who": "2 signers"}),
            (60, "refused", {"step": "d", "question": "sign-off", "reason": "one name", "by": "o"}),
            (60, "question_asked", {"step": "d", "question": "sign-off", "who": "2 signers"}),
            (70, "operator_answer", {"step": "d", "question": "sign-off", "answer": [], "by": "o"}),
            (70, "step_finished", {"step": "d", **ok}),
            (70, "step_finished", {"step": "e", "status": "skipped", "reason": "when is false"}),
            (70, "run_finished", {"result": "succeeded", "reason": "done"}),
        ],
    )  # fmt: skip
    tl = timeline(read_run(tmp_path / "run"))
    bars = {b.step: b for b in tl.bars}
    assert list(bars) == ["a", "b", "c", "d"]
    assert tl.not_run == ["e"]
    assert (bars["a"].people_s, bars["a"].systems_s) == (30, 0)
    # asked at 55, refused at 60, asked again, answered at 70: 5 s before the question was put
    assert (bars["d"].people_s, bars["d"].systems_s) == (15, 5)
    assert bars["c"].retries == [(35, "refused")]
    assert bars["c"].attempts == 2
    assert (tl.people_s, tl.systems_s, tl.end) == (45, 25, 70)  # b and c overlap: counted once
    assert [b.step for b in tl.critical] == ["a", "c", "d"]  # c, not b, held d back
    assert tl.rto_deadline == 100


def test_the_console_report_screen_exports_the_html_page_too(
    cli: Cli, tmp_path: Path, backup_file: Path
) -> None:
    import asyncio

    from drconsole.tui.app import DrConsoleApp
    from drconsole.tui.report_screen import ReportScreen
    from tests.console.pilot import until

    run_dir = hello_run(cli, tmp_path, backup_file)
    app = DrConsoleApp(
        plan_dirs=[], runs_dir=tmp_path / "runs", targets_path=None, operator_name="tester"
    )

    async def scenario() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.3)
            app.push_screen(ReportScreen(run_dir))
            await until(pilot, lambda: isinstance(app.screen, ReportScreen))
            await pilot.press("e")
            await until(pilot, lambda: (run_dir / "report.html").exists())

    asyncio.run(scenario())
    page = (run_dir / "report.html").read_text("utf-8")
    assert page.startswith("<!doctype html>")
    assert 'class="bar' in page or "class='bar" in page
    assert not LOADS.search(page)
    assert (run_dir / "report.html").stat().st_mode & 0o777 == 0o600
