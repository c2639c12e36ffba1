"""Partial recovery of rows on a real sandbox: rows deleted and overwritten by a statement the
plan knows nothing of come back from a scratch restore while the sandbox's writer keeps
writing: none lost, none doubled, the writer's rows untouched, and the report says how many
came back and from when. Also the merge on its own, and a second copy that finds nothing to do.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from drconsole.adapters.base import ActionContext, PermanentError
from drconsole.adapters.pgrows import (
    CompareRowsParams,
    CopyRowsParams,
    compare_rows,
    copy_rows_back,
    merge,
)
from drconsole.adapters.postgres import PostgresAdapter
from drconsole.sandbox import manager
from drconsole.timeutil import parse_timestamp
from tests.conftest import REPO, Cli, running_sandbox
from tests.integration.test_postgres import dsn, outputs

PLAN = REPO / "plans" / "recover-deleted-rows.yaml"
Row = tuple[Any, ...]


def test_merge_names_each_difference_in_key_order() -> None:
    restored = iter([("[1]", "a"), ("[2]", "b"), ("[3]", "c"), ("[5]", "e")])
    live = iter([("[1]", "a"), ("[3]", "C"), ("[4]", "d"), ("[5]", "e"), ("[6]", "f")])
    assert list(merge(restored, live)) == [
        ("missing", "[2]", "b", None),
        ("changed", "[3]", "c", "C"),
        ("extra", "[4]", None, "d"),
        ("extra", "[6]", None, "f"),
    ]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Path]:
    with running_sandbox("drconsole-rows-") as root:
        yield root


def rows(sandbox: Path) -> dict[int, Row]:
    with psycopg.connect(dsn(sandbox), autocommit=True) as conn:
        found = conn.execute("SELECT id, signed_at, payload, digest FROM signatures").fetchall()
    return {r[0]: tuple(r) for r in found}


def server_now(sandbox: Path) -> datetime:
    with psycopg.connect(dsn(sandbox), autocommit=True) as conn:
        (now,) = conn.execute("SELECT clock_timestamp()").fetchone()  # type: ignore[misc]
    assert isinstance(now, datetime)
    return now


@pytest.mark.slow
def test_deleted_and_overwritten_rows_come_back_while_the_writer_writes(
    cli: Cli, sandbox: Path, tmp_path: Path
) -> None:
    time.sleep(1.0)
    before = rows(sandbox)
    target = server_now(sandbox)
    time.sleep(1.0)
    with psycopg.connect(dsn(sandbox), autocommit=True) as conn, conn.transaction():
        conn.execute("DELETE FROM signatures WHERE id BETWEEN 100 AND 149")
        conn.execute(
            "UPDATE signatures SET payload = 'overwritten', digest = '0' "
            "WHERE id BETWEEN 300 AND 304"
        )
    damaged = rows(sandbox)
    assert not set(range(100, 150)) & set(damaged)
    assert {damaged[i][2] for i in range(300, 305)} == {"overwritten"}
    answers = tmp_path / "answers.yaml"
    answers.write_text(
        yaml.safe_dump(
            {
                "operator": "dba-1",
                "steps": {
                    "choose": {"evidence": {"choice": "missing-and-changed"}},
                    "copy-back": {"typed": "copy rows into qsign"},
                },
            }
        )
    )
    result = cli.run(
        PLAN,
        "--input",
        f"target={target.isoformat()}",
        "--input",
        "severity=P2",
        targets=sandbox / "targets.yaml",
        answers=answers,
    )
    assert result.code == 0, result.out
    run_dir = result.run_dir
    after = rows(sandbox)

    compared = outputs(run_dir, "compare")
    assert (compared["missing"], compared["changed"]) == (50, 5)
    assert compared["missing_keys"] == list(range(100, 120))  # the first 20; the diff has all
    assert compared["extra"] >= 1  # the writer's rows after the target: listed, never touched
    copied = outputs(run_dir, "copy-back")
    assert (copied["inserted"], copied["updated"], copied["restored"]) == (50, 5, 55)
    assert copied["as_of"] == outputs(run_dir, "restore")["recovered_to"]
    assert parse_timestamp(copied["as_of"]) <= target
    assert outputs(run_dir, "recheck")["missing"] == 0

    # no row lost: every row before the damage is back exactly as it was
    assert {i: after.get(i) for i in before} == before
    # the writer's rows since the target are untouched, and it kept writing during the run
    written_since = {i: r for i, r in damaged.items() if i not in before}
    assert written_since
    assert {i: after[i] for i in written_since} == written_since
    assert max(after) > max(damaged)
    # none doubled
    assert len({r[1:] for r in after.values()}) == len(after)
    assert list((sandbox / "scratch").iterdir()) == []

    report = cli("report", run_dir)
    assert "Output `restored`: 55" in report.out
    assert f"Output `as_of`: {copied['as_of']}" in report.out
    assert "## Incident: P2 (major function failed)" in report.out
    draft = cli("postmortem", run_dir).out
    assert "Restore into a scratch cluster to just before the damage (restore) |" in draft
    assert "Post-mortem due: **" in draft

    # the same copy again finds every row back and each changed row changed since: it writes
    # nothing (a rerun after a crash cannot double a row)
    site = yaml.safe_load((sandbox / "targets.yaml").read_text())["sites"]["primary"]
    again = copy_rows_back(
        PostgresAdapter(site["postgres"]),
        CopyRowsParams(
            table="signatures",
            diff=compared["diff"],
            diff_sha256=compared["diff_sha256"],
            rows="missing-and-changed",
        ),
        ActionContext(),
    )
    assert (again["restored"], again["already_back"], again["changed_since"]) == (0, 50, 5)
    assert rows(sandbox).items() >= after.items()


def test_a_diff_changed_after_the_comparison_is_refused(tmp_path: Path) -> None:
    diff = tmp_path / "signatures.diff.jsonl"
    diff.write_text('{"kind": "missing", "key": [1], "restored": "{}"}\n')
    with pytest.raises(PermanentError, match="not the one the comparison wrote"):
        copy_rows_back(
            PostgresAdapter({"host": "127.0.0.1", "port": 9}),
            CopyRowsParams(table="signatures", diff=str(diff), diff_sha256="0" * 64),
            ActionContext(),
        )


@pytest.mark.slow
def test_a_wrong_table_column_or_port_is_refused_with_what_to_do(
    sandbox: Path, tmp_path: Path
) -> None:
    state = manager.load_state(sandbox)
    assert state is not None
    pg = PostgresAdapter(
        yaml.safe_load((sandbox / "targets.yaml").read_text())["sites"]["primary"]["postgres"]
    )
    ctx = ActionContext(artefact_dir=str(tmp_path))
    standby = state.standby_port  # a real server holding the same tables, read only
    with pytest.raises(PermanentError, match="there is no table nope in database qsign"):
        compare_rows(pg, CompareRowsParams(table="nope", restored_port=standby), ctx)
    with pytest.raises(PermanentError, match="has no column uid") as wrong_key:
        compare_rows(
            pg, CompareRowsParams(table="signatures", key="uid", restored_port=standby), ctx
        )
    assert "its columns: id, signed_at, payload, digest" in str(wrong_key.value)
    with pytest.raises(PermanentError, match="is the live database"):
        compare_rows(
            pg, CompareRowsParams(table="signatures", restored_port=state.primary_port), ctx
        )
    with pytest.raises(PermanentError, match="not a plain name"):
        compare_rows(
            pg, CompareRowsParams(table="signatures; drop table x", restored_port=standby), ctx
        )


@pytest.mark.slow
def test_the_copy_is_one_transaction_a_failing_row_leaves_nothing_copied(
    sandbox: Path, tmp_path: Path
) -> None:
    with psycopg.connect(dsn(sandbox), autocommit=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        (live,) = conn.execute(
            "SELECT row_to_json(t)::text FROM signatures t WHERE id = 7"
        ).fetchone()  # type: ignore[misc]
        (fresh,) = conn.execute("SELECT max(id) + 1000 FROM signatures").fetchone()  # type: ignore[misc]
    good = {"id": fresh, "signed_at": "2026-01-01T00:00:00+00:00", "payload": "p", "digest": "d"}
    bad = {"id": 7, "signed_at": None, "payload": None, "digest": "d"}  # NOT NULL refuses it
    diff = tmp_path / "signatures.diff.jsonl"
    diff.write_text(
        json.dumps({"kind": "missing", "key": [fresh], "restored": json.dumps(good)})
        + "\n"
        + json.dumps({"kind": "changed", "key": [7], "restored": json.dumps(bad), "live": live})
        + "\n"
    )
    site = yaml.safe_load((sandbox / "targets.yaml").read_text())["sites"]["primary"]
    params = CopyRowsParams(
        table="signatures",
        diff=str(diff),
        diff_sha256=hashlib.sha256(diff.read_bytes()).hexdigest(),
        rows="missing-and-changed",
    )
    with pytest.raises(PermanentError, match="rolled back, nothing was copied"):
        copy_rows_back(PostgresAdapter(site["postgres"]), params, ActionContext())
    assert fresh not in rows(sandbox)  # the good row went in first, and was rolled back
    params = params.model_copy(update={"rows": "missing"})
    assert (
        copy_rows_back(PostgresAdapter(site["postgres"]), params, ActionContext())["inserted"] == 1
    )
    assert rows(sandbox)[fresh][2] == "p"
