"""The sandbox's audit-log shipping: every ``--every`` seconds (the guide's hour, shortened for
practice) the signatures the primary database recorded in the period just ended go to the
bucket as one gzipped JSON-lines object, ``audit/YYYY/MM/DD/qsign-audit-<period start>.jsonl.gz``,
with its SHA-256 stored by S3. ``DIR/audit/shipped.json`` remembers where shipping got to, so a
period that cannot be shipped (the database or the bucket is down in a drill) goes at a later
tick: late, never skipped. After more than a day away (the sandbox was down) shipping starts
again from now, and the hours between stay missing, as they would on a real site.

Runs as its own process (``python -m drconsole.sandbox.auditlog --dir DIR [--every 60]``) on
the same ``periodic`` loop as the Vault snapshot schedule; stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drconsole.sandbox import periodic
from drconsole.sandbox.programs import AUDIT_LOGS

if TYPE_CHECKING:
    import psycopg

    from drconsole.adapters.objectstore import ObjectStore

PREFIX = "audit/"
EVERY_S = 60.0  # the guide's hour, shortened for practice
LAG_S = 2.0  # a period is shipped this long after it ends (late commits)
MAX_BACKLOG_S = 86400.0  # after longer away, start again from now
MAX_PER_TICK = 60  # a long backlog is worked off over several ticks


def _state_file(root: Path) -> Path:
    return Path(root) / "audit" / "shipped.json"


def _shipped_until(root: Path, every: timedelta, now: datetime) -> datetime:
    """The end of the last period shipped; a fresh start ships the last period that can be
    (the one just ended, or in the LAG_S after a period ends, the one before it)."""
    from drconsole.adapters.objectstore import period_floor

    fresh = period_floor(now - timedelta(seconds=LAG_S), every) - every
    try:
        until = datetime.fromisoformat(json.loads(_state_file(root).read_text())["until"])
    except (OSError, ValueError, KeyError):
        return fresh
    return fresh if (now - until).total_seconds() > MAX_BACKLOG_S else until


def ship_due(root: Path, every_s: float = EVERY_S) -> list[str]:
    """Ship every period that has ended and is not shipped yet; the keys shipped. One database
    connection serves the call; the bucket's client is the process's (``aws.boto_client``).
    The connection is not kept between calls: drills stop, promote and restore the primary
    between ticks, so a kept one would be found broken and made again anyway.

    Raises:
        RuntimeError: the database or the bucket cannot be reached (nothing is lost: the
            period is shipped at the next call).
    """
    import psycopg

    from drconsole.sandbox import manager, s3

    state = manager.load_state(root)
    port = (state.bao_ports or {}).get("s3") if state else None
    if state is None or not port:
        raise RuntimeError(f"no sandbox with object storage in {root}")
    every = timedelta(seconds=every_s)
    now = datetime.now(UTC)
    start = _shipped_until(root, every, now)
    starts: list[datetime] = []
    while start + every + timedelta(seconds=LAG_S) <= now and len(starts) < MAX_PER_TICK:
        starts.append(start)
        start += every
    if not starts:
        return []
    store = s3.MotoServer(Path(state.root), port).store()
    try:
        with psycopg.connect(
            state.layout().dsn(state.primary_port), connect_timeout=3, autocommit=True
        ) as conn:
            return [_ship_period(conn, store, root, start, every) for start in starts]
    except psycopg.Error as exc:
        raise RuntimeError(f"the primary database does not answer: {exc}") from None


def _ship_period(
    conn: psycopg.Connection[Any], store: ObjectStore, root: Path, start: datetime, every: timedelta
) -> str:
    """Ship one period (from ``start``) and remember it is shipped; what was shipped."""
    from drconsole.adapters.base import AdapterError
    from drconsole.adapters.objectstore import audit_key

    rows = conn.execute(
        "SELECT id, signed_at, digest FROM signatures "
        "WHERE signed_at >= %s AND signed_at < %s ORDER BY id",
        (start, start + every),
    ).fetchall()
    lines = "".join(
        json.dumps(
            {"time": at.astimezone(UTC).isoformat(), "event": "signature.created",
             "id": row_id, "digest": digest},
            sort_keys=True,
        ) + "\n"
        for row_id, at, digest in rows
    )  # fmt: skip
    key = audit_key(PREFIX, start)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / key.rsplit("/", 1)[-1]
        path.write_bytes(gzip.compress(lines.encode(), mtime=0))
        try:
            store.upload(str(path), key)
        except AdapterError as exc:
            raise RuntimeError(f"the bucket does not take {key}: {exc}") from None
    _state_file(root).parent.mkdir(parents=True, exist_ok=True)
    _state_file(root).write_text(json.dumps({"until": (start + every).isoformat()}))
    return f"{key} ({len(rows)} events)"


def pid(root: Path) -> int | None:
    return AUDIT_LOGS.pid(root)


def start(root: Path, every_s: float = EVERY_S) -> str:
    """Ship what is due now (the plans find audit logs from the first minute) and start the
    shipping program."""
    if pid(root):
        return "audit-log shipping is running already"
    ship_due(root, every_s)
    return AUDIT_LOGS.start(
        root,
        [sys.executable, "-m", "drconsole.sandbox.auditlog",
         "--dir", str(root), "--every", str(every_s)],
        f", every {every_s:g} s",
    )  # fmt: skip


def stop(root: Path) -> str:
    return AUDIT_LOGS.stop(root)


def status_line(root: Path) -> str:
    running = pid(root)
    try:
        until = json.loads(_state_file(root).read_text())["until"]
    except (OSError, ValueError, KeyError):
        until = None
    shipped = f"shipped up to {until[:19]}Z" if until else "nothing shipped yet"
    return f"{f'shipping running (pid {running})' if running else 'shipping stopped'}, {shipped}"


def _ship(root: Path, every_s: float) -> str:
    try:
        shipped = ship_due(root, every_s)
    except RuntimeError as exc:
        return f"not shipped (tried again next time): {exc}"
    return f"shipped {', '.join(shipped)}" if shipped else "nothing due"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--every", type=float, default=EVERY_S)
    args = parser.parse_args()
    # each tick LAG_S after a period ends, so a period goes at once (a tick counted from the
    # program's start shipped it up to a whole period late); `start` shipped the first
    return periodic.every(args.every, lambda: _ship(args.dir, args.every), LAG_S)


if __name__ == "__main__":
    raise SystemExit(main())
