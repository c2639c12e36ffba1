"""Parsing ``pgbackrest verify``, whose exit code is 0 even when a backup is corrupt.

The report below is what pgBackRest 2.45 printed here for a backup with one damaged file.
"""

from drconsole.adapters.pgbackrest import parse_verify

DAMAGED = """\
2026-11-26 03:38:19.381 P00   INFO: verify command begin 2.45: --config=/x/pgbackrest.conf --stanza=qsign
2026-11-26 03:38:19.589 P01   INFO: invalid checksum '20261126-033810F/pg_data/base/5/2838.lz4'
2026-11-26 03:38:19.705 P00   INFO: stanza: qsign
                                    status: error
                                      backup: 20261126-033810F, status: invalid, total files checked: 1267, total valid files: 1266
                                        checksum invalid: 1
2026-11-26 03:38:19.705 P00   INFO: verify command end: completed successfully (327ms)
"""

SOUND = """\
2026-11-26 03:38:16.438 P00   INFO: verify command begin 2.45: --config=/x/pgbackrest.conf --stanza=qsign
2026-11-26 03:38:16.752 P00   INFO: verify command end: completed successfully (316ms)
"""


def test_a_damaged_backup_is_reported_file_by_file() -> None:
    problems = parse_verify(DAMAGED)
    assert problems[0] == "invalid checksum '20261126-033810F/pg_data/base/5/2838.lz4'"
    assert "status: error" in problems
    assert any(p.startswith("backup: 20261126-033810F, status: invalid") for p in problems)
    assert "checksum invalid: 1" in problems


def test_a_sound_repository_reports_nothing() -> None:
    assert parse_verify(SOUND) == []
