"""Where the sandbox lives by default. Light on purpose: the console reads it at start-up."""

from __future__ import annotations

import os
from pathlib import Path


def default_dir() -> Path:
    """``$XDG_DATA_HOME/drconsole/sandbox``; as root ``/var/lib/drconsole/sandbox``, because the
    unprivileged user the clusters run as cannot reach into root's home."""
    if os.environ.get("XDG_DATA_HOME"):
        return Path(os.environ["XDG_DATA_HOME"]) / "drconsole" / "sandbox"
    if os.geteuid() == 0:
        return Path("/var/lib/drconsole/sandbox")
    return Path.home() / ".local" / "share" / "drconsole" / "sandbox"
