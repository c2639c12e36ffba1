"""Durations, UTC timestamps and the one clock of drconsole.

Every place that parses or renders a duration or a timestamp comes here, so that a plan, the
journal, the report and the screen all speak the same format: durations like ``90s``, ``15m``,
``1h30m``; timestamps in ISO 8601 UTC (``2026-11-26T03:00:00Z``).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class TimeFormatError(ValueError):
    """A duration or timestamp that cannot be read; the message says what is expected."""


def parse_duration(text: str | int | float) -> timedelta:
    """Read ``90s``, ``15m``, ``1h30m``, ``2d`` or a plain number of seconds.

    Raises:
        TimeFormatError: the text is not a duration.
    """
    if isinstance(text, bool):
        raise TimeFormatError(f"{text!r} is not a duration; write e.g. 30s, 15m, 1h30m")
    if isinstance(text, int | float):
        if text < 0:
            raise TimeFormatError(f"{text} is negative; a duration is 0 or more")
        return timedelta(seconds=float(text))
    raw = text.strip().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", raw):
        return timedelta(seconds=float(raw))
    pos = 0
    total = 0.0
    for match in _DURATION_PART.finditer(raw):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(raw) or not raw:
        raise TimeFormatError(
            f"{text!r} is not a duration; write e.g. 30s, 15m, 1h30m (units ms, s, m, h, d)"
        )
    return timedelta(seconds=total)


def format_duration(delta: timedelta | float | None) -> str:
    """Render a duration for people: ``0s``, ``42s``, ``3m05s``, ``1h02m``, ``-4m10s``."""
    if delta is None:
        return "-"
    seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 10 and seconds != int(seconds):
        return f"{sign}{seconds:.1f}s"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 24:
        days, hours = divmod(hours, 24)
        return f"{sign}{days}d{hours:02d}h"
    if hours:
        return f"{sign}{hours}h{minutes:02d}m"
    if minutes:
        return f"{sign}{minutes}m{secs:02d}s"
    return f"{sign}{secs}s"


def parse_timestamp(text: str | datetime) -> datetime:
    """Read an ISO 8601 timestamp as UTC. A time without a zone is refused, not guessed.

    Raises:
        TimeFormatError: not a timestamp, or no time zone given.
    """
    if isinstance(text, datetime):
        value = text
    elif text[-1:] == "Z" and len(text) >= 20:
        # the journal's own form; Python 3.11 reads the Z itself (fast path for replay)
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            return parse_timestamp(text[:-1] + "+00:00")
    else:
        raw = str(text).strip()
        if raw.endswith(("Z", "z")):
            raw = raw[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise TimeFormatError(
                f"{text!r} is not a timestamp; write ISO 8601 UTC, e.g. 2026-11-26T03:00:00Z"
            ) from None
    if value.tzinfo is None:
        raise TimeFormatError(
            f"{text!r} has no time zone; add Z for UTC, e.g. 2026-11-26T03:00:00Z"
        )
    return value.astimezone(UTC)


def format_timestamp(value: datetime | None) -> str:
    """Render a timestamp as ISO 8601 UTC with a ``Z`` (microseconds kept when present)."""
    if value is None:
        return "-"
    text = value.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def timestamp_or_none(value: datetime | None) -> str | None:
    """A timestamp for an action's outputs: ISO 8601 UTC with a ``Z``, None kept as None. A time
    without a zone (a database's ``timestamp without time zone``) is shown as it is, never
    guessed into UTC."""
    if value is None:
        return None
    return format_timestamp(value) if value.tzinfo is not None else value.isoformat()


def file_stamp() -> str:
    """Now, for a file or directory name: ``20261126T030000Z``."""
    return utcnow().strftime("%Y%m%dT%H%M%SZ")


def utcnow() -> datetime:
    """The wall clock, timezone-aware UTC. The only place drconsole reads it."""
    return datetime.now(UTC)


def monotonic() -> float:
    """The monotonic clock, for elapsed times that must not jump with the wall clock."""
    return time.monotonic()
