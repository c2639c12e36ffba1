"""A run's journal read once, and the index that reads each run again only when its journal
changed.

:class:`Snapshot` reads a run's ``journal.head`` and then ``journal.jsonl`` (in that order: a
line a running run writes meanwhile is one the head does not count yet, never one it counts and
the bytes lack), and verifies and replays those same bytes: what is verified is what is
replayed, reported, summarised and packed.

The key of a journal is what must be unchanged for anything read from it to stand: its size,
inode, modification and change times (the change time cannot be set back by hand) and the text
of ``journal.head`` (its last sequence number and hash). It is taken before the journal is read,
so a journal that grows while it is read has a new key the next time and is read again.
:func:`refresh` keeps, per run directory, what was read from it with that key, and reads again
only the runs whose key changed or that are new: ``drconsole runs`` and the console's run lists
(``runs/rundir.py``) keep the replayed states in memory, the history (``report/index.py``) keeps
its summaries in the operator's cache directory.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from drconsole.journal.journal import HEAD, JOURNAL, Event, VerifyReport, parse_line, verify_bytes
from drconsole.runs.state import RunState, apply

Key = list[Any]
T = TypeVar("T")


def key(run_dir: Path) -> Key | None:
    """What must be unchanged for what was read from a run to stand; None with no journal."""
    try:
        st = os.stat(run_dir / JOURNAL)
    except OSError:
        return None
    return _key(st, _head(run_dir))


def _key(st: os.stat_result, head: bytes | None) -> Key:
    text = (head or b"").strip().decode("utf-8", "replace")
    return [st.st_size, st.st_ino, st.st_mtime_ns, st.st_ctime_ns, text]


def _head(run_dir: Path) -> bytes | None:
    try:
        return (run_dir / HEAD).read_bytes()
    except FileNotFoundError:
        return None
    except OSError:
        return b""  # there but unreadable: verify says so


@dataclass(frozen=True)
class Snapshot:
    """A journal's bytes and its head's (None: no head file), read once, with their key."""

    data: bytes
    head: bytes | None
    key: Key | None = None

    @classmethod
    def read(cls, run_dir: Path) -> Snapshot:
        """The key, then the head, then the journal.

        Raises:
            OSError: the journal cannot be read (missing, permissions).
        """
        st = os.stat(run_dir / JOURNAL)
        head = _head(run_dir)
        return cls((run_dir / JOURNAL).read_bytes(), head, _key(st, head))

    def verify(self) -> VerifyReport:
        """The journal's check, of these bytes."""
        return verify_bytes(self.data, self.head)

    def events(self) -> Iterator[Event]:
        """Every complete event, in order (a torn last line is left out), as ``read_events``.

        Raises:
            ValueError: a line is not UTF-8.
        """
        data, start = self.data, 0
        while (end := data.find(b"\n", start)) != -1:
            event = parse_line(data[start : end + 1].decode("utf-8"))
            if event is None:
                return
            yield event
            start = end + 1

    def replay(self) -> tuple[list[Event], RunState]:
        """The events and the state they replay to, up to the first line that is not an event
        the engine could have written (an edited journal: its check says where it breaks)."""
        events, state = [], RunState()
        try:
            for event in self.events():
                apply(state, event)
                events.append(event)
        except (KeyError, TypeError, ValueError):
            pass
        return events, state


def refresh(
    runs_dir: Path, kept: Mapping[str, tuple[Key, T]], read: Callable[[Path], T]
) -> dict[str, tuple[Key, T]]:
    """Every run directory under ``runs_dir`` (by name) with its key and what was read from it:
    from ``kept`` where its key is unchanged, from ``read`` where it changed or is new. A run
    ``read`` raises OSError or UnicodeDecodeError for is left out."""
    fresh: dict[str, tuple[Key, T]] = {}
    if not runs_dir.is_dir():
        return fresh
    for child in runs_dir.iterdir():
        now = key(child)
        if now is None:
            continue
        entry = kept.get(child.name)
        if entry is None or entry[0] != now:
            try:
                entry = (now, read(child))
            except (OSError, UnicodeDecodeError):
                continue
        fresh[child.name] = entry
    return fresh
