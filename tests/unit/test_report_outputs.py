"""JUnit XML and Prometheus metrics of real runs, read by the consumers monitoring uses: the
JUnit with ``junitparser`` (as CI systems read it), the metrics with ``prometheus_client``'s
own text parser; ``run --metrics-file`` writes them at the end, and is refused up front when
it cannot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from junitparser import Failure, JUnitXml, Skipped
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Cli, CliResult

PLAN = """
id: scenario
title: A retry, a failure, a skip
kind: verification
objectives: {rto: 1h, rpo: 5m}
steps:
  - id: brief
    title: Brief the participants
    manual: Read the scenario aloud.
  - id: probe
    title: Probe the closed health endpoint
    check: local.http_check
    with: {url: "http://127.0.0.1:1/health"}
    retry: {attempts: 2, backoff: fixed, delay: 0.2s}
    on_failure: continue
    when: "${inputs.probe}"
    needs: [brief]
  - id: optional
    action: local.sleep
    with: {seconds: 1}
    when: false
  - id: checksum
    check: local.file_sha256
    with: {path: "${inputs.file}", expect_file: "${inputs.file}.sha256"}
    needs: [brief]
  - id: restored
    milestone: service_restored
    needs: [probe, checksum]
inputs:
  file: {type: string, required: true}
  probe: {type: bool, default: false}
"""


@pytest.fixture
def scenario(cli: Cli, tmp_path: Path, backup_file: Path) -> Callable[..., tuple[CliResult, Path]]:
    plan, answers = tmp_path / "scenario.yaml", tmp_path / "answers.yaml"
    plan.write_text(PLAN)
    answers.write_text(yaml.safe_dump({"operator": "op-1", "steps": {"brief": {"confirm": True}}}))

    def run(*extra: str, file: Path = backup_file) -> tuple[CliResult, Path]:
        result = cli.run(plan, "--input", f"file={file}", *extra, answers=answers)
        return result, result.run_dir if result.out else tmp_path

    return run


def test_junit_has_a_case_per_step_failed_skipped_and_timed(
    cli: Cli, scenario: Callable[..., tuple[CliResult, Path]], tmp_path: Path
) -> None:
    _, run_dir = scenario("--input", "probe=true")
    out = tmp_path / "junit.xml"
    assert cli("report", run_dir, "--format", "junit", "--output", out).code == 0
    suites = JUnitXml.fromfile(str(out))
    (suite,) = list(suites)
    assert suite.name == "scenario"
    cases = {case.name: case for case in suite}
    assert len(cases) == 5
    assert suite.tests == 5
    assert suite.failures == 1
    assert suite.skipped == 1
    probe = cases["Probe the closed health endpoint (probe)"]
    (failure,) = probe.result
    assert isinstance(failure, Failure)
    assert "127.0.0.1:1" in (failure.message or "")
    assert "failed attempt 1/2: " in (failure.text or "")  # the retried attempt is told too
    assert probe.time >= 0.2  # two attempts with a 0.2 s wait between
    (skipped,) = cases["optional"].result
    assert isinstance(skipped, Skipped)
    assert "condition is false" in (skipped.message or "")
    assert cases["checksum"].is_passed
    assert cases["Brief the participants (brief)"].is_passed
    props = {p.name: p.value for p in suite.properties()}
    assert props["journal_verified"] == "yes"
    assert len(props["journal_final_hash"]) == 64


def _metrics(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def test_metrics_file_keeps_the_last_success_through_a_failed_run(
    scenario: Callable[..., tuple[CliResult, Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prom = tmp_path / "textfile" / "drconsole-scenario.prom"
    prom.parent.mkdir()
    first, _ = scenario("--metrics-file", prom)
    assert first.code == 0
    assert f"metrics: {prom}" in first.out
    good = _metrics(prom.read_text())
    assert good["drconsole_last_run_success"] == [({"plan": "scenario"}, 1.0)]
    success_at = good["drconsole_last_success_timestamp_seconds"][0][1]
    assert success_at == good["drconsole_last_run_timestamp_seconds"][0][1] > 1.7e9
    assert good["drconsole_last_run_steps_failed"][0][1] == 0
    assert good["drconsole_rto_objective_seconds"][0][1] == 3600
    assert 0 < good["drconsole_last_run_rto_seconds"][0][1] < 60
    assert good["drconsole_last_run_journal_verified"][0][1] == 1

    broken = tmp_path / "broken.dump"
    broken.write_bytes(b"not the backup")
    (tmp_path / "broken.dump.sha256").write_text("0" * 64 + "  broken.dump\n")
    second, run_dir = scenario("--metrics-file", prom, file=broken)
    assert second.code == 1
    bad = _metrics(prom.read_text())
    assert bad["drconsole_last_run_success"] == [({"plan": "scenario"}, 0.0)]
    assert bad["drconsole_last_success_timestamp_seconds"][0][1] == success_at
    assert bad["drconsole_last_run_steps_failed"][0][1] == 1
    assert "drconsole_last_run_rto_seconds" not in bad  # never restored: not a zero
    runs = {labels["result"]: value for labels, value in bad["drconsole_runs_total"]}
    assert runs == {"failed": 1.0, "succeeded": 1.0}
    kinds = {f.name: f.type for f in text_string_to_metric_families(prom.read_text())}
    assert kinds["drconsole_runs"] == "counter"  # the parser names a counter without _total
    info = bad["drconsole_last_run_info"][0][0]
    assert info["result"] == "failed"
    assert info["run_id"] == run_dir.name
    assert not list(prom.parent.glob(".*.tmp"))  # written whole, by rename


def test_a_metrics_file_that_cannot_be_written_is_refused_before_the_run(
    scenario: Callable[..., tuple[CliResult, Path]], tmp_path: Path
) -> None:
    result, _ = scenario("--metrics-file", tmp_path / "no" / "such" / "dir" / "x.prom")
    assert result.code == 2
    assert "does not exist" in result.err
    assert not (tmp_path / "runs").exists()  # nothing started
