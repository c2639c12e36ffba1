"""DR-site failover and failback on the sandbox: real streaming replication, two OpenBao
servers, Route 53 in moto and the Kubernetes API simulators. The promotion is refused while
the primary accepts writes; a failover killed mid-way resumes and finishes, its RPO comes from
the standby's last replayed commit; a standby whose data is older than the RPO is promoted only
with its own override, and the RPO is then its true last commit; a standby a point-in-time
restore of the primary left on an abandoned timeline is shown not streaming and never promoted;
failback brings DNS and the database roles back; the quarterly drill runs end to end. The
drill's steps stay those of the two plans."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from drconsole.adapters.dns import Dns
from drconsole.adapters.kubernetes import KubeAdapter
from drconsole.adapters.postgres import PostgresAdapter
from drconsole.journal.journal import read_events, verify
from drconsole.report.build import build
from drconsole.runs.rundir import load_state
from drconsole.sandbox import dns as sandbox_dns
from drconsole.sandbox import manager
from drconsole.timeutil import format_timestamp, parse_timestamp, utcnow
from tests.conftest import REPO, Cli, CliResult, kill_run, running_sandbox, start_run

FAILOVER = REPO / "plans" / "dr-site-failover.yaml"
FAILBACK = REPO / "plans" / "dr-site-failback.yaml"
DRILL = REPO / "plans" / "quarterly-full-dr-drill.yaml"


def shares(sandbox: Path) -> list[dict[str, str]]:
    folder = sandbox / "openbao" / "primary"
    return [{"file": str(folder / f"PRACTICE-ONLY-share-{i}")} for i in (1, 2, 3)]


def custodians() -> dict[str, Any]:
    return {"signoffs": [{"name": f"c{i}", "role": "key_custodian"} for i in (1, 2, 3)]}


IC = {"signoffs": [{"name": "Kim IC", "role": "incident_commander"}]}


def failover_answers(sandbox: Path) -> dict[str, Any]:
    return {
        "operator": "oncall",
        "steps": {
            "declare": IC,
            "promote": {"typed": "promote dr"},
            "vault-restore": {"typed": "restore vault dr"},
            "custodians": custodians(),
            "vault-unseal": {"secrets": shares(sandbox)},
        },
    }


def failback_answers(sandbox: Path) -> dict[str, Any]:
    return {
        "operator": "oncall",
        "steps": {
            "decide": IC,
            "rebuild-primary": {"typed": "rebuild primary"},
            "promote-primary": {"typed": "promote primary"},
            "rebuild-dr": {"typed": "rebuild dr"},
            "custodians": custodians(),
            "vault-unseal": {"secrets": shares(sandbox)},
        },
    }


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Path]:
    with running_sandbox("drconsole-dr-") as root:
        yield root


@pytest.fixture
def run_plan(cli: Cli, sandbox: Path, tmp_path: Path) -> Callable[..., tuple[CliResult, Path]]:
    def go(plan: Path, answers: dict[str, Any], *extra: str) -> tuple[CliResult, Path]:
        path = tmp_path / f"answers-{plan.stem}.yaml"
        path.write_text(yaml.safe_dump(answers))
        result = cli.run(plan, *extra, mode="drill", targets=sandbox / "targets.yaml", answers=path)
        return result, result.run_dir

    return go


def site(sandbox: Path, name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((sandbox / "targets.yaml").read_text())["sites"][name])


def role(sandbox: Path, name: str) -> str:
    return str(PostgresAdapter(site(sandbox, name)["postgres"]).replication_status()["role"])


def test_the_drill_steps_are_those_of_the_failover_and_failback_plans() -> None:
    drill = {s["id"]: s for s in yaml.safe_load(DRILL.read_text())["steps"]}
    for prefix, path in (("fo-", FAILOVER), ("fb-", FAILBACK)):
        for step in yaml.safe_load(path.read_text())["steps"]:
            copy = dict(drill[prefix + step["id"]])
            for key in ("needs", "milestone"):
                copy.pop(key, None)
                step.pop(key, None)
            text = (
                yaml.safe_dump(copy)
                .replace(prefix, "")
                .replace("${steps.incident.outputs.at}", "${inputs.incident_at}")
            )
            assert yaml.safe_load(text) == step, f"{prefix}{step['id']} differs from {path.name}"


@pytest.mark.slow
def test_the_promotion_is_refused_while_the_primary_accepts_writes(
    sandbox: Path, run_plan: Callable[..., tuple[CliResult, Path]]
) -> None:
    manager.prepare_drill(sandbox)
    manager.snapshot(sandbox, "primary")
    result, run_dir = run_plan(FAILOVER, failover_answers(sandbox))
    assert result.code == 1
    state = load_state(run_dir)
    assert state.steps["primary-writes"].outputs["accepts_writes"] is True
    promote = state.steps["promote"]
    assert promote.status == "failed"
    assert "refused: the primary database still accepts writes" in str(promote.error)
    assert role(sandbox, "dr") == "standby"  # nothing was promoted
    assert state.steps["dns"].status == "pending"


@pytest.mark.slow
def test_a_refused_failover_never_touches_the_dr_site_five_times_over(
    sandbox: Path, run_plan: Callable[..., tuple[CliResult, Path]]
) -> None:
    """The split-brain refusal repeated on one sandbox: after each, the DR database is still in
    recovery and the DR Vault still holds its own data (its own token works); the force restore
    never started (it used to race the refusal and win about one run in six)."""
    import hvac

    manager.prepare_drill(sandbox)
    manager.snapshot(sandbox, "primary")
    dr = site(sandbox, "dr")
    dr_vault = hvac.Client(
        url=dr["vault"]["addr"], token=Path(dr["vault"]["token_file"]).read_text().strip()
    )
    for attempt in range(5):
        result, run_dir = run_plan(FAILOVER, failover_answers(sandbox))
        assert result.code == 1, f"run {attempt + 1}: {result.out[-2000:]}"
        state = load_state(run_dir)
        assert "refused: the primary database still accepts writes" in str(
            state.steps["promote"].error
        ), f"run {attempt + 1}"
        assert state.steps["vault-restore"].status == "pending", f"run {attempt + 1}"
        assert PostgresAdapter(dr["postgres"]).ping()["in_recovery"] is True, f"run {attempt + 1}"
        assert dr_vault.auth.token.lookup_self()["data"]["id"], f"run {attempt + 1}"


@pytest.mark.slow
def test_failover_killed_mid_way_resumes_then_failback_restores_dns_and_roles(
    sandbox: Path,
    run_plan: Callable[..., tuple[CliResult, Path]],
    cli: Cli,
    tmp_path: Path,
) -> None:
    manager.prepare_drill(sandbox)
    manager.snapshot(sandbox, "primary")
    failed_at = format_timestamp(utcnow())
    manager.fail_primary(sandbox)
    answers = tmp_path / "failover.yaml"
    answers.write_text(yaml.safe_dump(failover_answers(sandbox)))
    proc, run_dir = start_run(
        [str(FAILOVER), "--headless", "--mode", "drill", "--targets", str(sandbox / "targets.yaml"),
         "--runs-dir", str(tmp_path / "runs"), "--answers", str(answers),
         "--input", f"incident_at={failed_at}"],
        "vault-restart",
        within_s=120,
    )  # fmt: skip
    kill_run(proc)
    resumed = cli("resume", run_dir, "--headless", "--answers", answers)
    assert resumed.code == 0, resumed.out + resumed.err
    assert verify(run_dir).ok
    events = list(read_events(run_dir))
    promotions = [e for e in events if e.type == "step_started" and e.data["step"] == "promote"]
    assert len(promotions) == 1  # finished before the kill, not repeated
    state = load_state(run_dir)
    assert state.result == "succeeded"
    # the RPO comes from the standby's last replayed commit
    last_replayed = state.steps["standby-state"].outputs["last_replayed_commit"]
    report = build(run_dir)
    assert report["rpo"]["recovery_point"] == last_replayed
    assert report["rpo"]["status"] == "met"
    assert report["rto"]["status"] == "met"
    dr = site(sandbox, "dr")
    assert Dns(dr["dns"]).get(sandbox_dns.RECORD, "CNAME")["values"] == [dr["endpoint"]]
    assert KubeAdapter(dr["kubernetes"]).status("deployment", "qsign-api")["ready"] == 3
    assert role(sandbox, "dr") == "primary"
    # the DR site takes writes; failback must carry them back
    with psycopg.connect(
        host="127.0.0.1", port=dr["postgres"]["port"], dbname="qsign", user="qsign"
    ) as conn:
        conn.execute(
            "INSERT INTO signatures (payload, digest) VALUES ('written at the DR site', 'x')"
        )
    back, back_dir = run_plan(FAILBACK, failback_answers(sandbox))
    assert back.code == 0, back.out[-3000:]
    primary = site(sandbox, "primary")
    assert Dns(primary["dns"]).get(sandbox_dns.RECORD, "CNAME")["values"] == [primary["endpoint"]]
    assert role(sandbox, "primary") == "primary"
    assert role(sandbox, "dr") == "standby"
    assert KubeAdapter(primary["kubernetes"]).status("deployment", "qsign-api")["ready"] == 3
    assert KubeAdapter(dr["kubernetes"]).status("deployment", "qsign-api")["ready"] == 0
    found = PostgresAdapter(primary["postgres"]).query(
        "SELECT count(*) FROM signatures WHERE payload = 'written at the DR site'", [], None
    )
    assert found["value"] == 1
    moved = load_state(back_dir).steps["rebuild-primary"].outputs["moved_aside"]
    assert Path(moved).is_dir()  # the old primary's data directory is kept, not deleted
    notes = Path(primary["notify_file"]).read_text()
    assert "failed over to the DR site" in notes
    assert "back on the primary site" in notes


@pytest.mark.slow
def test_the_quarterly_drill_runs_end_to_end(
    sandbox: Path, run_plan: Callable[..., tuple[CliResult, Path]]
) -> None:
    steps: dict[str, Any] = {
        "brief": {"confirm": True},
        "fail-primary": {"typed": "fail primary"},
        "lessons": {
            "confirm": True,
            "evidence": {
                "went_well": "Vault and the database recovered side by side",
                "to_improve": "custodian call tree",
                "actions": "update the call tree (Kim, 2026-12-10)",
            },
        },
    }
    for key, value in failover_answers(sandbox)["steps"].items():
        steps[f"fo-{key}"] = value
    for key, value in failback_answers(sandbox)["steps"].items():
        steps[f"fb-{key}"] = value
    result, run_dir = run_plan(DRILL, {"operator": "facilitator", "steps": steps})
    assert result.code == 0, result.out[-3000:]
    state = load_state(run_dir)
    assert set(state.milestones) >= {
        "incident", "data_recovered", "service_restored", "failback_complete", "drill_complete"
    }  # fmt: skip
    assert state.incident_at == state.milestones["incident"]
    assert state.steps["lessons"].outputs["to_improve"] == "custodian call tree"
    assert role(sandbox, "primary") == "primary"
    assert role(sandbox, "dr") == "standby"
    assert (
        KubeAdapter(site(sandbox, "dr")["kubernetes"]).status("deployment", "qsign-api")["ready"]
        == 0
    )


def stop_following(sandbox: Path) -> datetime:
    """Make the DR standby stale as a point-in-time restore of the primary does: its WAL
    receiver stops (no primary_conninfo), it still answers, lag_bytes stays 0. Returns when."""
    dr = site(sandbox, "dr")["postgres"]
    with psycopg.connect(
        host="127.0.0.1", port=dr["port"], dbname="postgres", user="postgres", autocommit=True
    ) as conn:
        conn.execute("ALTER SYSTEM SET primary_conninfo = ''")
        conn.execute("SELECT pg_reload_conf()")
    deadline = time.monotonic() + 10
    while PostgresAdapter(dr).replication_status()["streaming"]:
        assert time.monotonic() < deadline, "the standby still streams"
        time.sleep(0.1)
    return utcnow()


@pytest.mark.slow
def test_a_stale_standby_is_promoted_only_with_the_override_and_the_rpo_is_its_last_commit(
    sandbox: Path, run_plan: Callable[..., tuple[CliResult, Path]], tmp_path: Path
) -> None:
    manager.prepare_drill(sandbox)
    manager.snapshot(sandbox, "primary")
    # the shipped plan with an RPO of 3 s instead of 15 min, so that a test can exceed it
    text = FAILOVER.read_text()
    assert text.count("rpo: 15m") == 1
    assert text.count("rpo_s: 900") == 1
    plan = tmp_path / "dr-site-failover.yaml"
    plan.write_text(text.replace("rpo: 15m", "rpo: 3s").replace("rpo_s: 900", "rpo_s: 3"))
    stopped = stop_following(sandbox)
    time.sleep(4)  # the primary's writer goes on; the standby's data ages past the RPO
    manager.fail_primary(sandbox)

    refused, run_dir = run_plan(plan, failover_answers(sandbox))
    assert refused.code == 1
    state = load_state(run_dir)
    seen = state.steps["standby-state"].outputs
    assert (seen["streaming"], seen["lag_bytes"], seen["past_rpo"]) == (False, 0, True)
    assert seen["state"].startswith("NOT streaming (WAL receiver: none")
    assert "PAST the RPO of 3s" in seen["state"]
    promote = state.steps["promote"]
    assert promote.status == "failed"
    assert "refused: the standby's data is older than the RPO allows" in str(promote.error)
    assert role(sandbox, "dr") == "standby"  # nothing was promoted

    answers = failover_answers(sandbox)
    reason = "the primary's disks are lost; the IC accepts the loss"
    answers["steps"]["promote"]["override"] = {"typed": "PROMOTE A STALE STANDBY", "reason": reason}
    done, run_dir = run_plan(plan, answers)
    assert done.code == 0, done.out[-3000:]
    state = load_state(run_dir)
    said = [a["answer"] for a in state.steps["promote"].answers]
    assert f"overridden: {reason}" in said
    last_replayed = state.steps["standby-state"].outputs["last_replayed_commit"]
    report = build(run_dir)
    assert report["rpo"]["recovery_point"] == last_replayed
    assert report["rpo"]["status"] == "missed"
    assert report["rpo"]["achieved_s"] > 3
    # the standby's true last replayed commit: after its newest row, before it stopped following
    dr = site(sandbox, "dr")["postgres"]
    with psycopg.connect(host="127.0.0.1", port=dr["port"], dbname="qsign", user="qsign") as conn:
        row = conn.execute("SELECT max(signed_at) FROM signatures").fetchone()
    assert row is not None
    point = parse_timestamp(last_replayed)
    assert row[0] <= point <= stopped
    assert point - row[0] < timedelta(seconds=1)

    back, _ = run_plan(FAILBACK, failback_answers(sandbox))  # the sandbox as the next test wants it
    assert back.code == 0, back.out[-3000:]


@pytest.mark.slow
def test_a_standby_a_pitr_left_behind_is_shown_not_streaming_and_never_promoted(
    sandbox: Path, run_plan: Callable[..., tuple[CliResult, Path]], cli: Cli, tmp_path: Path
) -> None:
    """A point-in-time restore of the primary with a targets file that has no dr site: the
    standby rebuild is skipped, saying why, and the standby is left on the timeline the restore
    abandoned, holding the rows it threw away. ``sandbox status`` says it does not stream, and
    the failover's promotion is refused though its data is within the RPO."""
    manager.prepare_drill(sandbox)
    manager.snapshot(sandbox, "primary")
    targets = yaml.safe_load((sandbox / "targets.yaml").read_text())
    del targets["sites"]["dr"]
    no_dr = tmp_path / "targets-without-dr.yaml"
    no_dr.write_text(yaml.safe_dump(targets))
    pg = PostgresAdapter(site(sandbox, "primary")["postgres"])
    time.sleep(1.1)
    target = format_timestamp(utcnow())
    time.sleep(1.1)
    pg.archive_check()  # the standby replays past the target
    answers = tmp_path / "pitr.yaml"
    answers.write_text(yaml.safe_dump({"operator": "dba", "steps": {
        "confirm": {"confirm": True}, "restore": {"typed": "restore qsign"}}}))  # fmt: skip
    pitr = cli.run(
        REPO / "plans" / "pitr-restore.yaml", "--input", f"target_time={target}",
        mode="drill", targets=no_dr, answers=answers,
    )  # fmt: skip
    assert pitr.code == 0, pitr.out[-3000:]
    rebuild = load_state(pitr.run_dir).steps["rebuild-standby"]
    assert rebuild.status == "skipped"
    assert "unknown site 'dr'" in str(rebuild.reason)

    assert "standby (in recovery), NOT streaming from the primary" in manager.status(sandbox)
    manager.fail_primary(sandbox)
    refused, run_dir = run_plan(FAILOVER, failover_answers(sandbox))
    assert refused.code == 1
    seen = load_state(run_dir).steps["standby-state"].outputs
    assert seen["past_rpo"] is False  # what let the promotion through before
    assert seen["timeline_abandoned"] is True
    assert "ABANDONED TIMELINE" in seen["state"]
    assert f"branched off timeline {seen['timeline']} at " in seen["state"]  # the history read
    promote = load_state(run_dir).steps["promote"]
    assert promote.status == "failed"
    assert "refused: the standby is on a timeline the primary abandoned" in str(promote.error)
    assert role(sandbox, "dr") == "standby"  # nothing was promoted
    assert "the sandbox is at its baseline" in manager.prepare_drill(sandbox)
