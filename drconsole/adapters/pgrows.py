"""Partial recovery of rows: compare a table in a scratch restore with the live database, and
copy the chosen rows back into the live primary in one transaction while it keeps running.

The comparison streams both tables ordered by their key (as JSON text, byte order, so Python
and PostgreSQL agree whatever the key's type) and merges them: rows only in the restore are
*missing* from the live database, rows in both with other values are *changed*, rows only in
the live database are *extra* (written after the restore point, or never deleted: never
touched). Every difference is written to a JSON Lines file (the diff), whose SHA-256 the copy
checks before it trusts it: the copy writes exactly what the operator saw.

The copy inserts each missing row unless a row with its key is back already, and, if chosen,
puts back each changed row whose live value is still the one compared (a row changed again
since is left alone and counted). Rows travel as ``row_to_json`` text and are rebuilt with
``json_populate_recordset``, so every column keeps its type. Both sides use TimeZone UTC, so
a timestamp reads the same on both servers.

``compare_rows`` and ``copy_rows_back`` are the actions' side: the live cluster's and the
restore's connections, from a ``PostgresAdapter``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from drconsole.adapters.base import (
    ActionContext,
    Cancelled,
    Params,
    PermanentError,
    TransientError,
)
from drconsole.adapters.postgres import PostgresAdapter, first_line

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
SAMPLE = 20  # keys listed in the outputs per kind; the diff file holds them all
BATCH = 2000
DIFF_KINDS = ("missing", "changed", "extra")
Rows = Literal["missing", "missing-and-changed"]


def split_name(name: str, what: str) -> tuple[str, ...]:
    """``schema.table`` or ``table`` (or a column) as identifier parts.

    Raises:
        PermanentError: a part is not a plain identifier.
    """
    parts = tuple(name.strip().split("."))
    if not 1 <= len(parts) <= 2 or not all(IDENT.match(p) for p in parts):
        raise PermanentError(
            f"{what} {name!r} is not a plain name",
            hint="letters, digits, _ and $, optionally schema.table",
        )
    return parts


@dataclass(frozen=True)
class Table:
    """A table's name as identifier parts, its columns, and the key columns chosen."""

    parts: tuple[str, ...]
    columns: list[str]
    writable: list[str]  # not generated: what an INSERT or UPDATE may set
    key: list[str]

    @property
    def name(self) -> str:
        return ".".join(self.parts)

    def ident(self) -> Any:
        from psycopg import sql

        return sql.Identifier(*self.parts)


def describe_table(conn: Any, table: str, key: list[str]) -> Table:
    """The table's columns, read from ``conn``; the key columns checked against them.

    Raises:
        PermanentError: no such table, or a key column it does not have.
    """
    from psycopg import sql

    parts = split_name(table, "table")
    for column in key:
        split_name(column, "key column")
    quoted = sql.Identifier(*parts).as_string(conn)
    (oid,) = conn.execute("SELECT to_regclass(%s)::oid", (quoted,)).fetchone()
    if oid is None:
        raise PermanentError(
            f"there is no table {'.'.join(parts)} in database {conn.info.dbname}",
            hint="name the table as the database knows it (schema.table when not in public)",
        )
    rows = conn.execute(
        "SELECT attname, attgenerated <> '' FROM pg_attribute "
        "WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        (oid,),
    ).fetchall()
    columns = [r[0] for r in rows]
    unknown = [k for k in key if k not in columns]
    if not key or unknown:
        raise PermanentError(
            f"{'.'.join(parts)} has no column {', '.join(unknown) or '(no key given)'}",
            hint=f"its columns: {', '.join(columns)}; the key is the columns that identify a "
            "row (usually the primary key)",
        )
    return Table(parts, columns, [r[0] for r in rows if not r[1]], list(key))


