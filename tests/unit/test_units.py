"""A number a person reads says its unit: step outputs named for bytes or seconds are shown
with it (and a size in KiB/MiB, a long time as a duration) in the Markdown, HTML and JUnit
reports and on the console's run screen (all through events.show); the JSON keeps the number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from drconsole.engine.events import show, with_unit
from tests.conftest import REPO, Cli
from tests.unit.test_cli_report import ANSWERS


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("size", 1572864, "1,572,864 bytes (1.5 MiB)"),
        ("size", 12, "12 bytes"),
        ("lag_bytes", 0, "0 bytes"),
        ("latest_size", 3 * 1024**3, "3,221,225,472 bytes (3.0 GiB)"),
        ("age_s", 5400.5, "5400.5 s (1h30m)"),
        ("waited_s", 2.5, "2.5 s"),
        ("ttl", 300, "300 s (5m00s)"),
        ("elapsed_ms", 12.5, "12.5 ms"),
        ("mb_per_s", 88.1, "88.1 MB/s"),
        ("change", -0.125, "-12.5%"),
        ("count", 5, "5"),  # a count is its own unit
        ("within_rpo", True, "yes"),
        ("age_s", None, "-"),
        ("row", [True], "yes"),  # a query's first row: yes as for a value of its own
        ("row", [500, "x"], "500 x"),
    ],
)
def test_a_number_named_for_its_unit_is_shown_with_it(key: str, value: object, shown: str) -> None:
    assert show(value, key) == shown


def test_nested_sizes_say_their_unit_too() -> None:
    backups = [{"label": "20261130-020000F", "size": 2048, "repo_size": 1000}]
    assert show(backups, "backups") == (
        "label=20261130-020000F, size=2,048 bytes (2.0 KiB), repo_size=1,000 bytes"
    )
    assert with_unit("path", 3) is None


def test_the_reports_say_the_unit_of_a_size(cli: Cli, tmp_path: Path, backup_file: Path) -> None:
    answers = tmp_path / "answers.yaml"
    answers.write_text(yaml.safe_dump(ANSWERS))
    result = cli.run(
        REPO / "plans" / "hello-drill.yaml", "--input", f"file={backup_file}", "--yes",
        answers=answers, mode="drill",
    )  # fmt: skip
    assert result.code == 0, result.out
    md = cli("report", result.run_dir).out
    assert "- Output `size`: 4,096 bytes (4.0 KiB)" in md
    assert "- Output `matches`: yes" in md  # as the console and the HTML page say it
    html = cli("report", result.run_dir, "--format", "html").out
    assert "Output size: 4,096 bytes (4.0 KiB)" in html
    junit = cli("report", result.run_dir, "--format", "junit").out
    assert "size: 4,096 bytes (4.0 KiB)" in junit
    data = json.loads(cli("report", result.run_dir, "--format", "json").out)
    checksum = next(s for s in data["steps"] if s["id"] == "checksum")
    assert checksum["outputs"]["size"] == 4096  # for machines, the number
