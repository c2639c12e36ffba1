"""The pgBackRest command line: always with an explicit ``--config`` and ``--stanza``, run as
the cluster's OS owner, output parsed into plain data.

``pgbackrest verify`` exits 0 even when it finds invalid files, so its report is parsed and
every problem it lists is returned.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from drconsole.adapters.base import PermanentError, TransientError
from drconsole.adapters.oscmd import Result, run_as

# pgBackRest exit codes worth a retry: lock held by another process, archive timeout.
_TRANSIENT_CODES = {50, 82}


@dataclass(frozen=True)
class Pgbackrest:
    """One stanza of one pgBackRest configuration."""

    config: str
    stanza: str
    os_user: str | None = None
    binary: str = "pgbackrest"

    def _exec(self, command: str, options: tuple[str, ...], console: str, timeout: float) -> Result:
        argv = [
            self.binary,
            f"--config={self.config}",
            f"--stanza={self.stanza}",
            f"--log-level-console={console}",
            "--log-level-stderr=off",
            command,
            *options,
        ]
        return run_as(argv, user=self.os_user, timeout=timeout)

    def run(self, command: str, *options: str, timeout: float = 1800.0) -> Result:
        """Run a command; a non-zero exit raises with pgBackRest's own message.

        Raises:
            TransientError: a lock or archive timeout (worth a retry).
            PermanentError: anything else.
        """
        result = self._exec(command, options, "warn", timeout)
        if result.code != 0:
            message = f"pgbackrest {command} failed (exit {result.code}): {result.tail(3)}"
            if result.code in _TRANSIENT_CODES:
                raise TransientError(message)
            raise PermanentError(message)
        return result

    def info(self) -> dict[str, Any]:
        """The stanza's ``info --output=json`` record."""
        result = self.run("info", "--output=json")
        try:
            stanzas = json.loads(result.stdout)
        except ValueError:
            raise PermanentError("pgbackrest info did not print JSON") from None
        for stanza in stanzas:
            if stanza.get("name") == self.stanza:
                return dict(stanza)
        raise PermanentError(f"pgbackrest knows no stanza {self.stanza!r}")

    def verify(self) -> list[str]:
        """Problems ``pgbackrest verify`` reports (empty when the repository is sound)."""
        result = self._exec("verify", (), "info", 3600)
        problems = parse_verify(result.stdout + result.stderr)
        if result.code != 0 and not problems:
            problems.append(f"pgbackrest verify failed (exit {result.code}): {result.tail(3)}")
        return problems


_LOG_PREFIX = re.compile(r"^\S+ \S+ P\d+ +(INFO|WARN|ERROR|DETAIL): ")
_VERIFY_PROBLEM = re.compile(
    r"^(invalid \w+|missing \w+|status: error|backup: .*status: (?!valid)\w+|"
    r"(checksum invalid|size invalid|missing|other): [1-9]\d*|.*\bgap\b)",
    re.IGNORECASE,
)


def parse_verify(text: str) -> list[str]:
    """The problem lines of a ``pgbackrest verify`` report (its exit code says too little).

    A sound repository reports nothing between "verify command begin" and "end"; a damaged one
    lists each invalid or missing file, a stanza "status: error", each backup whose status is
    not valid, and counters such as "checksum invalid: 1".
    """
    problems = []
    for line in text.splitlines():
        body = _LOG_PREFIX.sub("", line).strip()
        if body and _VERIFY_PROBLEM.match(body):
            problems.append(body)
    return problems


def epoch_to_utc(value: int | float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value else None
