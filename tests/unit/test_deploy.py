"""The shipped examples for unattended verification (deploy/): what is validated, honestly.

- ``deploy/kubernetes/cronjob.yaml``: every key of every object is held against the official
  Kubernetes Python client's generated models (which come from the Kubernetes OpenAPI schema of
  that client's version): no unknown field anywhere, each value of the type the schema gives,
  then deserialised into ``V1CronJob`` with the client's own validation (required fields).
  Offline: no API server is asked, so admission rules (quotas, policies) are not checked. A
  control test shows a misspelt field is caught.
- ``deploy/systemd/*``: ``systemd-analyze verify`` on the units (the ExecStart path pointed at
  this checkout), with no unknown key allowed.
- ``deploy/bin/drconsole-scheduled``: run for real on small plans: exit code 0 and 1, and the
  metrics file and JUnit file it leaves, read by ``prometheus_client`` and ``junitparser``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from junitparser import Failure, JUnitXml
from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REPO

DEPLOY = REPO / "deploy"
_PRIMITIVE = {
    "str": str,
    "int": int,
    "bool": bool,
    "float": (int, float),
    "datetime": str,
    "bytes": str,
}


def schema_problems(value: Any, kind: str, where: str = "") -> list[str]:
    """Every place where ``value`` does not fit the client's model ``kind``."""
    if kind == "object":
        return []
    if kind in _PRIMITIVE:
        ok = isinstance(value, _PRIMITIVE[kind]) and not (kind == "int" and isinstance(value, bool))
        return [] if ok else [f"{where}: {value!r} is not {kind}"]
    listed = re.fullmatch(r"(?:list|List)\[(.+)\]", kind)
    if listed:
        if not isinstance(value, list):
            return [f"{where}: not a list"]
        inner = listed.group(1)
        return [p for i, v in enumerate(value) for p in schema_problems(v, inner, f"{where}[{i}]")]
    mapped = re.fullmatch(r"(?:dict\(str, (.+)\)|Dict\[str, (.+)\])", kind)
    if mapped:
        inner = mapped.group(1) or mapped.group(2)
        if not isinstance(value, dict):
            return [f"{where}: not a mapping"]
        return [p for k, v in value.items() for p in schema_problems(v, inner, f"{where}.{k}")]
    model = getattr(client, kind)
    if not isinstance(value, dict):
        return [f"{where}: not a mapping ({kind})"]
    fields = {json: attr for attr, json in model.attribute_map.items()}
    found = []
    for key, item in value.items():
        if key not in fields:
            found.append(f"{where}.{key}: no such field in {kind}")
        else:
            found += schema_problems(item, model.openapi_types[fields[key]], f"{where}.{key}")
    return found


def cronjobs() -> list[dict[str, Any]]:
    return [
        d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "cronjob.yaml").read_text()) if d
    ]


def test_the_cronjobs_fit_the_kubernetes_schema() -> None:
    jobs = cronjobs()
    assert [j["metadata"]["name"] for j in jobs] == [
        "drconsole-daily-backup-check",
        "drconsole-weekly-backup-verification",
    ]
    api = client.ApiClient()
    for job in jobs:
        assert (job["apiVersion"], job["kind"]) == ("batch/v1", "CronJob")
        assert schema_problems(job, "V1CronJob", job["metadata"]["name"]) == []
        model = api._ApiClient__deserialize(job, "V1CronJob")  # the client's own validation
        assert re.fullmatch(r"(\S+ ){4}\S+", model.spec.schedule)
        pod = model.spec.job_template.spec.template.spec
        assert pod.restart_policy == "Never"
        assert model.spec.job_template.spec.backoff_limit == 0  # a failed check is not rerun
        (container,) = pod.containers
        assert container.command == ["/opt/drconsole/deploy/bin/drconsole-scheduled"]
        plan = container.args[0].replace("/opt/drconsole", str(REPO))
        assert Path(plan).is_file(), plan


def test_a_misspelt_field_is_caught() -> None:
    job = cronjobs()[0]
    job["spec"]["schedul"] = job["spec"].pop("schedule")
    job["spec"]["jobTemplate"]["spec"]["backoffLimit"] = "none"
    assert sorted(schema_problems(job, "V1CronJob")) == [
        ".spec.jobTemplate.spec.backoffLimit: 'none' is not int",
        ".spec.schedul: no such field in V1CronJobSpec",
    ]


def test_the_systemd_units_verify(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is missing (Debian's systemd package)")
    for unit in (DEPLOY / "systemd").iterdir():
        text = unit.read_text().replace("/opt/drconsole/deploy/bin", str(DEPLOY / "bin"))
        (tmp_path / unit.name).write_text(text)
    units = sorted(str(p) for p in tmp_path.iterdir())
    assert len(units) == 4
    done = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True)
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    assert "Unknown" not in said, said
    assert "ignoring" not in said, said


@pytest.mark.parametrize("code", [0, 1])
def test_the_scheduled_wrapper_leaves_its_exit_code_metrics_and_junit(
    tmp_path: Path, backup_file: Path, code: int
) -> None:
    if code:  # the checksum beside the file no longer matches it
        backup_file.write_bytes(b"changed after the backup")
    plan = tmp_path / "tiny-check.yaml"
    plan.write_text(
        "id: tiny-check\ntitle: Tiny check\nkind: verification\nsteps:\n"
        f"  - {{id: look, check: local.file_sha256, with: {{path: {backup_file}, "
        f"expect_file: {backup_file}.sha256}}}}\n"
    )
    out = tmp_path / "reports"
    out.mkdir()
    env = {**os.environ, "DRCONSOLE": str(Path(sys.executable).parent / "drconsole"),
           "DRCONSOLE_RUNS_DIR": str(tmp_path / "runs"), "XDG_CACHE_HOME": str(tmp_path / "c")}  # fmt: skip
    done = subprocess.run(
        [DEPLOY / "bin" / "drconsole-scheduled", plan, out], env=env, capture_output=True, text=True
    )
    assert done.returncode == code, done.stdout + done.stderr
    metrics = {
        s.name: s.value
        for f in text_string_to_metric_families((out / "drconsole-tiny-check.prom").read_text())
        for s in f.samples
    }
    assert metrics["drconsole_last_run_success"] == (1.0 if code == 0 else 0.0)
    (suite,) = list(JUnitXml.fromfile(str(out / "drconsole-tiny-check.junit.xml")))
    (case,) = list(suite)
    assert case.is_passed is (code == 0)
    if code:
        assert isinstance(case.result[0], Failure)
