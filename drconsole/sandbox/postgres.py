"""The sandbox's PostgreSQL: a primary archiving WAL to a local pgBackRest repository (stanza
``qsign``), a streaming standby, the ``qsign`` database with its ``signatures`` table, and a
first full backup. Clusters run as an unprivileged OS user: PostgreSQL refuses root.
"""

from __future__ import annotations

import os
import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path

import psycopg

from drconsole.adapters.base import PermanentError
from drconsole.adapters.oscmd import current_user, run_as
from drconsole.adapters.pgbackrest import Pgbackrest
from drconsole.adapters.pghost import DEFAULT_BIN, LocalCluster, settle_copied_settings

STANZA = "qsign"
SANDBOX_USER = "drconsole-sandbox"
# What a DR operator role needs beyond owning its database: reading replication and archiver
# state, and the recovery functions plans call.
GRANTS = (
    "GRANT pg_monitor TO qsign",
    "GRANT EXECUTE ON FUNCTION pg_create_restore_point(text) TO qsign",
    "GRANT EXECUTE ON FUNCTION pg_promote(boolean, integer) TO qsign",
    "GRANT EXECUTE ON FUNCTION pg_switch_wal() TO qsign",
)
SEED = """
INSERT INTO signatures (payload, digest)
SELECT 'seed-' || n, encode(sha256(('seed-' || n)::bytea), 'hex') FROM generate_series(1, 500) n;
"""
SCHEMA = """
CREATE TABLE IF NOT EXISTS signatures (
    id bigserial PRIMARY KEY,
    signed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    payload text NOT NULL,
    digest text NOT NULL
);
"""


def os_user_for_clusters() -> str:
    """Who owns the clusters: ourselves, or when root a dedicated unprivileged user."""
    if os.geteuid() != 0:
        return current_user()
    try:
        pwd.getpwnam(SANDBOX_USER)
    except KeyError:
        result = run_as(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SANDBOX_USER,
            ]
        )
        if result.code != 0:
            raise PermanentError(
                f"cannot create the sandbox user {SANDBOX_USER}: {result.tail()}"
            ) from None
    return SANDBOX_USER


@dataclass(frozen=True)
class PgLayout:
    """Where everything of the sandbox's PostgreSQL lives."""

    root: Path
    primary_port: int
    standby_port: int
    os_user: str
    bin_dir: str = DEFAULT_BIN

    @property
    def pg(self) -> Path:
        return self.root / "pg"

    @property
    def primary(self) -> Path:
        return self.pg / "primary"

    @property
    def standby(self) -> Path:
        return self.pg / "standby"

    @property
    def sockets(self) -> Path:
        return self.pg / "run"

    @property
    def backrest_dir(self) -> Path:
        return self.root / "pgbackrest"

    @property
    def backrest_config(self) -> Path:
        return self.backrest_dir / "pgbackrest.conf"

    def backrest(self) -> Pgbackrest:
        return Pgbackrest(str(self.backrest_config), STANZA, os_user=self.os_user)

    def cluster(self, which: str) -> LocalCluster:
        data = self.primary if which == "primary" else self.standby
        return LocalCluster(
            str(data),
            os_user=self.os_user,
            bin_dir=self.bin_dir,
            log_file=str(self.pg / f"{which}.log"),
        )

    def dsn(self, port: int, dbname: str = "qsign", user: str = "qsign") -> str:
        return f"host=127.0.0.1 port={port} dbname={dbname} user={user}"


def _chown_tree(path: Path, user: str) -> None:
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(user)
    for dirpath, dirnames, filenames in os.walk(path):
        os.chown(dirpath, entry.pw_uid, entry.pw_gid)
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def _check_reachable(path: Path, user: str) -> None:
    """The cluster user must be able to reach the sandbox directory through its parents."""
    if user == current_user():
        return
    probe = run_as(["test", "-x", str(path)], user=user)
    if probe.code != 0:
        raise PermanentError(
            f"user {user} cannot reach {path}: a parent directory is closed to others",
            hint="choose a sandbox directory under an open path, e.g. --dir /var/tmp/drconsole",
        )


