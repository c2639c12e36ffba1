"""After a run on the sandbox fails: is the sandbox still at its baseline, and if not, what a drill
left behind and what brings it back.

A newcomer runs the plans one after another on one sandbox. A failover leaves the primary down
and the standby promoted; ``lose-site`` leaves no primary; an injected fault stays until it is
healed. The next plan then fails for a reason that is the sandbox's, not the plan's; the console
and ``drconsole run`` say so under the failure (``sandbox reset`` repairs all of it). The checks
are quick (a TCP connect, ``manager.in_recovery``'s one query with a short timeout) and only
read.
"""

from __future__ import annotations

import socket
from pathlib import Path

from drconsole.faultlog import sandbox_of
from drconsole.sandbox import faults
from drconsole.sandbox.manager import SandboxError, in_recovery, load_state

CONNECT_S = 2


def departures(root: Path) -> list[str]:
    """What differs from the baseline that a plan would trip on, in words (empty: none found,
    or the sandbox's own state file does not read: then ``sandbox status`` says why)."""
    try:
        state = load_state(root)
    except SandboxError:
        return []
    if state is None:
        return []
    found = []
    layout = state.layout()
    if not _answers(state.primary_port):
        found.append(
            "the primary database does not answer (stopped by a step of this or an earlier "
            "run, by `sandbox fail-primary` or `lose-site`, or it died)"
        )
    elif in_recovery(layout.dsn(state.standby_port)) is False:  # None: it does not answer
        found.append("the DR database is no longer a standby (a failover promoted it)")
    for key in sorted(faults.active(root)):
        fault, _, site = key.partition("@")
        found.append(f"the fault {fault} is injected on {site} (`sandbox heal {fault}`)")
    return found


def hint(targets_file: str | Path | None) -> str | None:
    """The words to show under a failed run on a sandbox that is off its baseline, else None."""
    root = sandbox_of(targets_file)
    if root is None:
        return None
    found = departures(root)
    if not found:
        return None
    return (
        "The sandbox is not at its baseline: "
        + "; ".join(found)
        + ". If this plan needed a healthy site (a failover drill expects the primary down), "
        f"`drconsole sandbox reset --dir {root}` brings the sandbox back (it heals injected "
        "faults too); then run the plan again."
    )


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=CONNECT_S):
            return True
    except OSError:
        return False
