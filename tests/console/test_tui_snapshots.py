"""Snapshot tests of the console at 80x24: home, the run screen, every question.

Time is frozen through the one clock (``timeutil.utcnow``) and the run id's random part is
fixed, so that the pictures only change when the screens do. Update them on purpose with
``pytest tests/console/test_tui_snapshots.py --snapshot-update`` and review the SVG diff.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from textual.app import App
from textual.pilot import Pilot

from drconsole.engine.modes import Mode
from drconsole.engine.operator import FieldSpec, Question
from drconsole.tui import modals
from drconsole.tui.app import DrConsoleApp
from drconsole.tui.forms import InputsModal
from drconsole.tui.help import HelpScreen
from drconsole.tui.run_screen import RunScreen

SIZE = (80, 24)
FROZEN = datetime(2026, 11, 26, 3, 0, 0, tzinfo=UTC)
PLAN = """
id: snap
title: Snapshot plan
kind: restore
objectives: {rto: 1h, rpo: 15m}
inputs:
  target_time: {type: timestamp, required: true, prompt: "Restore to (UTC)"}
steps:
  - {id: brief, title: Brief the team, manual: Read the scenario aloud.}
  - id: restore
    title: Restore the database
    guidance: "pgBackRest restores to the **target time** and promotes."
    action: local.command
    with: {argv: [echo, "${inputs.target_time}"]}
    site: sandbox
    destructive: true
    confirm: restore qsign
    needs: [brief]
  - {id: done, milestone: service_restored, needs: [restore]}
"""
Q = Question("restore", "Restore the database", "pgBackRest restores to the **target time**.")


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> FrozenDatetime:  # type: ignore[override]
            return cls.fromtimestamp(FROZEN.timestamp(), tz or UTC)

    monkeypatch.setattr("drconsole.timeutil.datetime", FrozenDatetime)
    monkeypatch.setattr("drconsole.runs.rundir.secrets.token_hex", lambda n: "0000")
    monkeypatch.chdir(tmp_path)
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / "snap.yaml").write_text(PLAN)
    (tmp_path / "targets.yaml").write_text(yaml.safe_dump({"sites": {"sandbox": {"drill": True}}}))
    return tmp_path


def console(root: Path, **kw: Any) -> DrConsoleApp:
    return DrConsoleApp(
        plan_dirs=[root / "plans"],
        runs_dir=root / "runs",
        targets_path=Path("targets.yaml"),  # relative: the pictures must not show tmp paths
        operator_name="op-1",
        **kw,
    )


class Blank(App[None]):
    """A bare app, with the console's stylesheet, to show one question on."""

    CSS_PATH = str(Path(__file__).resolve().parents[2] / "drconsole" / "tui" / "app.tcss")

    def __init__(self, screen: Any) -> None:
        super().__init__()
        self.question = screen

    def on_mount(self) -> None:
        self.push_screen(self.question)


async def settle(pilot: Pilot[Any]) -> None:
    await pilot.pause(0.3)


def test_home(snap_compare: Any, frozen: Path) -> None:
    async def loaded(pilot: Pilot[Any]) -> None:
        for _ in range(100):
            if pilot.app.screen.query_one("#plans").row_count:
                break
            await pilot.pause(0.05)
        await settle(pilot)

    assert snap_compare(console(frozen), terminal_size=SIZE, run_before=loaded)


def test_home_in_real_mode(snap_compare: Any, frozen: Path) -> None:
    assert snap_compare(console(frozen, mode=Mode.REAL), terminal_size=SIZE, run_before=settle)


def test_run_screen_after_a_dry_run(snap_compare: Any, frozen: Path) -> None:
    app = console(
        frozen,
        mode=Mode.DRY_RUN,
        start_plan=frozen / "plans" / "snap.yaml",
        given_inputs={"target_time": "2026-11-26T02:00:00Z"},
    )

    async def run(pilot: Pilot[Any]) -> None:
        await pilot.pause(0.3)
        await pilot.press("enter")  # the inputs form: start
        for _ in range(200):
            screen = pilot.app.screen
            if isinstance(screen, RunScreen) and screen.finished:
                break
            await pilot.pause(0.05)
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run)


@pytest.mark.parametrize(
    ("name", "screen"),
    [
        ("confirm", modals.ConfirmModal(Q, "Done? Read the scenario aloud.")),
        (
            "typed",
            modals.TypedConfirmModal(
                Q,
                "It will: pgbackrest restore --type=time --target=2026-11-26T02:00:00Z into the "
                "live data directory\nWhere: site primary, the production database\n"
                "To go ahead, type: restore qsign",
                "restore qsign",
                "that was not 'restore qsign'; nothing was done",
            ),
        ),
        ("secret", modals.SecretModal(Q, "Unseal share of custodian 1", None)),
        (
            "signoff",
            modals.SignoffModal(
                Q, 2, ["security_officer", "witness"], "Kim, kim signed more than once"
            ),
        ),
        (
            "evidence",
            modals.EvidenceModal(
                Q, [FieldSpec("bag_id", prompt="Bag number", pattern="[A-Z][0-9]{7}")], None
            ),
        ),
        ("interrupted", modals.interrupted_modal(Q)),
        ("failed", modals.failure_modal(Q, "pgbackrest restore failed (exit 29)")),
        ("help", HelpScreen()),
    ],
)
def test_questions(snap_compare: Any, name: str, screen: Any) -> None:
    assert snap_compare(Blank(screen), terminal_size=SIZE, run_before=settle)


def test_inputs_form(snap_compare: Any, frozen: Path) -> None:
    from drconsole.plans.validate import load_plan

    plan = load_plan(frozen / "plans" / "snap.yaml").plan
    assert plan is not None
    assert snap_compare(
        Blank(InputsModal(plan, {}, "DRILL")), terminal_size=SIZE, run_before=settle
    )