def write_backrest_config(layout: PgLayout) -> None:
    d = layout.backrest_dir
    for sub in ("repo", "log", "lock", "spool"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    layout.backrest_config.write_text(
        "# drconsole sandbox (practice only)\n"
        "[global]\n"
        f"repo1-path={d / 'repo'}\n"
        "repo1-retention-full=4\n"
        f"log-path={d / 'log'}\n"
        f"lock-path={d / 'lock'}\n"
        f"spool-path={d / 'spool'}\n"
        "log-level-file=info\n"
        "compress-type=lz4\n"
        "start-fast=y\n"
        "archive-timeout=60\n"
        "\n"
        f"[{STANZA}]\n"
        f"pg1-path={layout.primary}\n"
        f"pg1-port={layout.primary_port}\n"
        f"pg1-socket-path={layout.sockets}\n"
        f"pg1-user=postgres\n"
    )


def archive_command(layout: PgLayout) -> str:
    """pgBackRest's archive-push for whichever cluster runs it: both clusters share one
    configuration whose pg1-path is the primary's, and archive-push refuses a server whose
    working directory (its data directory) is another, so the command names its own."""
    return (
        f'pgbackrest --config={layout.backrest_config} --stanza={STANZA} --pg1-path="$PWD" '
        "archive-push %p"
    )


def _server_settings(layout: PgLayout, port: int) -> str:
    archive = archive_command(layout)
    return (
        "\n# drconsole sandbox (practice only)\n"
        f"port = {port}\n"
        "listen_addresses = '127.0.0.1'\n"
        f"unix_socket_directories = '{layout.sockets}'\n"
        "wal_level = replica\n"
        "archive_mode = on\n"
        f"archive_command = '{archive}'\n"
        "archive_timeout = 60\n"
        "max_wal_senders = 5\n"
        "hot_standby = on\n"
        "shared_buffers = 32MB\n"
        "max_connections = 40\n"
        "log_line_prefix = '%m [%p] '\n"
    )


def create(layout: PgLayout) -> None:
    """Create the primary, the stanza, the schema, a full backup and the standby."""
    _check_reachable(layout.root, layout.os_user)
    layout.sockets.mkdir(parents=True, exist_ok=True)
    write_backrest_config(layout)
    _chown_tree(layout.root, layout.os_user)
    result = run_as(
        [
            f"{layout.bin_dir}/initdb",
            "-D",
            str(layout.primary),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--data-checksums",
        ],
        user=layout.os_user,
    )
    if result.code != 0:
        raise PermanentError(f"initdb failed: {result.tail()}")
    with open(layout.primary / "postgresql.conf", "a") as conf:
        conf.write(_server_settings(layout, layout.primary_port))
    (layout.primary / "pg_hba.conf").write_text(
        "local all all trust\n"
        "host all all 127.0.0.1/32 trust\n"
        "host replication all 127.0.0.1/32 trust\n"
    )
    primary = layout.cluster("primary")
    primary.start()
    with psycopg.connect(
        layout.dsn(layout.primary_port, "postgres", "postgres"), autocommit=True
    ) as conn:
        conn.execute("CREATE ROLE qsign LOGIN")
        conn.execute("CREATE DATABASE qsign OWNER qsign")
    # function privileges live in each database: grant them inside qsign
    with psycopg.connect(
        layout.dsn(layout.primary_port, "qsign", "postgres"), autocommit=True
    ) as conn:
        for grant in GRANTS:
            conn.execute(grant)
    with psycopg.connect(layout.dsn(layout.primary_port), autocommit=True) as conn:
        conn.execute(SCHEMA)
        conn.execute(SEED)
    backrest = layout.backrest()
    backrest.run("stanza-create")
    backrest.run("check")
    backrest.run("backup", "--type=full")
    create_standby(layout)


def create_standby(layout: PgLayout) -> None:
    """A streaming standby of the primary, from pg_basebackup."""
    copy_cluster(layout, layout.primary_port, "standby")


def copy_cluster(layout: PgLayout, source_port: int, into: str) -> None:
    """Make cluster ``into`` (primary or standby) a streaming standby of the server on
    ``source_port``, from pg_basebackup, and start it."""
    data = layout.primary if into == "primary" else layout.standby
    if data.exists():
        shutil.rmtree(data)
    result = run_as(
        [
            f"{layout.bin_dir}/pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(source_port),
            "-U",
            "postgres",
            "-D",
            str(data),
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
        ],
        user=layout.os_user,
    )
    if result.code != 0:
        raise PermanentError(f"pg_basebackup failed: {result.tail()}")
    port = layout.primary_port if into == "primary" else layout.standby_port
    # The copied settings lose a point-in-time restore's recovery target (a standby given it
    # would promote itself on reaching it) and get this cluster's port and archiving. The
    # standby archives too (always: what it receives, pushed again, is the same file, which
    # pgBackRest accepts), so that a promotion's .history reaches the archive from its first
    # moment: without it the next point-in-time restore picks a timeline already used and
    # archiving breaks. Rewritten in place: owner and mode stay.
    mode = "on" if into == "primary" else "always"
    settle_copied_settings(
        data,
        [
            f"port = {port}",
            f"archive_mode = {mode}",
            f"archive_command = '{archive_command(layout)}'",
        ],
    )
    layout.cluster(into).start()
