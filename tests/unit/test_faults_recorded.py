"""A drill's injected faults belong to the run's record: the engine copies the sandbox's fault-log
entries that bear on a run into its journal when it ends, so the report still shows them after
the sandbox is reset or destroyed (the log is the sandbox's, not the run's)."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import yaml

from drconsole import faultlog
from drconsole.journal.journal import read_events
from drconsole.timeutil import format_timestamp, utcnow
from tests.conftest import Cli


def _entry(action: str, fault: str, at: str, site: str = "primary") -> dict[str, object]:
    who = {"operator": "fac", "host": "room"}
    return {"at": at, "action": action, "fault": fault, "site": site, "who": who, "done": []}


def fake_sandbox(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A directory that passes for a sandbox (a drill site ``primary``): it, its targets file
    and its fault log (not yet written)."""
    sandbox = tmp_path / "sbx"
    sandbox.mkdir()
    (sandbox / "sandbox.json").write_text("{}")
    targets = sandbox / "targets.yaml"
    targets.write_text(yaml.safe_dump({"sites": {"primary": {"drill": True}}}))
    return sandbox, targets, sandbox / faultlog.LOG


def test_concerning_keeps_what_is_in_force_during_the_run() -> None:
    now = utcnow()
    ts = [format_timestamp(now + timedelta(seconds=s)) for s in range(-30, 30, 10)]
    log = faultlog.parse(
        [
            json.dumps(_entry("inject", "dns-drift", ts[0])),  # healed before the run: no
            json.dumps(_entry("heal", "dns-drift", ts[1])),
            json.dumps(_entry("inject", "seal-vault", ts[1])),  # still in force: yes
            json.dumps(_entry("inject", "crashloop", ts[3])),  # during: yes
            json.dumps(_entry("heal", "crashloop", ts[4])),
            json.dumps(_entry("inject", "s3-errors", ts[5])),  # after the run: no
            "{torn",
        ]
    )
    kept = faultlog.concerning(log, now - timedelta(seconds=5), now + timedelta(seconds=15))
    assert [(e["action"], e["fault"]) for e in kept] == [
        ("inject", "seal-vault"),
        ("inject", "crashloop"),
        ("heal", "crashloop"),
    ]
    assert all("_at" not in e for e in kept)


def test_a_finished_drill_keeps_its_injections_when_the_sandbox_is_gone(
    tmp_path: Path, cli: Cli
) -> None:
    sandbox, targets, log = fake_sandbox(tmp_path)
    # the facilitator injects while the step runs (the step writes the log lines, as
    # `sandbox inject` would), then the step fails naming the fault: noticed. The second
    # fault is on a site the plan never touches: not this run's concern, not in its record
    lines = [
        json.dumps({"at": "AT", "action": "inject", "fault": fault, "site": site,
                    "who": {"operator": "fac", "host": "room"}, "done": []})
        for fault, site in (("seal-vault", "primary"), ("crashloop", "dr"))
    ]  # fmt: skip
    inject = (
        "import datetime,sys;"
        "at=datetime.datetime.now(datetime.timezone.utc).isoformat().replace('+00:00','Z');"
        f"open({str(log)!r},'a').write(sys.argv[1].replace('AT',at))"
    )
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        yaml.safe_dump(
            {
                "id": "drill",
                "title": "Drill",
                "kind": "drill",
                "steps": [
                    {
                        "id": "inject",
                        "action": "local.command",
                        "site": "primary",
                        "with": {"argv": [sys.executable, "-c", inject, "\n".join(lines) + "\n"]},
                    },
                    {
                        "id": "vault",
                        "action": "local.command",
                        "needs": ["inject"],
                        "site": "primary",
                        "with": {"argv": ["sh", "-c", "echo 'Vault is sealed' >&2; exit 1"]},
                    },
                ],
            }
        )
    )
    done = cli.run(plan, targets=targets)
    assert done.code != 0, done.err
    run_dir = done.run_dir
    recorded = [e for e in read_events(run_dir) if e.type == "faults_recorded"]
    assert len(recorded) == 1
    assert [x["fault"] for x in recorded[0].data["entries"]] == ["seal-vault"]
    before = json.loads(cli("report", run_dir, "--format", "json").out)["injections"]
    assert [(i["fault"], i["noticed_by"]) for i in before] == [("seal-vault", "vault")]
    log.unlink()  # the sandbox is reset or destroyed: the record still says what happened
    (sandbox / "sandbox.json").unlink()
    after = json.loads(cli("report", run_dir, "--format", "json").out)["injections"]
    assert after == before
    assert "seal-vault" in cli("report", run_dir, "--format", "md").out


