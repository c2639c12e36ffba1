"""Client libraries are imported in one thread before a plan's steps run side by side: two steps
importing the same library at once can get a partially initialised module."""

from __future__ import annotations

import subprocess
import sys

from drconsole.adapters import registry


def test_every_adapter_names_what_it_imports() -> None:
    assert set(registry.LIBRARIES) == set(registry.MODULES)


def test_preload_imports_the_plans_libraries_and_no_others() -> None:
    code = (
        "import sys\n"
        "from drconsole.adapters import registry\n"
        "registry.preload(['vault.unseal', 'k8s.scale'])\n"
        "print(sorted(m for m in ('hvac', 'requests', 'kubernetes.client', 'boto3', 'psycopg')"
        " if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['hvac', 'kubernetes.client', 'requests']"
