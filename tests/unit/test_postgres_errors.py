"""Bad input around PostgreSQL and the sandbox: clear messages, retries, nothing lost."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from drconsole.adapters.oscmd import free_port
from drconsole.journal.journal import read_events
from drconsole.sandbox import manager
from tests.conftest import Cli


def test_a_dead_server_is_retried_then_reported(
    cli: Cli, write_plan: Callable[..., Path], tmp_path: Path
) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text(
        yaml.safe_dump(
            {
                "sites": {
                    "primary": {
                        "postgres": {
                            "host": "127.0.0.1",
                            "port": free_port(),
                            "dbname": "qsign",
                            "user": "qsign",
                        }
                    }
                }
            }
        )
    )
    plan = write_plan(
        "id: p\ntitle: P\nkind: verification\nsteps:\n"
        "  - id: ping\n    check: postgres.ping\n    site: primary\n"
        "    retry: {attempts: 3, delay: 0.01s}\n"
    )
    result = cli.run(plan, targets=targets, runs=tmp_path / "r")
    assert result.code == 1
    run_dir = result.run_dir
    failures = [e.data for e in read_events(run_dir) if e.type == "attempt_failed"]
    assert len(failures) == 3
    assert all("does not answer" in f["error"] for f in failures)
    assert "Traceback" not in result.out + result.err


def test_a_site_without_a_postgres_section_is_named(
    cli: Cli, write_plan: Callable[..., Path], tmp_path: Path
) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text(yaml.safe_dump({"sites": {"primary": {"drill": True}}}))
    plan = write_plan(
        "id: p\ntitle: P\nkind: verification\nsteps:\n"
        "  - {id: ping, check: postgres.ping, site: primary}\n"
    )
    result = cli.run(plan, targets=targets, runs=tmp_path / "r")
    assert result.code == 1
    assert "no postgres section in the targets file" in result.out


def test_sandbox_commands_without_a_sandbox_say_what_to_do(cli: Cli, tmp_path: Path) -> None:
    for command in ("status", "down", "env"):
        result = cli("sandbox", command, "--dir", tmp_path / "none")
        assert result.code == 1
        assert "no sandbox in" in result.err
        assert "drconsole sandbox up --dir" in result.err


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the clusters as another user")
def test_a_sandbox_directory_the_cluster_user_cannot_reach_is_refused(
    cli: Cli, tmp_path: Path
) -> None:
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    result = cli("sandbox", "up", "--dir", closed / "sbx")
    assert result.code == 1
    assert "cannot reach" in result.err
    assert "choose a sandbox directory under an open path" in result.err
    assert manager.load_state(closed / "sbx") is None