def test_a_guard_that_refuses_notices_and_its_override_is_no_recovery() -> None:
    """lag-standby: the failover's guard refusing the stale standby is the run noticing it;
    going ahead by typing the override leaves the fault in force (only the heal recovers)."""
    from drconsole.journal.journal import Event
    from drconsole.report.injections import Injection, measure

    now = utcnow()

    def event(seq: int, kind: str, **data: object) -> Event:
        at = format_timestamp(now + timedelta(seconds=seq))
        return Event(seq, at, 0.0, kind, dict(data), "", "")

    injection = Injection("lag-standby", "dr", now, "fac@room")
    measure(
        injection,
        [
            event(
                1,
                "refused",
                step="promote",
                question="guard",
                by="drconsole",
                reason="the standby's last replayed commit is past the RPO",
            ),
            event(
                2,
                "operator_answer",
                step="promote",
                question="guard override",
                answer="overridden: the primary is gone",
                by="kim",
            ),
            event(3, "step_finished", step="promote", status="succeeded"),
        ],  # fmt: skip
        {"promote": "postgres.promote_standby"},
    )
    assert injection.noticed_by == "promote"
    assert injection.recovered_at is None
    assert injection.recovered_how == "went ahead by a guard override, the fault in force"


def test_a_check_that_reads_the_fault_notices_it_and_reading_it_gone_is_the_recovery() -> None:
    """seal-vault in the unseal drill: vault.status succeeds reading sealed: true (noticed);
    a status on another site says nothing; the last check reads it unsealed (recovered)."""
    from drconsole.journal.journal import Event
    from drconsole.report.injections import Injection, measure

    now = utcnow()

    def finished(seq: int, step: str, **outputs: object) -> Event:
        at = format_timestamp(now + timedelta(seconds=seq))
        data = {"step": step, "status": "succeeded", "outputs": outputs}
        return Event(seq, at, 0.0, "step_finished", data, "", "")

    injection = Injection("seal-vault", "primary", now, "fac@room")
    measure(
        injection,
        [
            finished(2, "status", sealed=True),
            finished(5, "unseal", progress=3),
            finished(6, "dr-status", sealed=False),  # the other site's Vault
            finished(9, "unsealed", sealed=False),
        ],
        {"status": "vault.status", "unseal": "vault.unseal", "dr-status": "vault.status",
         "unsealed": "vault.status"},
        {"status": "primary", "unseal": "primary", "dr-status": "dr", "unsealed": "primary"},
    )  # fmt: skip
    assert (injection.noticed_by, injection.notice_s) == ("status", 2.0)
    assert injection.noticed_how == "sealed: True (vault.status)"
    assert injection.recover_s == 9.0
    assert injection.recovered_how == "unsealed no longer reads sealed: True"


def test_a_run_with_no_fault_on_its_sites_records_none_and_its_report_reads_no_log(
    tmp_path: Path, cli: Cli
) -> None:
    """The record says 'none' on a sandbox; the report does not fall back to the sandbox's
    log, whose fault on another site is not this run's."""
    _, targets, log = fake_sandbox(tmp_path)
    line = json.dumps(_entry("inject", "crashloop", "AT", site="dr"))
    write = (
        "import datetime,sys;"
        "at=datetime.datetime.now(datetime.timezone.utc).isoformat().replace('+00:00','Z');"
        f"open({str(log)!r},'a').write(sys.argv[1].replace('AT',at)+chr(10))"
    )
    plan = tmp_path / "plan.yaml"
    step = {"id": "a", "action": "local.command", "site": "primary",
            "with": {"argv": [sys.executable, "-c", write, line]}}  # fmt: skip
    plan.write_text(yaml.safe_dump({"id": "p", "title": "P", "kind": "drill", "steps": [step]}))
    done = cli.run(plan, targets=targets)
    assert done.code == 0, done.err
    assert "crashloop" in log.read_text()
    recorded = [e.data for e in read_events(done.run_dir) if e.type == "faults_recorded"]
    assert recorded == [{"entries": []}]
    assert json.loads(cli("report", done.run_dir, "--format", "json").out)["injections"] == []


def test_every_fault_is_injected_healed_measured_and_on_the_panel() -> None:
    """The fault lists agree: a new fault the sandbox can inject is healed, has clues for the
    debrief, and a key on the facilitator's panel."""
    from drconsole.report.injections import CLUES, FAULTS
    from drconsole.sandbox import faults
    from drconsole.tui.facilitate_screen import ROWS

    assert set(faults._INJECT) == set(faults._HEAL) == set(CLUES) == set(FAULTS)
    assert {fault for fault, _ in ROWS} == set(FAULTS)
