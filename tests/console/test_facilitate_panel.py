"""The facilitator's panel measures a run's faults as its report does (found on the facilitator's
walk at 80x24): a seal-vault healed after the failover had already failed read ``R 0:41`` on the
panel while the debrief said "not recovered", and the panel's ``N 0:25`` was the report's 26s."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import timedelta
from pathlib import Path

import yaml
from textual.widgets import Static

from drconsole.timeutil import format_timestamp, parse_timestamp
from drconsole.tui.facilitate_screen import FacilitateApp, FacilitateScreen, _clock
from tests.conftest import Cli
from tests.unit.test_faults_recorded import fake_sandbox

INJECT = (
    "import json,datetime;"
    "at=datetime.datetime.now(datetime.timezone.utc).isoformat().replace('+00:00','Z');"
    "open(LOG,'a').write(json.dumps({'at':at,'action':'inject','fault':'seal-vault',"
    "'site':'primary','who':{'operator':'fac','host':'room'},'done':[]})+'\\n')"
)


def test_a_heal_after_the_run_ended_is_no_recovery_on_the_panel(tmp_path: Path, cli: Cli) -> None:
    sandbox, targets, log = fake_sandbox(tmp_path)
    steps = [
        {"id": "inject", "action": "local.command", "site": "primary",
         "with": {"argv": [sys.executable, "-c", INJECT.replace("LOG", repr(str(log)))]}},
        {"id": "vault", "action": "local.command", "needs": ["inject"], "site": "primary",
         "with": {"argv": ["sh", "-c", "echo 'Vault is sealed' >&2; exit 1"]}},
    ]  # fmt: skip
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"id": "d", "title": "D", "kind": "drill", "steps": steps}))
    run_dir = cli.run(plan, targets=targets).run_dir
    report = json.loads(cli("report", run_dir, "--format", "json").out)["injections"]
    assert [(i["noticed_by"], i["recovered_at"]) for i in report] == [("vault", None)]
    # the facilitator heals once the run has ended
    injected = json.loads(log.read_text().splitlines()[0])["at"]
    healed = format_timestamp(parse_timestamp(injected) + timedelta(seconds=41))
    heal = {"at": healed, "action": "heal", "fault": "seal-vault", "site": "primary",
            "who": {"operator": "fac", "host": "room"}, "done": []}  # fmt: skip
    with log.open("a") as f:
        f.write(json.dumps(heal) + "\n")

    async def go() -> None:
        app = FacilitateApp(run_dir, sandbox)
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(100):
                if isinstance(app.screen, FacilitateScreen) and app.screen.finished:
                    break
                await pilot.pause(0.05)
            await pilot.pause(0.2)
            panel = str(app.screen.query_one("#faults", Static).render())
            row = next(line for line in panel.splitlines() if line.startswith("3 seal-vault"))
            assert "healed N 0:0" in row, row  # noticed within seconds, as the report says
            assert row.endswith("R …"), row  # and not recovered: the heal came after the end
            await pilot.press("escape")  # leaves the app, not to a blank screen
            await pilot.pause(0.2)
            assert app.return_code == 0

    asyncio.run(go())


def test_the_panels_clock_rounds_as_the_report_does() -> None:
    assert _clock(25.6) == "0:26"
    assert _clock(59.5) == "1:00"
    assert _clock(None) == "…"
