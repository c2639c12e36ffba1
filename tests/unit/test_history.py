"""History over real runs of mixed results: per plan every run with mode, result, RTO against
the objective and who ran it; the trend; the guide's schedule (a run of the daily check's plan
id meets that duty, and three days on it is overdue); the index answers from its cache and is
never stale (an edited journal is read and verified again); the console's text fits 80
columns."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from drconsole.report import history, index
from drconsole.timeutil import parse_timestamp
from drconsole.tui.history_screen import history_text
from tests.conftest import REPO, Cli
from tests.unit.test_cli_report import ANSWERS


def _runs(cli: Cli, tmp_path: Path, backup_file: Path) -> Path:
    """Six runs: three hello drills that succeed (one as op-2), one that fails its checksum,
    one dry run, and one run of a tiny plan that carries the daily check's id."""
    runs = tmp_path / "runs"
    answers = tmp_path / "answers.yaml"
    broken = tmp_path / "broken.dump"
    broken.write_bytes(b"x")
    (tmp_path / "broken.dump.sha256").write_text("0" * 64 + "  broken.dump\n")
    hello = REPO / "plans" / "hello-drill.yaml"
    for operator, file, mode in (
        ("op-1", backup_file, "drill"),
        ("op-2", backup_file, "drill"),
        ("op-1", broken, "drill"),
        ("op-1", backup_file, "drill"),
        ("op-1", backup_file, "dry-run"),
    ):
        answers.write_text(yaml.safe_dump({**ANSWERS, "operator": operator}))
        cli.run(hello, "--input", f"file={file}", "--yes", answers=answers, runs=runs, mode=mode)
    daily = tmp_path / "daily.yaml"
    daily.write_text("id: daily-backup-check\ntitle: Daily backup check\nkind: verification\n"
                     "steps:\n  - {id: look, action: local.sleep, with: {seconds: 0}}\n")  # fmt: skip
    assert cli.run(daily, runs=runs).code == 0
    return runs


def test_history_lists_every_run_with_the_trend_and_the_schedule(
    cli: Cli, tmp_path: Path, backup_file: Path
) -> None:
    runs = _runs(cli, tmp_path, backup_file)
    result = cli("history", "--runs-dir", runs, "--format", "json")
    assert result.code == 0, result.err
    found = json.loads(result.out)
    assert found["count"] == 6
    plans = {p["plan"]: p for p in found["plans"]}
    hello = plans["hello-drill"]["runs"]
    assert [r["result"] for r in hello].count("succeeded") == 4  # the dry run succeeds too
    assert [(r["mode"], r["result"]) for r in hello].count(("drill", "failed")) == 1
    assert {r["operator"] for r in hello} == {"op-1", "op-2"}
    assert all(r["journal"]["intact"] for r in hello)
    assert plans["hello-drill"]["trend"]["drills"] == 3  # measured: drills that restored service
    assert plans["hello-drill"]["trend"]["says"].startswith(("steady", "getting"))
    duties = {d["plan"]: d for d in found["schedule"]}
    assert duties["daily-backup-check"]["state"] == "ok"
    assert duties["quarterly-full-dr-drill"]["state"] == "never done"

    md = cli("history", "hello-drill", "--runs-dir", runs).out
    assert "| drill | failed |" in md
    assert "/ 10m00s met |" in md
    assert "op-2" in md
    assert "objective 10m00s" in md
    assert "│" in md
    later = parse_timestamp(found["generated_at"]) + timedelta(days=3)
    due = history.history(runs, "daily-backup-check", now=later)["schedule"]
    assert due[0]["state"] == "overdue"
    assert "OVERDUE by 2d" in due[0]["says"]
    html = cli("history", "--runs-dir", runs, "--format", "html").out
    assert "<h2>Hello drill (hello-drill)</h2>" in html
    assert "http" not in html
    screen = history_text(found, width=78)
    assert max(len(line) for line in screen.splitlines()) <= 80
    assert "met" in screen
    assert "│" in screen


def test_the_index_answers_from_cache_and_re_reads_a_changed_journal(
    cli: Cli,
    tmp_path: Path,
    backup_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs = _runs(cli, tmp_path, backup_file)
    assert len(index.load(runs)) == 6
    read: list[str] = []
    real = index.summarise

    def counting(run_dir: Path) -> dict[str, object]:
        read.append(run_dir.name)
        return real(run_dir)

    monkeypatch.setattr(index, "summarise", counting)
    assert len(index.load(runs)) == 6
    assert read == []
    victim = sorted(runs.iterdir())[0]
    journal = victim / "journal.jsonl"
    text = journal.read_text()
    journal.write_text(text.replace('"operator":"op-1"', '"operator":"op-9"', 1))
    again = {r["name"]: r for r in index.load(runs)}
    assert read == [victim.name]
    assert again[victim.name]["journal"]["intact"] is False
    md = cli("history", "--runs-dir", runs).out
    assert "JOURNAL BROKEN" in md


def test_history_refuses_a_date_it_cannot_read(cli: Cli, tmp_path: Path) -> None:
    result = cli("history", "--since", "last tuesday", "--runs-dir", tmp_path)
    assert result.code == 2
    assert "write a date (2026-01-01)" in result.err
    assert cli("history", "--since", "2026-01-01", "--runs-dir", tmp_path).code == 0


def test_the_history_screen_opens_with_h_and_draws_the_chart_at_80x24(
    cli: Cli, tmp_path: Path, backup_file: Path
) -> None:
    import asyncio

    from textual.widgets import Static

    from drconsole.tui.app import DrConsoleApp
    from drconsole.tui.history_screen import HistoryScreen
    from tests.console.pilot import until

    runs = _runs(cli, tmp_path, backup_file)
    app = DrConsoleApp(
        plan_dirs=[REPO / "plans"], runs_dir=runs, targets_path=None, operator_name="tester"
    )

    async def scenario() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.5)
            await pilot.press("h")
            await until(pilot, lambda: isinstance(app.screen, HistoryScreen))

            def text() -> str:
                return str(app.screen.query_one("#history", Static).render())

            await until(pilot, lambda: "Hello drill" in text())
            shown = text()
            assert "objective 10m00s" in shown
            assert " met" in shown
            assert "daily backup check: ok" not in shown  # only what is late is listed
            assert "quarterly full DR drill: never done" in shown
            assert max(len(line) for line in shown.splitlines()) <= 80
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, HistoryScreen))

    asyncio.run(scenario())
