"""Restarting a Vault node after a force restore without waiting out OpenBao's fixed restore
delay (issue 18, item 1), on the sandbox's real servers: the restore step returns once the server
has applied the snapshot, the restart stops the node at once, and after the unseal with the
original cluster's shares the restored data is all there. (The log reading itself:
tests/unit/test_vault_restore_log.py.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from drconsole.adapters import vaultsnap
from drconsole.adapters.base import ActionContext
from drconsole.adapters.vault import VaultAdapter
from drconsole.adapters.vaultunseal import Unseal
from drconsole.sandbox import manager, openbao
from drconsole.secrets import Secret
from tests.conftest import running_sandbox

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Path]:
    with running_sandbox("drconsole-vault-restart-") as root:
        yield root


def test_restart_after_a_force_restore_skips_the_restore_delay_and_keeps_the_data(
    sandbox: Path,
) -> None:
    state = manager.load_state(sandbox)
    assert state is not None
    servers = {s.name: s for s in openbao.servers(sandbox, state.bao_ports or {})}
    primary, dr = servers["primary"], servers["dr"]
    section = yaml.safe_load((sandbox / "targets.yaml").read_text())["sites"]["dr"]["vault"]
    vault = VaultAdapter(section)
    said: list[str] = []
    ctx = ActionContext(site={"vault": section}, site_name="dr", log=said.append)

    plain = vault.restart(ctx)  # no restore pending: an ordinary stop
    assert plain["stopped"] == "stopped"
    assert plain["sealed"] is True
    dr.unseal_for_practice()

    snapshot = manager.snapshot(sandbox, "primary").split()[1]
    restored = vaultsnap.snapshot_restore(vault, snapshot, True, ctx, wait_for_seal=False)
    assert restored["applied"] is True
    start = time.monotonic()
    restarted = vault.restart(ctx)
    took = time.monotonic() - start
    assert restarted["stopped"] == "killed, the restore applied"
    assert restarted["sealed"] is True
    assert took < 3.0, f"the restart took {took:.1f} s: it waited out the 5 s restore delay"

    shares = iter(
        Secret((primary.dir / f"PRACTICE-ONLY-share-{i}").read_text().strip()) for i in (1, 3, 5)
    )
    ctx.ask_secret = lambda prompt, problem=None: next(shares)
    unsealed = Unseal(vault, ctx, keyring="primary").run(["Ahn", "Baek", "Choi"], rounds=1)
    assert unsealed["sealed"] is False
    token = primary.practice_init()["root_token"]
    primary.wait_leader_of(dr)  # dr, holding the primary's data, elects itself leader
    for path, secret in openbao.SAMPLE_SECRETS.items():
        read = dr.client(token).secrets.kv.v2.read_secret_version(
            path=path, mount_point="secret", raise_on_deleted_version=True
        )
        assert read["data"]["data"] == secret
    assert not dr.own_token_works()  # it holds the primary's data now, not its own


def test_reset_after_a_failover_cut_short_with_the_dr_vault_sealed_on_the_primarys_keyring(
    sandbox: Path,
) -> None:
    """A failover killed between the DR Vault's force restore and its unseal leaves it sealed
    on the primary's keyring: its own practice shares fail to decrypt that keyring, which
    OpenBao refuses with an error. Reset tries the primary's shares next, then makes the DR an
    empty cluster of its own (it raised hvac's InvalidRequest, a traceback, before)."""
    from drconsole.sandbox.reset import reset

    state = manager.load_state(sandbox)
    assert state is not None
    servers = {s.name: s for s in openbao.servers(sandbox, state.bao_ports or {})}
    primary, dr = servers["primary"], servers["dr"]
    section = yaml.safe_load((sandbox / "targets.yaml").read_text())["sites"]["dr"]["vault"]
    if not dr.own_token_works():  # the test before left it holding the primary's data
        section["token_file"] = str(primary.dir / "PRACTICE-ONLY-root-token")
    vault = VaultAdapter(section)
    ctx = ActionContext(site={"vault": section}, site_name="dr", log=lambda _line: None)
    snapshot = manager.snapshot(sandbox, "primary").split()[1]
    vaultsnap.snapshot_restore(vault, snapshot, True, ctx, wait_for_seal=False)
    assert vault.restart(ctx)["sealed"] is True  # where the killed failover left it

    said = reset(sandbox)

    assert "OpenBao dr unsealed with the practice shares" in said
    assert "OpenBao dr made an empty cluster of its own again" in said
    assert dr.own_token_works()
    assert not dr.client().sys.read_seal_status()["sealed"]
