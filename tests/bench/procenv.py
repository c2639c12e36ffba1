"""The environment the benchmarks start drconsole processes in: like an installed drconsole,
whose modules are compiled once, not at every start (a work tree run with
PYTHONDONTWRITEBYTECODE=1 would compile every changed module in every process and count it).
The bytecode goes to a cache directory of the benchmark's own, never into the tree."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

_CACHE = tempfile.mkdtemp(prefix="drconsole-bench-pycache-")
atexit.register(shutil.rmtree, _CACHE, True)


def bench_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = _CACHE
    return env
