"""A guarded step's description (the run screen's "Does:", the journal, the log) says its
guard in words with what it reads at that moment, never the plan's raw ``${...}``."""

from __future__ import annotations

from pathlib import Path

from drconsole.journal.journal import read_events
from tests.conftest import Cli

PLAN = """
id: guarded-words
title: Guarded words
kind: failover
steps:
  - id: primary-writes
    action: local.command
    with: {argv: ["true"]}
  - id: promote
    action: local.command
    with: {argv: ["true"]}
    guard:
      refuse_when: "${steps.primary-writes.outputs.exit_code}"
      because: the primary still accepts writes
      override: PROMOTE ANYWAY
    needs: [primary-writes]
"""


def test_a_guard_is_described_in_words_with_its_value(cli: Cli, tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    result = cli.run(plan)
    assert result.code == 0, result.out
    started = next(
        e.data["description"]
        for e in read_events(result.run_dir)
        if e.type == "step_started" and e.data["step"] == "promote"
    )
    assert "${" not in started, started
    assert started.endswith("(refused while primary-writes's exit_code is true; now 0)"), started
