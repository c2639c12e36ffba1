from datetime import UTC, datetime, timedelta, timezone

import pytest

from drconsole.timeutil import (
    TimeFormatError,
    format_duration,
    format_timestamp,
    parse_duration,
    parse_timestamp,
    timestamp_or_none,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("15m", 900),
        ("1h30m", 5400),
        ("2d", 172800),
        ("250ms", 0.25),
        ("45", 45),
        (12, 12),
    ],
)
def test_durations_read(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "10x", "m5", "1h 30", "-5m", "ten minutes"])
def test_bad_durations_say_what_is_expected(text: str) -> None:
    with pytest.raises(TimeFormatError, match="30s, 15m, 1h30m"):
        parse_duration(text)


def test_durations_render_for_people() -> None:
    assert format_duration(timedelta(seconds=42)) == "42s"
    assert format_duration(timedelta(seconds=185)) == "3m05s"
    assert format_duration(timedelta(hours=1, minutes=2)) == "1h02m"
    assert format_duration(-250.0) == "-4m10s"
    assert format_duration(None) == "-"


def test_timestamps_are_utc_and_a_missing_zone_is_refused() -> None:
    assert parse_timestamp("2026-11-26T12:00:00+09:00") == datetime(2026, 11, 26, 3, tzinfo=UTC)
    assert format_timestamp(parse_timestamp("2026-11-26T03:00:00Z")) == "2026-11-26T03:00:00Z"
    with pytest.raises(TimeFormatError, match="no time zone"):
        parse_timestamp("2026-11-26T03:00:00")
    with pytest.raises(TimeFormatError, match="not a timestamp"):
        parse_timestamp("yesterday")


def test_an_output_timestamp_is_utc_whatever_zone_the_server_answered_in() -> None:
    seoul = timezone(timedelta(hours=9))
    assert timestamp_or_none(datetime(2026, 11, 26, 12, 0, tzinfo=seoul)) == "2026-11-26T03:00:00Z"
    assert timestamp_or_none(None) is None
    # a timestamp without time zone is shown as stored, not shifted by this machine's zone
    naive = datetime(2026, 11, 26, 12, 0)  # noqa: DTZ001 (what psycopg returns for one)
    assert timestamp_or_none(naive) == "2026-11-26T12:00:00"