def _stream(conn: Any, table: Table, cursor_name: str) -> Iterator[tuple[str, str]]:
    """(key as JSON text, row as JSON text) for every row, in key byte order; ``conn`` must be
    in a transaction (a server-side cursor)."""
    from psycopg import sql

    query = sql.SQL(
        'SELECT k, r FROM (SELECT json_build_array({keys})::text COLLATE "C" AS k, '
        "row_to_json(t)::text AS r FROM {table} t) s ORDER BY k"
    ).format(keys=sql.SQL(", ").join(sql.Identifier(k) for k in table.key), table=table.ident())
    with conn.cursor(name=cursor_name) as cur:
        cur.itersize = BATCH
        cur.execute(query)
        previous = None
        for key, row in cur:
            if key == previous:
                raise PermanentError(
                    f"the key ({', '.join(table.key)}) of {table.name} is not unique: "
                    f"{key} is on more than one row",
                    hint="name key columns that identify one row (the primary key)",
                )
            if None in json.loads(key):
                raise PermanentError(
                    f"a row of {table.name} has a null key ({', '.join(table.key)} = {key})",
                    hint="name key columns that are never null (the primary key)",
                )
            previous = key
            yield key, row


_END = (None, None)


def merge(
    scratch: Iterator[tuple[str, str]], live: Iterator[tuple[str, str]]
) -> Iterator[tuple[str, str, str | None, str | None]]:
    """(kind, key, restored row, live row) for every key whose rows differ, both streams
    being in the same key order."""
    s_key, s_row = next(scratch, _END)
    l_key, l_row = next(live, _END)
    while s_key is not None or l_key is not None:
        if s_key is not None and (l_key is None or s_key < l_key):
            yield "missing", s_key, s_row, None
            s_key, s_row = next(scratch, _END)
        elif l_key is not None and (s_key is None or l_key < s_key):
            yield "extra", l_key, None, l_row
            l_key, l_row = next(live, _END)
        else:  # the same key on both sides
            assert s_key is not None
            if s_row != l_row:
                yield "changed", s_key, s_row, l_row
            s_key, s_row = next(scratch, _END)
            l_key, l_row = next(live, _END)


@dataclass
class Diff:
    """What a comparison found: counts, the first keys of each kind, rows compared."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DIFF_KINDS, 0))
    samples: dict[str, list[Any]] = field(default_factory=lambda: {kind: [] for kind in DIFF_KINDS})

    def add(self, kind: str, key: str) -> None:
        self.counts[kind] += 1
        if len(self.samples[kind]) < SAMPLE:
            self.samples[kind].append(_key_value(json.loads(key)))


def _key_value(key: list[Any]) -> Any:
    """A one-column key as its value, a longer one as the list of its values."""
    return key[0] if len(key) == 1 else key


def _utc_snapshot(conn: Any) -> None:
    """In the current transaction: read only, one snapshot, timestamps in UTC."""
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    conn.execute("SET LOCAL TimeZone = 'UTC'")


def compare(
    scratch_conn: Any, live_conn: Any, table: str, key: list[str], ctx: ActionContext
) -> dict[str, Any]:
    """Compare ``table`` in the restored (scratch) and live databases; write the diff into the
    step's artefacts and return the counts, samples and the diff's path and SHA-256.

    Raises:
        PermanentError: no such table or column, a key that is not unique or is null, the two
            tables' columns differ, or no artefact directory to write the diff to.
    """
    if not ctx.artefact_dir:
        raise PermanentError("the comparison writes its diff into the step's artefacts: none")
    restored = describe_table(scratch_conn, table, key)
    current = describe_table(live_conn, table, key)
    if restored.columns != current.columns:
        raise PermanentError(
            f"{restored.name} has other columns in the live database "
            f"({', '.join(current.columns)}) than in the restore ({', '.join(restored.columns)})",
            hint="the table's definition changed after the restore point: compare by hand",
        )
    folder = Path(ctx.artefact_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{restored.name}.diff.jsonl"
    partial = path.with_suffix(".partial")
    diff = Diff()
    digest = hashlib.sha256()
    try:
        _write_diff(scratch_conn, live_conn, (restored, current), partial, diff, digest, ctx)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(path)
    counts = diff.counts
    ctx.log(
        f"{restored.name}: {counts['missing']} missing, {counts['changed']} changed, "
        f"{counts['extra']} only in the live database; the diff is {path}"
    )
    return {
        **counts,
        "differs": counts["missing"] + counts["changed"] > 0,
        "missing_keys": diff.samples["missing"],
        "changed_keys": diff.samples["changed"],
        "extra_keys": diff.samples["extra"],
        "key": list(key),
        "diff": str(path),
        "diff_sha256": digest.hexdigest(),
    }


def _write_diff(
    scratch_conn: Any,
    live_conn: Any,
    tables: tuple[Table, Table],
    path: Path,
    diff: Diff,
    digest: Any,
    ctx: ActionContext,
) -> None:
    """Merge both tables (each in one read-only snapshot) into the diff file at ``path``."""
    with scratch_conn.transaction(), live_conn.transaction(), path.open("wb") as out:
        _utc_snapshot(scratch_conn)
        _utc_snapshot(live_conn)
        pairs = merge(
            _stream(scratch_conn, tables[0], "drconsole_restored"),
            _stream(live_conn, tables[1], "drconsole_live"),
        )
        for seen, (kind, key, restored_row, live_row) in enumerate(pairs, 1):
            if seen % BATCH == 0 and ctx.cancel.is_set():
                raise Cancelled("the comparison was cancelled")
            diff.add(kind, key)
            entry: dict[str, Any] = {"kind": kind, "key": json.loads(key)}
            if restored_row is not None:
                entry["restored"] = restored_row
            if kind == "changed":
                entry["live"] = live_row
            line = (json.dumps(entry, ensure_ascii=False) + "\n").encode()
            digest.update(line)
            out.write(line)


def read_diff(path: str, sha256: str, table: str, key: list[str]) -> list[dict[str, Any]]:
    """The diff's entries, after checking its SHA-256 against the comparison's.

    Raises:
        PermanentError: it cannot be read, or is not the file the comparison wrote.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise PermanentError(f"cannot read the diff {path}: {exc.strerror}") from None
    if hashlib.sha256(data).hexdigest() != sha256.lower():
        raise PermanentError(
            f"the diff {path} is not the one the comparison wrote (its SHA-256 differs)",
            hint="compare again; nothing was copied",
        )
    if not Path(path).name.startswith(f"{'.'.join(split_name(table, 'table'))}.diff"):
        raise PermanentError(f"the diff {path} is not a diff of {table}")
    entries = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
    if any(len(e["key"]) != len(key) for e in entries):
        raise PermanentError(f"the diff {path} was made with another key than {', '.join(key)}")
    return entries


