"""A Vault snapshot restore that failed, or that the console was killed in, on the sandbox's real
OpenBao servers: a restore whose server died mid-step fails at once saying so (it passed as
succeeded with ``applied: false`` after 75 s, then the next check retried the dead server for
2.5 minutes); a failover killed in its Vault restore resumes to the end (the rerun found the DR
Vault sealed on the primary's keyring and failed "sealed or down"); a full-site restore's
restore into a new node reruns after a kill, whether the snapshot was applied or only the
throwaway initialisation done (it failed "the node is initialised already")."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from drconsole.adapters import vaultsnap
from drconsole.adapters.base import ActionContext, PermanentError
from drconsole.adapters.vault import VaultAdapter
from drconsole.journal.journal import read_events
from drconsole.runs.rundir import load_state
from drconsole.sandbox import manager, openbao
from drconsole.sandbox.reset import reset
from drconsole.timeutil import format_timestamp, utcnow
from tests.conftest import REPO, Cli, kill_run, running_sandbox, start_run
from tests.integration.test_failover import failover_answers

pytestmark = pytest.mark.slow

BEGUN = b"shutting down prior to restoring snapshot"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Path]:
    with running_sandbox("drconsole-vault-resume-") as root:
        yield root


def vault_section(sandbox: Path, site: str) -> dict[str, Any]:
    return dict(yaml.safe_load((sandbox / "targets.yaml").read_text())["sites"][site]["vault"])


def when_logged(log: Path, words: bytes, then: Any, within_s: float = 120) -> threading.Thread:
    """Call ``then`` as soon as ``log`` gains a line with ``words`` (from now on)."""
    start = log.stat().st_size

    def watch() -> None:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if words in log.read_bytes()[start:]:
                then()
                return
            time.sleep(0.005)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_a_restore_whose_server_died_mid_step_fails_at_once_saying_so(
    sandbox: Path, cli: Cli, tmp_path: Path
) -> None:
    section = vault_section(sandbox, "primary")
    manager.snapshot(sandbox, "primary")
    pid = int(Path(section["pidfile"]).read_text())
    watcher = when_logged(Path(section["log_file"]), BEGUN, lambda: os.kill(pid, signal.SIGKILL))
    answers = tmp_path / "answers.yaml"
    answers.write_text(
        yaml.safe_dump(
            {
                "operator": "t",
                "steps": {
                    "confirm": {"confirm": True},
                    "restore": {"typed": "restore vault primary"},
                },
            }
        )  # fmt: skip
    )
    start = time.monotonic()
    result = cli.run(
        REPO / "plans" / "vault-snapshot-restore.yaml",
        mode="drill",
        targets=sandbox / "targets.yaml",
        answers=answers,
    )
    took = time.monotonic() - start
    watcher.join(1)
    assert result.code == 1, result.out[-2000:]
    state = load_state(result.run_dir)
    restore = state.steps["restore"]
    assert restore.status == "failed"
    error = str(restore.error)
    assert "NOT seen applied: the server's process ended (seen at " in error
    assert "may or may not be in place" in error
    assert "start the server again" in error
    assert state.steps["sealed-config"].status != "failed"  # never reached: no dead-server retries
    assert took < 30, f"the run took {took:.0f} s"
    # a step that asks the dead server says it is not running, after 3 s (a restart's grace),
    # not after a retry budget (2.5 minutes for the next step's check)
    started = time.monotonic()
    with pytest.raises(PermanentError, match="is not running"):
        VaultAdapter(section).status()
    assert time.monotonic() - started < 5
    assert "the sandbox is at its baseline" in reset(sandbox)


def test_a_failover_killed_in_its_vault_restore_resumes_to_the_end(
    sandbox: Path, cli: Cli, tmp_path: Path
) -> None:
    """Killed once the DR Vault has begun the force restore: the rerun finds it applied (the
    server's log) and sealed on the primary's keyring, does not send it again, and the restart
    and the unseal with the primary's shares finish the failover."""
    manager.prepare_drill(sandbox)
    manager.snapshot(sandbox, "primary")
    failed_at = format_timestamp(utcnow())
    manager.fail_primary(sandbox)
    dr_log = Path(vault_section(sandbox, "dr")["log_file"])
    begun = threading.Event()
    watcher = when_logged(dr_log, BEGUN, begun.set)
    given = failover_answers(sandbox)
    given["steps"]["vault-restore"]["on_interrupted"] = "rerun"
    answers = tmp_path / "failover.yaml"
    answers.write_text(yaml.safe_dump(given))
    proc, run_dir = start_run(
        [str(REPO / "plans" / "dr-site-failover.yaml"), "--headless", "--mode", "drill",
         "--targets", str(sandbox / "targets.yaml"), "--runs-dir", str(tmp_path / "runs"),
         "--answers", str(answers), "--input", f"incident_at={failed_at}"],
        "vault-restore",
        within_s=120,
    )  # fmt: skip
    assert begun.wait(60), "the DR Vault never began the restore"
    kill_run(proc)
    watcher.join(1)
    assert load_state(run_dir).steps["vault-restore"].status == "running"

    resumed = cli("resume", run_dir, "--headless", "--answers", answers)

    assert resumed.code == 0, resumed.out[-3000:] + resumed.err
    state = load_state(run_dir)
    assert state.result == "succeeded"
    restore = state.steps["vault-restore"]
    assert restore.outputs["applied"] is True
    assert "it was not sent again" in restore.outputs["resumed"]
    asked = [
        e.data for e in read_events(run_dir)
        if e.type == "question_asked" and e.data["step"] == "vault-restore"
    ]  # fmt: skip
    assert any(q["question"] == "interrupted step" for q in asked)
    assert not state.steps["vault-unsealed"].outputs["sealed"]
    assert "the sandbox is at its baseline" in reset(sandbox)


def empty_primary(sandbox: Path) -> tuple[VaultAdapter, str]:
    """The primary OpenBao as a node whose data is lost (its data moved aside), and a snapshot
    of it taken before."""
    snapshot = manager.snapshot(sandbox, "primary").split()[1]
    vault = VaultAdapter(vault_section(sandbox, "primary"))
    host = vault.local_host()
    assert host is not None
    host.stop()
    folder = sandbox / "openbao" / "primary"
    (folder / "data").rename(folder / "data.before-lost")  # as sandbox lose-site does
    (folder / "data").mkdir(mode=0o700)
    return vault, snapshot


def practice_shares(sandbox: Path) -> list[str]:
    folder = sandbox / "openbao" / "primary"
    return [(folder / f"PRACTICE-ONLY-share-{i}").read_text().strip() for i in (1, 2, 3)]


def unsealed_with_its_data(vault: VaultAdapter, sandbox: Path) -> None:
    """Restarted and unsealed with the original shares, the node holds the sample secrets."""
    ctx = ActionContext(site={"vault": vault.section}, site_name="primary")
    assert vault.restart(ctx)["sealed"] is True
    client = vault.client(with_token=False)
    for share in practice_shares(sandbox):
        client.sys.submit_unseal_key(share)
    state = manager.load_state(sandbox)
    assert state is not None
    server = next(s for s in openbao.servers(sandbox, state.bao_ports or {}) if s.name == "primary")
    server.wait_leader()
    token = server.practice_init()["root_token"]
    for path, secret in openbao.SAMPLE_SECRETS.items():
        read = server.client(token).secrets.kv.v2.read_secret_version(
            path=path, mount_point="secret", raise_on_deleted_version=True
        )
        assert read["data"]["data"] == secret


def rerun(vault: VaultAdapter, snapshot: str, artefacts: Path) -> tuple[dict[str, Any], list[str]]:
    """The step run again in the same artefact folder: its outputs (the snapshot applied) and
    what it said."""
    said: list[str] = []
    ctx = ActionContext(
        site={"vault": vault.section}, site_name="primary", log=said.append,
        artefact_dir=str(artefacts),
    )  # fmt: skip
    out = vaultsnap.restore_into_new(vault, snapshot, ctx)
    assert out["applied"] is True
    return out, said


def test_a_restore_into_a_new_node_killed_after_the_snapshot_was_sent_reruns(
    sandbox: Path, tmp_path: Path
) -> None:
    vault, snapshot = empty_primary(sandbox)
    artefacts = tmp_path / "artefacts"
    code = (
        "import json, sys\n"
        "from drconsole.adapters import vaultsnap\n"
        "from drconsole.adapters.base import ActionContext\n"
        "from drconsole.adapters.vault import VaultAdapter\n"
        "section, path, folder = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]\n"
        "ctx = ActionContext(site={'vault': section}, artefact_dir=folder)\n"
        "vaultsnap.restore_into_new(VaultAdapter(section), path, ctx)\n"
    )
    log = Path(vault.section["log_file"])
    begun = threading.Event()
    watcher = when_logged(log, BEGUN, begun.set)
    proc = subprocess.Popen(
        [sys.executable, "-c", code, json.dumps(vault.section), snapshot, str(artefacts)],
        start_new_session=True,
    )
    assert begun.wait(60), "the node never began the restore"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    watcher.join(1)
    out, _ = rerun(vault, snapshot, artefacts)

    assert "it was not sent again" in out["resumed"]
    unsealed_with_its_data(vault, sandbox)
    assert "the sandbox is at its baseline" in reset(sandbox)


def test_a_restore_into_a_new_node_killed_after_its_throwaway_init_reruns(
    sandbox: Path, tmp_path: Path
) -> None:
    """What a kill between the throwaway initialisation and the restore leaves: the node
    initialised with a share and token nobody has. The rerun moves its data aside (kept) and
    restores anew."""
    vault, snapshot = empty_primary(sandbox)
    artefacts = tmp_path / "artefacts"
    host = vault.local_host()
    assert host is not None
    host.start()
    client = vault.client(with_token=False)
    deadline = time.monotonic() + 30
    while True:
        try:
            client.sys.is_initialized()
            break
        except Exception:  # noqa: BLE001 - starting
            assert time.monotonic() < deadline
            time.sleep(0.1)
    artefacts.mkdir()
    (artefacts / "restore-sent.json").write_text(
        json.dumps({"at": format_timestamp(utcnow()), "phase": "initialising", "path": snapshot})
    )
    gone = client.sys.initialize(1, 1)  # the stopped attempt's share and token, lost with it
    client.sys.submit_unseal_key(gone["keys"][0])
    out, said = rerun(vault, snapshot, artefacts)

    assert any("data moved aside" in line for line in said), said
    assert list((sandbox / "openbao" / "primary").glob("data.before-rerun-*"))
    unsealed_with_its_data(vault, sandbox)
    assert "the sandbox is at its baseline" in reset(sandbox)
