"""Who runs a run is one name, headless or in the console: the login name unless one is given
(``--operator``, or an answers file's ``operator``), in the run's title, the journal and the
report alike."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from drconsole.journal.journal import read_events
from tests.conftest import REPO, Cli

HELLO = REPO / "plans" / "hello-drill.yaml"
DRY = ("--yes", "--input", "file=/etc/hostname")


def said(cli: Cli, run_dir: Path) -> tuple[str, str]:
    """The operator the journal's run_started names, and the report's."""
    started = next(e for e in read_events(run_dir) if e.type == "run_started")
    report = json.loads(cli("report", run_dir, "--format", "json").out)
    return started.data["operator"], report["operator"]


def console_operator(cli: Cli, monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    """The name the console would run as (its app built as ``drconsole`` builds it)."""
    from drconsole.tui.app import DrConsoleApp

    seen: dict[str, Any] = {}
    monkeypatch.setattr(DrConsoleApp, "run", lambda app: seen.setdefault("app", app))
    assert cli("console", "--runs-dir", cli.runs, *args).code == 0
    return str(seen["app"].operator_name)


def test_a_headless_run_names_the_login_as_the_console_does(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    me = getpass.getuser()
    result = cli.run(HELLO, *DRY, mode="dry-run")
    assert result.code == 0, result.out
    title = result.out.splitlines()[1:3]
    assert title == [
        "DRY-RUN (calls nothing) │ Hello drill",
        f"operator {me} │ run {result.run_dir.name}",
    ]
    assert said(cli, result.run_dir) == (me, me)
    assert console_operator(cli, monkeypatch) == me


def test_a_name_given_is_the_name_everywhere(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    answers = tmp_path / "answers.yaml"
    answers.write_text(yaml.safe_dump({"operator": "oncall"}))
    result = cli.run(HELLO, *DRY, mode="dry-run", answers=answers)
    assert result.code == 0, result.out
    assert f"operator oncall │ run {result.run_dir.name}" in result.out.splitlines()
    assert said(cli, result.run_dir) == ("oncall", "oncall")
    given = cli.run(HELLO, *DRY, "--operator", "kim", mode="dry-run", answers=answers)
    assert said(cli, given.run_dir) == ("kim", "kim")  # --operator over the answers file
    assert console_operator(cli, monkeypatch, "--operator", "kim") == "kim"


def test_a_command_option_given_before_the_command_says_where_it_goes(cli: Cli) -> None:
    said = cli("--operator", "kim")
    assert said.code == 2
    assert "--operator is an option of a command and goes after it" in said.err
    assert "drconsole console --operator kim" in said.err
    assert "invalid choice" not in said.err
