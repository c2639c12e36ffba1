"""Secrets given to the operator never reach the journal, the report or the printed output."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from drconsole.adapters import registry
from drconsole.adapters.base import ActionContext, ActionSpec, Effect, Params, PermanentError
from drconsole.secrets import Secret, SecretSourceError, secret_from_reference
from tests.conftest import Cli

SHARE = "practice-share-7f3a9c1e5b"


class EchoParams(Params):
    count: int = 2


def _echo(ctx: ActionContext, params: EchoParams) -> Mapping[str, Any]:
    """A test action that behaves badly on purpose: it puts the secrets it got everywhere."""
    assert ctx.ask_secret is not None
    got = [ctx.ask_secret(f"share {i + 1}") for i in range(params.count)]
    for secret in got:
        ctx.log(f"server echoed {secret.reveal()}")
    if params.count > 2:
        raise PermanentError(f"share {got[-1].reveal()} was refused")
    return {"echo": " ".join(s.reveal() for s in got), "how_many": len(got)}


@pytest.fixture
def echo_action() -> Iterator[None]:
    spec = ActionSpec(
        name="test.echo_secrets",
        summary="test only",
        params=EchoParams,
        outputs={"echo": "", "how_many": ""},
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=_echo,
        describe=lambda p: "echo secrets",
    )
    registry.actions()[spec.name] = spec
    yield
    del registry.actions()[spec.name]


@pytest.mark.usefixtures("echo_action")
@pytest.mark.parametrize("count", [2, 3])
def test_secrets_are_masked_everywhere(
    cli: Cli,
    write_plan: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    count: int,
) -> None:
    monkeypatch.setenv("SHARE_ONE", SHARE)
    (tmp_path / "share2").write_text(SHARE[::-1] + "\n")
    (tmp_path / "share3").write_text("third-share-value-99\n")
    plan = write_plan(
        f"id: s\ntitle: S\nkind: drill\nsteps:\n"
        f"  - {{id: unseal, action: test.echo_secrets, with: {{count: {count}}}}}\n"
    )
    answers = tmp_path / "answers.yaml"
    answers.write_text(
        yaml.safe_dump(
            {
                "steps": {
                    "unseal": {
                        "secrets": [
                            {"env": "SHARE_ONE"},
                            {"file": str(tmp_path / "share2")},
                            {"file": str(tmp_path / "share3")},
                        ]
                    }
                }
            }
        )
    )
    result = cli.run(plan, answers=answers, runs=tmp_path / "r")
    assert result.code == (0 if count == 2 else 1)
    run_dir = result.run_dir
    report = cli("report", run_dir).out + cli("report", run_dir, "--format", "json").out
    everything = (
        result.out
        + result.err
        + report
        + "".join(p.read_text() for p in run_dir.rglob("*") if p.is_file())
    )
    for secret in (SHARE, SHARE[::-1], "third-share-value-99"):
        assert secret not in everything
    assert "[redacted]" in everything
    assert "secret given (env)" in report


def test_a_secret_must_be_named_not_written() -> None:
    with pytest.raises(SecretSourceError, match="must be named, not written out"):
        secret_from_reference({"value": "hunter2"})
    with pytest.raises(SecretSourceError, match="is not set"):
        secret_from_reference({"env": "DRCONSOLE_TEST_UNSET_VARIABLE"})


def test_a_secret_never_shows_itself() -> None:
    secret = Secret("hunter2")
    assert "hunter2" not in f"{secret} {secret!r}"
    assert secret.reveal() == "hunter2"


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("password", True),
        ("db_password", True),
        ("root_token", True),
        ("unseal_key", True),
        ("secret_id", True),
        ("shares", False),
        ("token_ttl", False),
        ("password_env", False),
        ("token_file", False),
        ("threshold", False),
    ],
)
def test_secret_keys_are_known_by_their_ending(key: str, secret: bool) -> None:
    from drconsole.journal.redact import Redactor
    from drconsole.secrets import is_secret_key

    assert is_secret_key(key) is secret
    assert (Redactor().clean({key: "value"})[key] == "[redacted]") is secret


@pytest.mark.parametrize("how", ["token_file", "token_env"])
def test_a_token_from_the_targets_is_masked_in_whatever_prints_it(
    cli: Cli,
    write_plan: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    """A step that prints the site's Vault token (a careless script, say) before any Vault
    step has read it: the token is masked in the journal, the live output and both reports."""
    token = f"practice-vault-token-{how}-5d2e8c0a41"  # one per case: the registry is global
    token_file = tmp_path / "root-token"
    token_file.write_text(token + "\n")
    monkeypatch.setenv("DRCONSOLE_TEST_VAULT_TOKEN", token)
    where = str(token_file) if how == "token_file" else "DRCONSOLE_TEST_VAULT_TOKEN"
    targets = tmp_path / "targets.yaml"
    targets.write_text(
        yaml.safe_dump(
            {"sites": {"primary": {"vault": {"addr": "http://127.0.0.1:9", how: where}}}}
        )
    )
    plan = write_plan(
        f"""
        id: leak
        title: Leak
        kind: drill
        steps:
          - id: show
            action: local.command
            with: {{argv: [sh, -c, "cat {token_file}; echo again $DRCONSOLE_TEST_VAULT_TOKEN"]}}
        """
    )
    result = cli.run(plan, targets=targets, runs=tmp_path / "r")
    assert result.code == 0, result.err
    run_dir = result.run_dir
    md = cli("report", run_dir).out
    js = cli("report", run_dir, "--format", "json").out
    journal = (run_dir / "journal.jsonl").read_text()
    for text in (result.out, result.err, md, js, journal):
        assert token not in text
    assert "again [redacted]" in result.out
    assert "again [redacted]" in journal


def test_whatever_reads_a_secret_registers_it_for_masking(tmp_path: Path) -> None:
    """The Vault adapter reading its token file, or a share typed at a prompt: from then on
    the redactor masks the value in any text, whoever prints it."""
    from drconsole.adapters.vault import VaultAdapter
    from drconsole.journal.redact import Redactor

    token = "practice-token-read-by-the-adapter-31c9"
    (tmp_path / "token").write_text(token + "\n")
    VaultAdapter({"addr": "http://127.0.0.1:9", "token_file": str(tmp_path / "token")}).client()
    typed = Secret("typed-share-value-8e21")
    line = f"output: {token} and {typed.reveal()}"
    assert Redactor().clean(line) == "output: [redacted] and [redacted]"