def copy_back(
    conn: Any, table: str, key: list[str], entries: list[dict[str, Any]], rows: Rows
) -> dict[str, Any]:
    """Insert the missing rows (and, with ``missing-and-changed``, put back the changed ones)
    in one transaction on the live primary ``conn``; nothing else is touched.

    Raises:
        TransientError: a row with the same key was written meanwhile, or a lock or
            serialisation conflict: the transaction was rolled back, nothing was copied.
        PermanentError: the table is not as the diff describes it.
    """
    import psycopg

    missing = [e["restored"] for e in entries if e["kind"] == "missing"]
    changed = [e for e in entries if e["kind"] == "changed"] if rows != "missing" else []
    try:
        with conn.transaction():
            conn.execute("SET LOCAL TimeZone = 'UTC'")
            conn.execute("SET LOCAL lock_timeout = '10s'")
            target = describe_table(conn, table, key)
            inserted = _insert(conn, target, missing) if missing else 0
            updated = _update(conn, target, changed) if changed else 0
    except (
        psycopg.errors.UniqueViolation,
        psycopg.errors.LockNotAvailable,
        psycopg.errors.SerializationFailure,
        psycopg.errors.DeadlockDetected,
    ) as exc:
        raise TransientError(
            f"the copy was rolled back, nothing was copied: {first_line(exc)}"
        ) from None
    except psycopg.OperationalError as exc:
        raise TransientError(f"the copy was not committed: {first_line(exc)}") from None
    except psycopg.Error as exc:
        raise PermanentError(
            f"the copy was rolled back, nothing was copied: {first_line(exc)}"
        ) from None
    return {
        "inserted": inserted,
        "updated": updated,
        "restored": inserted + updated,
        "already_back": len(missing) - inserted,
        "changed_since": len(changed) - updated,
        "changed_left": sum(1 for e in entries if e["kind"] == "changed") - updated,
    }


