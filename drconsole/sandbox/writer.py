"""The sandbox's steady writer: inserts a signature row every ``--interval`` seconds, so that a
restore always has something recent to lose. Runs as its own process; stops on SIGTERM.

``python -m drconsole.sandbox.writer --dsn DSN [--interval 0.5]``
"""

from __future__ import annotations

import argparse
import hashlib
import time

import psycopg

from drconsole.sandbox.periodic import StopSignal


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args()
    stop = StopSignal()
    count = 0
    while not stop.requested:
        try:
            with psycopg.connect(args.dsn, autocommit=True, connect_timeout=3) as conn:
                while not stop.requested:
                    count += 1
                    payload = f"sandbox-writer-{count}"
                    digest = hashlib.sha256(payload.encode()).hexdigest()
                    conn.execute(
                        "INSERT INTO signatures (payload, digest) VALUES (%s, %s)",
                        (payload, digest),
                    )
                    time.sleep(args.interval)
        except psycopg.Error:
            time.sleep(1.0)  # the database is down (a drill stopped it): wait and reconnect
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
