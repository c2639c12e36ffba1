"""Step guards: a step is refused while its condition holds, unless the operator types the
override and gives a reason; both are journaled. A step with several guards needs each one's
override. And local.notify: webhook, else a file."""

from __future__ import annotations

import http.server
import json
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from drconsole.adapters.base import ActionContext, PermanentError
from drconsole.adapters.local import NotifyParams, _local
from drconsole.journal.journal import JournalWriter, read_events
from drconsole.runs.read import read_run
from drconsole.runs.rundir import PLAN_COPY, load_state
from tests.conftest import Cli, CliResult

PLAN = """
id: guarded
title: Guarded
kind: failover
inputs:
  primary_up: {type: bool, default: true}
steps:
  - id: look
    check: local.file_sha256
    with: {path: PLANFILE}
  - id: promote
    action: local.command
    with: {argv: [touch, MARKER]}
    guard:
      refuse_when: "${inputs.primary_up}"
      because: the primary still accepts writes
      override: PROMOTE ANYWAY
    needs: [look]
"""


@pytest.fixture
def run(cli: Cli, tmp_path: Path) -> Callable[..., tuple[CliResult, Path, Path]]:
    marker = tmp_path / "marker"
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.replace("MARKER", str(marker)).replace("PLANFILE", str(plan)))

    def go(answers: dict[str, Any], *extra: str) -> tuple[CliResult, Path, Path]:
        path = tmp_path / "answers.yaml"
        path.write_text(yaml.safe_dump(answers))
        result = cli.run(plan, *extra, answers=path)
        return result, result.run_dir, marker

    return go


def test_a_guard_refuses_without_an_override(run: Callable[..., Any]) -> None:
    result, run_dir, marker = run({})
    assert result.code == 1
    step = load_state(run_dir).steps["promote"]
    assert step.status == "failed"
    assert "refused: the primary still accepts writes; nothing was done" in str(step.error)
    assert not marker.exists()


def test_a_wrong_override_is_refused(run: Callable[..., Any]) -> None:
    answers = {"steps": {"promote": {"override": {"typed": "promote", "reason": "x"}}}}
    result, run_dir, marker = run(answers)
    assert result.code == 1
    step = load_state(run_dir).steps["promote"]
    assert "refused: the primary still accepts writes" in str(step.error)
    assert not any("overridden" in str(a["answer"]) for a in step.answers)
    assert not marker.exists()


def test_an_override_with_a_reason_goes_ahead_and_is_journaled(run: Callable[..., Any]) -> None:
    answers = {
        "steps": {
            "promote": {"override": {"typed": "PROMOTE ANYWAY", "reason": "fenced at the switch"}}
        }
    }
    result, run_dir, marker = run(answers)
    assert result.code == 0, result.err
    assert marker.exists()
    state = load_state(run_dir)
    assert [a["answer"] for a in state.steps["promote"].answers if a["question"] != "evidence"] == [
        "overridden: fenced at the switch"
    ]
    assert [(r["question"], r["reason"]) for r in state.refusals] == [
        ("guard", "the primary still accepts writes")
    ]


def test_no_guard_when_the_condition_is_false(run: Callable[..., Any]) -> None:
    result, _, marker = run({}, "--input", "primary_up=false")
    assert result.code == 0
    assert marker.exists()


TWO_GUARDS = """
id: two-guards
title: Two guards
kind: failover
inputs:
  primary_up: {type: bool, default: true}
  standby_stale: {type: bool, default: true}
steps:
  - id: promote
    action: local.command
    with: {argv: [touch, MARKER]}
    guard:
      - refuse_when: "${inputs.primary_up}"
        because: the primary still accepts writes
        override: PROMOTE ANYWAY
      - refuse_when: "${inputs.standby_stale}"
        because: the standby is past the RPO
        override: PROMOTE STALE
"""