def _insert(conn: Any, table: Table, rows: list[str]) -> int:
    """Insert rows whose key is not in the table (a row put back meanwhile is not doubled)."""
    from psycopg import sql

    cols = sql.SQL(", ").join(sql.Identifier(c) for c in table.writable)
    same_key = sql.SQL(" AND ").join(
        sql.SQL("t.{k} = r.{k}").format(k=sql.Identifier(k)) for k in table.key
    )
    query = sql.SQL(
        "INSERT INTO {table} ({cols}) OVERRIDING SYSTEM VALUE "
        "SELECT {rcols} FROM json_populate_recordset(NULL::{table}, %s::json) r "
        "WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {same_key})"
    ).format(
        table=table.ident(),
        cols=cols,
        rcols=sql.SQL(", ").join(sql.SQL("r.{}").format(sql.Identifier(c)) for c in table.writable),
        same_key=same_key,
    )
    return int(conn.execute(query, ("[" + ",".join(rows) + "]",)).rowcount)


def _update(conn: Any, table: Table, entries: list[dict[str, Any]]) -> int:
    """Put back changed rows whose live value is still the one compared."""
    from psycopg import sql

    settable = [c for c in table.writable if c not in table.key]
    if not settable:
        return 0
    # the restored rows stay as PostgreSQL wrote them (a numeric keeps every digit)
    pairs = (
        "["
        + ",".join(f'{{"row":{e["restored"]},"live":{json.dumps(e["live"])}}}' for e in entries)
        + "]"
    )
    query = sql.SQL(
        "UPDATE {table} t SET {sets} FROM (SELECT (json_populate_record(NULL::{table}, "
        "x->'row')).*, x->>'live' AS drconsole_live FROM json_array_elements(%s::json) x) r "
        "WHERE {same_key} AND row_to_json(t)::text = r.drconsole_live"
    ).format(
        table=table.ident(),
        sets=sql.SQL(", ").join(
            sql.SQL("{c} = r.{c}").format(c=sql.Identifier(c)) for c in settable
        ),
        same_key=sql.SQL(" AND ").join(
            sql.SQL("t.{k} = r.{k}").format(k=sql.Identifier(k)) for k in table.key
        ),
    )
    return int(conn.execute(query, (pairs,)).rowcount)


class RowsParams(Params):
    table: str = Field(description="The table, or schema.table.")
    key: list[str] = Field(
        default_factory=lambda: ["id"],
        description="The columns that identify a row (the primary key); a list or 'a,b'.",
    )

    @field_validator("key", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return [k.strip() for k in value.split(",")] if isinstance(value, str) else value


class CompareRowsParams(RowsParams):
    restored_port: int = Field(
        ge=1, le=65535, description="The scratch restore's port (postgres.test_restore's port)."
    )


class CopyRowsParams(RowsParams):
    diff: str = Field(description="The comparison's diff file (postgres.compare_rows' diff).")
    diff_sha256: str = Field(
        pattern="^[0-9a-fA-F]{64}$", description="Its SHA-256 (compare_rows' diff_sha256)."
    )
    rows: Rows = Field(
        "missing", description="missing, or missing-and-changed: changed rows put back too."
    )
    as_of: str | None = Field(
        None, description="When the copied rows are from (the restore's recovered_to)."
    )


def compare_rows(pg: PostgresAdapter, p: CompareRowsParams, ctx: ActionContext) -> dict[str, Any]:
    """A table in a restore (``restored_port``) against the live database, read only."""
    live_port = int(pg.section.get("port") or 5432)
    if p.restored_port == live_port:
        raise PermanentError(
            f"port {live_port} is the live database: compare the restore with it, "
            "not the live database with itself",
            hint="give the scratch restore's port (postgres.test_restore's output port)",
        )
    with pg.session(p.restored_port) as restored, pg.session() as live:
        return compare(restored, live, p.table, p.key, ctx)


def copy_rows_back(pg: PostgresAdapter, p: CopyRowsParams, ctx: ActionContext) -> dict[str, Any]:
    """The diff's missing rows (and changed ones, if chosen) into the live primary, in one
    transaction, while it runs."""
    entries = read_diff(p.diff, p.diff_sha256, p.table, p.key)
    with pg.session() as conn:
        out = copy_back(conn, p.table, p.key, entries, p.rows)
    when = f" as they were at {p.as_of}" if p.as_of else ""
    ctx.log(
        f"{out['restored']} row(s) of {p.table} put back{when}: {out['inserted']} inserted, "
        f"{out['updated']} restored to their earlier values"
    )
    return {**out, "table": p.table, "as_of": p.as_of}
