"""The operator's whole journey on ONE sandbox, headless, in the order a person takes it: the
demo's plans (monthly recovery test, quarterly DR drill, PITR), another PITR, `sandbox reset`,
the daily and weekly verification, a failover and its failback, a Vault snapshot restore, the
three HSM ceremonies, and a second failover after a reset. Every run succeeds and every journal
verifies; no step is helped by hand (the Vault snapshots the failover and the daily check need
come from the sandbox's own schedule)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from drconsole.adapters.base import ActionContext
from drconsole.adapters.dns import Dns
from drconsole.adapters.hsm import HsmAdapter
from drconsole.adapters.kubernetes import KubeAdapter
from drconsole.engine.answers import AnswersFile
from drconsole.engine.launch import prepare_new
from drconsole.engine.modes import Mode
from drconsole.journal.journal import verify
from drconsole.runs.rundir import load_state
from drconsole.sandbox import dns as sandbox_dns
from drconsole.sandbox import manager, openbao, softhsm
from drconsole.sandbox.reset import reset
from drconsole.timeutil import format_timestamp, utcnow
from tests.conftest import REPO, Cli, running_sandbox
from tests.integration.test_failover import (
    IC,
    custodians,
    failback_answers,
    failover_answers,
    role,
    shares,
)
from tests.integration.test_hsm import (
    APPROVALS,
    CARDS,
    FIRST,
    QUARTERLY_STEPS,
    OfficerAtTheHsm,
    base_answers,
)

PLANS = REPO / "plans"


def drill_answers(sandbox: Path) -> dict[str, Any]:
    """What scripts/demo.sh answers for the quarterly drill."""
    unseal = {"secrets": shares(sandbox)}
    return {
        "operator": "demo-facilitator",
        "steps": {
            "brief": {"confirm": True},
            "fail-primary": {"typed": "fail primary"},
            "fo-declare": IC,
            "fo-promote": {"typed": "promote dr"},
            "fo-vault-restore": {"typed": "restore vault dr"},
            "fo-custodians": custodians(),
            "fo-vault-unseal": unseal,
            "fb-decide": IC,
            "fb-rebuild-primary": {"typed": "rebuild primary"},
            "fb-promote-primary": {"typed": "promote primary"},
            "fb-rebuild-dr": {"typed": "rebuild dr"},
            "fb-custodians": custodians(),
            "fb-vault-unseal": unseal,
            "lessons": {
                "confirm": True,
                "evidence": {"went_well": "demo", "to_improve": "demo", "actions": "none"},
            },
        },
    }


PITR = {"operator": "demo-dba", "steps": {"confirm": {"confirm": True}, "restore": {"typed": "restore qsign"}, "rebuild-standby": {"typed": "rebuild dr"}}}  # fmt: skip
BAGS = ("open-laptop", "open-copy", "open-cards")
RESTORE_STEPS: dict[str, Any] = {
    "room": {"confirm": True},
    **{
        step: {"evidence": {"bag_id": f"TEB-2{i}", "intact": "yes"}, "exception": FIRST}
        for i, step in enumerate(BAGS)
    },  # no previous record: an exception each
    "approve": APPROVALS,
    "copy-to-laptop": {"confirm": True},
    "cards": CARDS,
    "decrypt": {"confirm": True},
    "vendor-restore": {"typed": "restore qsign-master-key", "confirm": True},
    "shred": {"confirm": True},
    "seal-copy": {"evidence": {"bag_id": "TEB-30"}},
    "seal-cards": {"evidence": {"bag_id": "TEB-31"}},
    "seal-laptop": {"evidence": {"bag_id": "TEB-32"}},
}


def backup_ceremony_steps(backup: Path, serial: str) -> dict[str, Any]:
    digest = Path(f"{backup}.sha256").read_text().split()[0]
    confirms = ("vendor-backup", "encrypt", "checksum-file", "copy-usb", "shred")
    return {
        "room": {"confirm": True},
        "open-laptop": {"evidence": {"bag_id": "TEB-1", "intact": "yes"}, "exception": FIRST},
        "hsm-serial": {"evidence": {"serial": serial}},
        "approve": APPROVALS,
        "open-cards": {"evidence": {"bag_id": "TEB-2", "intact": "yes"}, "exception": FIRST},
        "cards": CARDS,
        **{step: {"confirm": True} for step in confirms},
        "checksum-read-back": {"evidence": {"sha256_ends": f"{digest[:4]}...{digest[-4:]}"}},
        **{f"seal-{what}": {"evidence": {"bag_id": f"TEB-{i}"}}
           for i, what in enumerate(("usb-a", "usb-b", "tape", "cards", "laptop"), start=3)},
        "transport": {"evidence": {"choice": "escorted now: USB A to the site A vault, USB B to "
                                             "the site B vault, tape to offsite"}},
    }  # fmt: skip


@pytest.mark.slow
def test_the_whole_journey_on_one_sandbox(cli: Cli, tmp_path: Path) -> None:
    timings: dict[str, float] = {}
    with running_sandbox("drconsole-journey-") as sandbox:
        targets = sandbox / "targets.yaml"
        runs = tmp_path / "runs"

        def run(plan: str, answers: dict[str, Any] | None, *extra: str) -> Path:
            began = time.monotonic()
            args: list[Any] = ["run", PLANS / plan, "--headless", "--mode", "drill",
                               "--targets", targets, "--runs-dir", runs, *extra]  # fmt: skip
            if answers is not None:
                path = tmp_path / f"answers-{len(timings)}.yaml"
                path.write_text(json.dumps(answers))  # YAML, with no aliases
                args += ["--answers", path]
            result = cli(*args)
            assert result.code == 0, f"{plan}: {result.out[-3000:]}{result.err}"
            run_dir = result.run_dir
            assert verify(run_dir).ok, plan
            timings[f"{len(timings):02d} {plan}"] = time.monotonic() - began
            return run_dir

        def ceremony(plan: str, steps: dict[str, Any], backup: Path, **inputs: str) -> None:
            began = time.monotonic()
            practice = softhsm.PracticeHsm(sandbox / "hsm")
            operator = OfficerAtTheHsm(
                AnswersFile.model_validate(base_answers(steps)), practice, backup
            )

            async def go() -> Path:
                prepared = prepare_new(
                    PLANS / plan, runs_dir=runs, operator=operator, mode=Mode.DRILL,
                    given_inputs={"backup_file": str(backup), **inputs}, targets_path=targets,
                )  # fmt: skip
                await prepared.engine.run()
                return prepared.run_dir

            run_dir = asyncio.run(go())
            state = load_state(run_dir)
            assert state.result == "succeeded", f"{plan}: {state.result_reason}"
            assert verify(run_dir).ok, plan
            timings[f"{len(timings):02d} {plan}"] = time.monotonic() - began

        def pitr() -> None:
            time.sleep(3)  # the writer writes; the target lies 2 s back
            run("pitr-restore.yaml", PITR, "--input", f"target_time={two_seconds_ago()}")

        def timed_reset() -> str:
            began = time.monotonic()
            said = reset(sandbox)
            timings[f"{len(timings):02d} sandbox reset"] = time.monotonic() - began
            return said

        # the demo's plans, then another PITR
        run("monthly-db-recovery-test.yaml", None)
        manager.prepare_drill(sandbox)
        run("quarterly-full-dr-drill.yaml", drill_answers(sandbox))
        pitr()
        pitr()
        said = timed_reset()
        # the PITR rebuilt the standby from the restored primary: reset finds it following
        assert "standby rebuilt" not in said, said
        assert "the sandbox is at its baseline" in said, said
        # verification on the reset sandbox: the Vault snapshot is the schedule's, not ours
        run("daily-backup-check.yaml", None)
        # the sandbox has existed for a day, not a week: one day must each have a backup
        run("weekly-backup-verification.yaml", None, "--input", "days=1")
        # failover and failback, with no snapshot taken by hand
        manager.fail_primary(sandbox)
        run("dr-site-failover.yaml", failover_answers(sandbox))
        run("dr-site-failback.yaml", failback_answers(sandbox))
        run(
            "vault-snapshot-restore.yaml",
            {"operator": "oncall", "steps": {"confirm": {"confirm": True},
                                             "restore": {"typed": "restore vault primary"}}},
        )  # fmt: skip
        # the three HSM ceremonies: a backup, the quarterly test restore, a restore that leaves
        # the key on the development token (the reset removes it)
        backup = tmp_path / "hsm-backup.enc"
        softhsm.practice_backup(softhsm.PracticeHsm(sandbox / "hsm"), backup)
        prod = yaml.safe_load(targets.read_text())["sites"]["hsm"]["hsm"]
        found = HsmAdapter(prod, "hsm").key_check(ActionContext(), softhsm.MASTER_KEY, None)
        serial = HsmAdapter(prod, "hsm").token_info(ActionContext())["serial"]
        ceremony("hsm-key-backup-ceremony.yaml", backup_ceremony_steps(backup, serial), backup)
        ceremony("hsm-quarterly-test-restore.yaml", QUARTERLY_STEPS, backup,
                 expected_kcv=found["kcv"])  # fmt: skip
        ceremony("hsm-key-restore-ceremony.yaml", RESTORE_STEPS, backup,
                 hsm_site="dev-hsm", expected_kcv=found["kcv"])  # fmt: skip
        # a second failover after a reset, straight away
        said = timed_reset()
        assert "restored key(s) removed" in said
        manager.fail_primary(sandbox)
        run("dr-site-failover.yaml", failover_answers(sandbox))
        # the newcomer's next plan on the failed-over sandbox fails for the sandbox's reason,
        # and is told so with what to do
        tripped = cli("run", PLANS / "daily-backup-check.yaml", "--headless", "--mode", "drill",
                      "--targets", targets, "--runs-dir", runs)  # fmt: skip
        assert tripped.code != 0
        assert "The sandbox is not at its baseline: the primary database does not answer" in (
            tripped.out
        )
        assert f"drconsole sandbox reset --dir {sandbox}" in tripped.out
        # a failover with no failback (the DR Vault holds the primary's keyring): reset
        said = timed_reset()
        assert "standby rebuilt" in said  # the DR database had been promoted
        assert "OpenBao dr made an empty cluster of its own again" in said
        assert_baseline(sandbox)
        # the schedule keeps taking snapshots (here every second) into the folder and bucket
        manager.snapshotter_stop(sandbox)
        before = set(manager.snapshot_dir(sandbox, "primary").glob("*.snap"))
        manager.snapshotter_start(sandbox, every_s=1)
        deadline = time.monotonic() + 20
        while not set(manager.snapshot_dir(sandbox, "primary").glob("*.snap")) - before:
            assert time.monotonic() < deadline, (sandbox / "snapshotter.log").read_text()
            time.sleep(0.2)
    print("\n".join(f"{name}: {seconds:.1f} s" for name, seconds in timings.items()))


def assert_baseline(sandbox: Path) -> None:
    """The primary takes writes, the standby streams, DNS and the api-server are at the
    primary, both Vaults are unsealed clusters of their own, the writer runs."""
    sites = yaml.safe_load((sandbox / "targets.yaml").read_text())["sites"]
    assert role(sandbox, "primary") == "primary"
    assert role(sandbox, "dr") == "standby"
    primary, dr = sites["primary"], sites["dr"]
    assert Dns(primary["dns"]).get(sandbox_dns.RECORD, "CNAME")["values"] == [primary["endpoint"]]
    assert KubeAdapter(primary["kubernetes"]).status("deployment", "qsign-api")["ready"] == 3
    assert KubeAdapter(dr["kubernetes"]).status("deployment", "qsign-api")["ready"] == 0
    state = manager.load_state(sandbox)
    assert state is not None
    for server in openbao.servers(sandbox, state.bao_ports or {}):
        assert server.own_token_works(), server.name
    assert manager.writer_pid(sandbox) is not None


def two_seconds_ago() -> str:
    from datetime import timedelta

    return format_timestamp((utcnow() - timedelta(seconds=2)).replace(microsecond=0))