@pytest.mark.parametrize(
    ("inputs", "overrides", "refused_by"),
    [
        ([], [("PROMOTE ANYWAY", "fenced")], "the standby is past the RPO"),
        ([], [("PROMOTE STALE", "accepted loss")], "the primary still accepts writes"),
        (["primary_up=false"], [], "the standby is past the RPO"),
        (["primary_up=false"], [("PROMOTE ANYWAY", "fenced")], "the standby is past the RPO"),
        (["standby_stale=false"], [("PROMOTE STALE", "x")], "the primary still accepts writes"),
    ],
)
def test_each_guard_of_a_step_needs_its_own_override(
    cli: Cli,
    tmp_path: Path,
    inputs: list[str],
    overrides: list[tuple[str, str]],
    refused_by: str,
) -> None:
    marker = tmp_path / "marker"
    plan = tmp_path / "plan.yaml"
    plan.write_text(TWO_GUARDS.replace("MARKER", str(marker)))
    given = [{"typed": typed, "reason": reason} for typed, reason in overrides]
    answers = tmp_path / "answers.yaml"
    answers.write_text(yaml.safe_dump({"steps": {"promote": {"override": given}}}))
    args = [a for i in inputs for a in ("--input", i)]
    result = cli.run(plan, *args, answers=answers)
    assert result.code == 1
    step = load_state(result.run_dir).steps["promote"]
    assert f"refused: {refused_by}" in str(step.error)
    assert not marker.exists()


def test_two_guards_overridden_each_with_its_reason_go_ahead(cli: Cli, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    plan = tmp_path / "plan.yaml"
    plan.write_text(TWO_GUARDS.replace("MARKER", str(marker)))
    overrides = [
        {"typed": "PROMOTE STALE", "reason": "the loss is accepted by the IC"},
        {"typed": "PROMOTE ANYWAY", "reason": "fenced at the switch"},
    ]
    answers = tmp_path / "answers.yaml"
    answers.write_text(yaml.safe_dump({"steps": {"promote": {"override": overrides}}}))
    result = cli.run(plan, answers=answers)
    assert result.code == 0, result.out
    assert marker.exists()
    said = [
        e.data.get("answer") or e.data.get("reason")
        for e in read_events(result.run_dir)
        if e.data.get("question") in ("guard", "guard override")
    ]
    assert said == [
        "the primary still accepts writes",
        "overridden: fenced at the switch",
        "the standby is past the RPO",
        "overridden: the loss is accepted by the IC",
    ]


def test_a_guard_refusal_is_a_refused_event_like_every_other(run: Callable[..., Any]) -> None:
    result, run_dir, _ = run({})
    guard = [e for e in read_events(run_dir) if e.data.get("question") == "guard"]
    assert [(e.type, e.data) for e in guard] == [
        (
            "refused",
            {
                "step": "promote",
                "question": "guard",
                "reason": "the primary still accepts writes",
                "by": "drconsole",
            },
        )
    ]
    assert read_run(run_dir).refusals == load_state(run_dir).refusals


def test_an_old_journals_guard_refusal_still_reads_as_a_refusal(
    run: Callable[..., Any], tmp_path: Path
) -> None:
    """Journals written before guards' refusals were ``refused`` events: the same refusal."""
    result, run_dir, _ = run({})
    old = tmp_path / "old-run"
    old.mkdir()
    shutil.copy(run_dir / PLAN_COPY, old / PLAN_COPY)
    journal = JournalWriter.create(old)
    for e in read_events(run_dir):
        if e.type == "refused" and e.data["question"] == "guard":
            data = {**e.data, "answer": f"refused: {e.data['reason']}"}
            data.pop("reason")
            journal.append("operator_answer", data)
        else:
            journal.append(e.type, e.data)
    journal.close()
    then, now = read_run(old).refusals, read_run(run_dir).refusals
    assert [{**r, "at": None} for r in then] == [{**r, "at": None} for r in now]
    assert then[0]["reason"] == "the primary still accepts writes"


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(_Hook.status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Hook.received.clear()
    _Hook.status = 200
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_notify_posts_to_the_webhook(webhook: str) -> None:
    out = _local.notify(
        NotifyParams(subject="s", message="m", webhook_url=webhook), ActionContext()
    )
    assert out["delivered_via"] == "webhook"
    assert _Hook.received[0]["subject"] == "s"


def test_notify_falls_back_to_a_file_when_the_webhook_fails(webhook: str, tmp_path: Path) -> None:
    _Hook.status = 500
    path = tmp_path / "messages.log"
    params = NotifyParams(subject="failover", message="done", webhook_url=webhook, file=str(path))
    out = _local.notify(params, ActionContext())
    assert out["delivered_via"] == "file"
    assert "answered 500" in out["webhook"]
    assert "failover\ndone" in path.read_text()


def test_notify_with_nowhere_to_send_says_so() -> None:
    with pytest.raises(PermanentError, match="nowhere to send"):
        _local.notify(NotifyParams(subject="s", message="m"), ActionContext())
