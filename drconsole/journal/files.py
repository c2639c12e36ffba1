"""Files drconsole writes: private to the operator, whole or not at all, and plain words when
the disk is full.

Run directories are 0700 and every file drconsole writes is 0600, whatever the umask. A file
written for someone (a report, a record, ``journal.partial``) goes to a temporary file in the same
directory, is fsynced and renamed over the name, so a full disk or a crash leaves the old file
or none, never a half-written one.
"""

from __future__ import annotations

import errno
import os
import tempfile
from contextlib import suppress
from pathlib import Path

_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def is_disk_full(exc: OSError) -> bool:
    return exc.errno in _FULL


def describe_write_error(exc: OSError, path: Path) -> str:
    """``the disk holding DIR is full (...)`` for a full disk or quota, else what failed."""
    if is_disk_full(exc):
        return f"the disk holding {path.parent} is full ({exc.strerror or exc})"
    return f"cannot write {path}: {exc.strerror or exc}"


def write_private(path: Path, data: bytes | str) -> None:
    """Write ``path`` atomically (temporary file, fsync, rename) with mode 0600.

    Raises:
        OSError: it could not be written; ``path`` is as it was before.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    with suppress(OSError):  # the rename itself durable; not every filesystem allows this
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
