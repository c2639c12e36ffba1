"""The sandbox's Vault snapshot schedule: a raft snapshot of the primary OpenBao every
``--every`` seconds (the guide's hourly, shortened for practice), into the snapshots folder the
plans read and to the bucket's ``vault/snapshots/``, the newest 24 kept in the folder. Runs as
its own process; stops on SIGTERM. A snapshot that fails (the primary Vault is down in a
failover drill) is logged and tried again at the next tick.

``python -m drconsole.sandbox.snapshotter --dir DIR [--every 300]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

from drconsole.sandbox import manager, periodic


def _snapshot(root: Path) -> str:
    try:
        return manager.snapshot(root, "primary")
    except manager.SandboxError as exc:
        return f"no snapshot: {exc}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--every", type=float, default=manager.SNAPSHOT_EVERY_S)
    args = parser.parse_args()
    return periodic.every(args.every, lambda: _snapshot(args.dir))  # `up` took the first


if __name__ == "__main__":
    raise SystemExit(main())
