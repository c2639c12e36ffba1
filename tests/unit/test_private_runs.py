"""A run directory and everything drconsole writes into it are private to the operator (0700 for
directories, 0600 for files) whatever the umask: plan and targets copies, the journal, its head,
the lock, a torn line kept aside on repair, and reports written inside."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import Cli, kill_run, start_run

PLAN = """
id: private
title: Private
kind: drill
steps:
  - {id: long, action: local.command, with: {argv: [sleep, "30"]}, site: sandbox}
"""


@pytest.fixture
def umask_0() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def modes(run_dir: Path) -> dict[str, str]:
    found = {".": oct(stat.S_IMODE(run_dir.stat().st_mode))}
    for path in run_dir.rglob("*"):
        found[str(path.relative_to(run_dir))] = oct(stat.S_IMODE(path.stat().st_mode))
    return found


def test_everything_in_a_run_directory_is_private_whatever_the_umask(
    tmp_path: Path, umask_0: None, cli: Cli
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    targets = tmp_path / "targets.yaml"
    targets.write_text(yaml.safe_dump({"sites": {"sandbox": {"drill": True}}}))
    answers = tmp_path / "answers.yaml"
    answers.write_text(
        yaml.safe_dump({"steps": {"long": {"on_interrupted": "mark_done", "reason": "ran"}}})
    )
    args = [str(plan), "--headless", "--targets", str(targets), "--runs-dir", str(tmp_path / "r")]
    proc, run_dir = start_run(args, "long")  # the child inherits the umask of 0
    kill_run(proc)
    with (run_dir / "journal.jsonl").open("a") as journal:
        journal.write('{"seq":')  # a torn line, so that resume keeps it in journal.partial
    assert cli("resume", run_dir, "--headless", "--answers", answers).code == 0
    assert cli("report", run_dir, "--output", run_dir / "report.md").code == 0
    found = modes(run_dir)
    expected = {
        name
        for name in (
            "plan.yaml",
            "targets.yaml",
            "journal.jsonl",
            "journal.head",
            "journal.partial",
            "driver.lock",
            "artefacts",
            "report.md",
        )
    }
    assert expected <= set(found), found
    assert {name: mode for name, mode in found.items() if mode not in ("0o700", "0o600")} == {}
    assert all(
        found[name] == ("0o700" if (run_dir / name).is_dir() else "0o600") for name in found
    ), found
