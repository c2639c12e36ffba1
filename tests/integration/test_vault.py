"""Vault/OpenBao recovery on real OpenBao servers (the sandbox's): snapshot restore, force
restore into another cluster and unseal with the original shares, malformed, repeated and wrong
shares, a server down, restarted or sealed at the wrong moment (also mid-unseal), and no share
or token anywhere in the record."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from drconsole.adapters.vault import VaultAdapter
from drconsole.engine.answers import AnswersFile, AnswersOperator
from drconsole.engine.launch import prepare_new
from drconsole.engine.modes import Mode
from drconsole.engine.operator import Question
from drconsole.journal.journal import read_events, verify
from drconsole.sandbox import manager, openbao
from drconsole.secrets import Secret
from tests.conftest import REPO, Cli, CliResult, running_sandbox
from tests.integration.test_objectstore import FaultProxy

pytestmark = pytest.mark.slow

RESTORE = REPO / "plans" / "vault-snapshot-restore.yaml"
UNSEAL = REPO / "plans" / "vault-unseal.yaml"
CUSTODIANS = [{"name": n, "role": "key_custodian"} for n in ("Ahn", "Baek", "Choi")]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Path]:
    with running_sandbox("drconsole-vault-") as root:
        yield root


def bao(sandbox: Path, name: str) -> openbao.BaoServer:
    state = manager.load_state(sandbox)
    assert state is not None
    return {s.name: s for s in openbao.servers(sandbox, state.bao_ports or {})}[name]


def share(sandbox: Path, name: str, i: int) -> dict[str, str]:
    return {"file": str(bao(sandbox, name).dir / f"PRACTICE-ONLY-share-{i}")}


def kv(sandbox: Path, name: str, token_of: str | None = None) -> Any:
    server = bao(sandbox, name)
    token = bao(sandbox, token_of or name).practice_init()["root_token"]
    return server.client(token).secrets.kv.v2


def run(
    cli: Cli,
    tmp_path: Path,
    sandbox: Path,
    plan: Path,
    answers: dict[str, Any],
    *inputs: str,
) -> tuple[CliResult, Path]:
    path = tmp_path / "answers.yaml"
    path.write_text(yaml.safe_dump({"operator": "facilitator", "steps": answers}))
    args = [
        "run",
        plan,
        "--headless",
        "--targets",
        sandbox / "targets.yaml",
        "--answers",
        path,
        "--runs-dir",
        tmp_path / "runs",
    ]
    for item in inputs:
        args += ["--input", item]
    result = cli(*args)
    return result, result.run_dir


def outputs(run_dir: Path, step: str) -> dict[str, Any]:
    ends = [
        e.data for e in read_events(run_dir) if e.type == "step_finished" and e.data["step"] == step
    ]
    return dict(ends[-1].get("outputs") or {}) if ends else {}


def assert_no_secret_anywhere(cli: Cli, sandbox: Path, run_dir: Path, printed: str) -> None:
    report = cli("report", run_dir).out + cli("report", run_dir, "--format", "json").out
    record = "".join(p.read_text(errors="replace") for p in run_dir.rglob("*") if p.is_file())
    everything = printed + report + record
    for name in ("primary", "dr"):
        material = bao(sandbox, name).practice_init()
        for secret in [*material["keys"], material["root_token"]]:
            assert secret not in everything, f"a {name} secret leaked"
    assert verify(run_dir).ok


def refusals(run_dir: Path) -> list[dict[str, Any]]:
    return [e.data for e in read_events(run_dir) if e.type == "refused"]


def prompt(addr: str, name: str, n: int) -> str:
    return f"Unseal share of {name} ({n} of 3) for Vault 'primary' at {addr}"


def asked(addr: str, *who: str) -> list[str]:
    """The prompts for these custodians in turn (Ahn's share is the first, Choi's the third)."""
    order = {"Ahn": 1, "Baek": 2, "Choi": 3}
    return [prompt(addr, name, order[name]) for name in who]


def assert_unsealed_by_all_three(cli: Cli, sandbox: Path, run_dir: Path, printed: str = "") -> None:
    assert outputs(run_dir, "unseal")["used"] == ["Ahn", "Baek", "Choi"]
    assert_no_secret_anywhere(cli, sandbox, run_dir, printed)


def test_malformed_repeated_and_wrong_shares_get_clear_messages_and_a_fresh_round(
    cli: Cli, sandbox: Path, tmp_path: Path
) -> None:
    malformed, short = tmp_path / "malformed-share", tmp_path / "short-share"
    malformed.write_text("zz-this-is-not-a-share\n")
    short.write_text("ab" * 20 + "\n")  # hex, but 20 bytes: the server would count it
    secrets = [
        {"file": str(malformed)},
        {"file": str(short)},
        share(sandbox, "primary", 1),
        share(sandbox, "primary", 1),  # Baek presents Ahn's share
        share(sandbox, "primary", 2),
        share(sandbox, "dr", 1),  # wrong: another cluster
        share(sandbox, "primary", 1),
        share(sandbox, "primary", 2),
        share(sandbox, "primary", 3),
    ]
    result, run_dir = run(
        cli,
        tmp_path,
        sandbox,
        UNSEAL,
        {
            "seal-for-drill": {"typed": "seal primary"},
            "custodians": {"signoffs": CUSTODIANS},
            "unseal": {"secrets": secrets},
        },
        "simulate=true",
    )
    assert result.code == 0, result.out
    out, addr = outputs(run_dir, "unseal"), bao(sandbox, "primary").addr
    assert out["rounds"] == 2
    # each refusal is journaled with the question it answered and the reason, then asked again
    assert [(r["question"].partition(" (practice")[0], r["reason"]) for r in refusals(run_dir)] == [
        (prompt(addr, "Ahn", 1), "the share of Ahn is malformed: a share of this cluster is "
         "hex or base64 of 33 bytes"),
        (prompt(addr, "Ahn", 1), "the share of Ahn is malformed: a share of this cluster is "
         "hex or base64 of 33 bytes, this is 20 bytes"),
        (prompt(addr, "Baek", 2), "the share of Baek is the one Ahn presented: each "
         "custodian presents their own share"),
    ]  # fmt: skip
    assert out["problems"][:3] == [r["reason"] for r in refusals(run_dir)]
    assert "do not combine" in out["problems"][3]
    assert f"another cluster than Vault 'primary' at {addr}" in out["problems"][3]
    assert "the server reset progress" in out["problems"][3]
    assert_unsealed_by_all_three(cli, sandbox, run_dir, result.out + result.err)


class Custodians(AnswersOperator):
    """Answers from a dict; records each share's prompt and, as the second share is asked,
    calls ``fault`` (the server goes away)."""

    def __init__(self, steps: dict[str, Any], fault: Callable[[], None]) -> None:
        super().__init__(AnswersFile.model_validate({"operator": "facilitator", "steps": steps}))
        self.fault = fault
        self.prompts: list[str] = []

    async def secret(self, q: Question, prompt: str, problem: str | None = None) -> Secret:
        # on a sandbox every prompt ends saying where the practice shares are
        said, _, where = prompt.partition(" (practice shares of this sandbox: ")
        assert where.endswith("/openbao/primary/PRACTICE-ONLY-share-N)"), prompt
        self.prompts.append(said)
        if len(self.prompts) == 2:
            self.fault()
        return await super().secret(q, prompt, problem)


def unseal_in_process(
    sandbox: Path, tmp_path: Path, shares: list[int], fault: Callable[[], None], targets: Path
) -> tuple[Custodians, Path]:
    """The shipped unseal plan (a drill: it seals first) through the engine, in this process."""
    operator = Custodians(
        {
            "seal-for-drill": {"typed": "seal primary"},
            "custodians": {"signoffs": CUSTODIANS},
            "unseal": {"secrets": [share(sandbox, "primary", i) for i in shares]},
        },
        fault,
    )

    async def go() -> Path:
        prepared = prepare_new(
            UNSEAL, runs_dir=tmp_path / "runs", operator=operator, mode=Mode.DRILL,
            given_inputs={"simulate": "true"}, targets_path=targets,
        )  # fmt: skip
        try:
            await prepared.engine.run()
        finally:
            prepared.engine.journal.close()
        return prepared.run_dir

    return operator, asyncio.run(go())


def unseal_failures(run_dir: Path) -> list[dict[str, Any]]:
    return [e.data for e in read_events(run_dir) if e.type == "attempt_failed"]


def test_a_server_restarted_mid_unseal_is_retried_and_everyone_presents_again(
    cli: Cli, sandbox: Path, tmp_path: Path
) -> None:
    primary = bao(sandbox, "primary")
    restart = threading.Timer(1.0, primary.start)

    def outage() -> None:  # after Ahn's share counted: the server stops, and is back in 1 s
        primary.stop()
        restart.start()

    try:
        operator, run_dir = unseal_in_process(
            sandbox, tmp_path, [1, 2, 1, 2, 3], outage, sandbox / "targets.yaml"
        )
    finally:
        restart.join()
        primary.start()
        primary.unseal_for_practice()
    assert [e.data["result"] for e in read_events(run_dir) if e.type == "run_finished"] == [
        "succeeded"
    ]
    failures = unseal_failures(run_dir)
    assert failures
    assert all(f["step"] == "unseal" and f["transient"] for f in failures)
    assert f"unseal: {primary.addr} does not answer" in failures[0]["error"]
    # the restarted server had no progress: the next attempt read that and asked everyone again
    assert operator.prompts == asked(primary.addr, "Ahn", "Baek", "Ahn", "Baek", "Choi")
    assert_unsealed_by_all_three(cli, sandbox, run_dir)


def test_an_outage_that_keeps_the_progress_carries_on_where_the_server_is(
    cli: Cli, sandbox: Path, tmp_path: Path
) -> None:
    primary = bao(sandbox, "primary")
    proxy = FaultProxy(primary.port)
    targets = yaml.safe_load((sandbox / "targets.yaml").read_text())
    targets["sites"]["primary"]["vault"]["addr"] = f"http://127.0.0.1:{proxy.port}"
    (tmp_path / "targets.yaml").write_text(yaml.safe_dump(targets))
    try:  # Baek's share meets a 503; then Baek presents Ahn's share, which the server kept
        operator, run_dir = unseal_in_process(
            sandbox, tmp_path, [1, 2, 1, 2, 3], lambda: setattr(proxy, "fail", 1),
            tmp_path / "targets.yaml",
        )  # fmt: skip
    finally:
        proxy.close()
        primary.unseal_for_practice()
    failures = unseal_failures(run_dir)
    assert len(failures) == 1
    assert failures[0]["transient"]
    assert failures[0]["error"] == "unseal: the server is sealed or down"
    # Ahn was not asked again: the server still counted the share
    via = f"http://127.0.0.1:{proxy.port}"
    assert operator.prompts == asked(via, "Ahn", "Baek", "Baek", "Baek", "Choi")
    assert [r["reason"] for r in refusals(run_dir)] == [
        "the share of Baek was already presented (the server did not count it again): each "
        "custodian presents their own share"
    ]
    assert_unsealed_by_all_three(cli, sandbox, run_dir)


def test_a_restore_removes_what_came_after_the_snapshot(
    cli: Cli, sandbox: Path, tmp_path: Path
) -> None:
    store = kv(sandbox, "primary")
    store.create_or_update_secret(path="qsign/before", secret={"v": "kept"})
    said = manager.snapshot(sandbox, "primary")
    snapshot = said.split("uploaded to ")[1].strip()  # s3://qsign-backups/vault/snapshots/...
    assert snapshot.startswith("s3://qsign-backups/")
    store.create_or_update_secret(path="qsign/after", secret={"v": "lost"})
    result, run_dir = run(
        cli,
        tmp_path,
        sandbox,
        RESTORE,
        {"confirm": {"confirm": True}, "restore": {"typed": "restore vault primary"}},
        "site=primary",
        f"snapshot={snapshot}",
    )
    assert result.code == 0, result.out
    assert store.read_secret_version(path="qsign/before", raise_on_deleted_version=True)
    with pytest.raises(Exception, match="None|404|InvalidPath|not found"):
        store.read_secret_version(path="qsign/after", raise_on_deleted_version=True)
    assert outputs(run_dir, "custodians") == {}  # not sealed: no unseal needed
    assert outputs(run_dir, "secrets")["count"] == 2
    assert_no_secret_anywhere(cli, sandbox, run_dir, result.out + result.err)


def test_force_restore_into_the_dr_cluster_then_unseal_with_the_original_shares(
    cli: Cli, sandbox: Path, tmp_path: Path
) -> None:
    snapshot = manager.snapshot(sandbox, "primary").split()[1]
    without_force, _ = run(
        cli,
        tmp_path,
        sandbox,
        RESTORE,
        {"confirm": {"confirm": True}, "restore": {"typed": "restore vault dr"}},
        "site=dr",
        f"snapshot={snapshot}",
    )
    assert without_force.code == 1
    assert "comes from another cluster" in without_force.out
    assert "restore with force" in without_force.out
    result, run_dir = run(
        cli,
        tmp_path,
        sandbox,
        RESTORE,
        {
            "confirm": {"confirm": True},
            "restore": {"typed": "restore vault dr"},
            "custodians": {"signoffs": CUSTODIANS},
            "unseal": {"secrets": [share(sandbox, "primary", i) for i in (2, 4, 5)]},
            "secrets": {
                "secrets": [{"file": str(bao(sandbox, "primary").dir / "PRACTICE-ONLY-root-token")}]
            },
        },
        "site=dr",
        f"snapshot={snapshot}",
        "force=true",
    )
    assert result.code == 0, result.out
    restored = outputs(run_dir, "restore")
    assert restored["forced"] is True
    assert "ORIGINAL cluster's shares" in restored["next"]
    assert outputs(run_dir, "sealed-config")["sealed"] is True
    assert outputs(run_dir, "unseal")["used"] == ["Ahn", "Baek", "Choi"]
    assert (
        kv(sandbox, "dr", token_of="primary").read_secret_version(
            path="qsign/db", raise_on_deleted_version=True
        )["data"]["data"]["username"]
        == "qsign"
    )
    assert "RPO" in result.out
    assert_no_secret_anywhere(cli, sandbox, run_dir, result.out + result.err)


def test_a_sealed_server_is_retried_and_a_dead_one_reported_at_once(
    cli: Cli, sandbox: Path, tmp_path: Path, write_plan: Callable[..., Path]
) -> None:
    plan = write_plan(
        "id: v\ntitle: V\nkind: verification\nsteps:\n"
        "  - id: secrets\n    check: vault.verify_secrets\n    site: primary\n"
        "    with: {paths: {qsign/db: [username]}}\n"
        "    retry: {attempts: 3, delay: 0.2s}\n"
    )
    primary = bao(sandbox, "primary")
    adapter = VaultAdapter(
        {"addr": primary.addr, "token_file": str(primary.dir / "PRACTICE-ONLY-root-token")}
    )
    adapter.seal()
    sealed = cli.run(plan, targets=sandbox / "targets.yaml")
    assert sealed.code == 1
    assert sealed.out.count("sealed or down") >= 3
    primary.stop()
    try:
        down = cli.run(plan, targets=sandbox / "targets.yaml")
        assert down.code == 1
        # a local server whose process is gone is not retried: it will not come back by itself
        assert f"the server at {primary.addr} is not running" in down.out
        assert "attempt 2/3" not in down.out
    finally:
        primary.start()
        primary.unseal_for_practice()


def test_the_unseal_prompt_names_whose_keys_and_where_practice_shares_lie() -> None:
    """After a force restore the DR cluster holds the primary's keyring: the custodians'
    prompt says so, and on a sandbox points at that cluster's practice shares."""
    from drconsole.adapters.base import ActionContext
    from drconsole.adapters.vault import VaultAdapter
    from drconsole.adapters.vaultunseal import Unseal

    shares = {"primary": "/s/primary/PRACTICE-ONLY-share-N", "dr": "/s/dr/PRACTICE-ONLY-share-N"}
    vault = VaultAdapter({"addr": "http://127.0.0.1:9", "practice_shares": shares})
    on_dr = ActionContext(site_name="dr")
    assert (
        Unseal(vault, on_dr).whose_keys()
        == " (practice shares of this sandbox: /s/dr/PRACTICE-ONLY-share-N)"
    )
    said = Unseal(vault, on_dr, keyring="primary").whose_keys()
    assert said.startswith(": it holds the primary cluster's keyring: give a share of primary's")
    assert said.endswith("(practice shares of this sandbox: /s/primary/PRACTICE-ONLY-share-N)")
    assert Unseal(VaultAdapter({"addr": "http://127.0.0.1:9"}), on_dr).whose_keys() == ""
