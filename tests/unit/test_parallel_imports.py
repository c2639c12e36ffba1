"""Parallel steps do not import a shared client library at the same moment (issue 18, item 1).

The failover restores the DR Vault (hvac) and scales up the api-server (the Kubernetes client)
at the same moment, and both import requests. Left to the step threads, the two imports met
requests half-initialised about one time in five (ImportError: cannot import name
'parse_dict_header' from partially initialized module 'requests.utils') and the failover
failed. Validating the plan loads the Vault adapter, which loads requests, in the validating
thread before any step runs."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_validating_the_failover_loads_requests_before_any_step_runs() -> None:
    script = (
        "import sys\n"
        "from drconsole.plans.validate import load_plan\n"
        f"assert load_plan({str(REPO / 'plans' / 'dr-site-failover.yaml')!r}).plan is not None\n"
        "print(' '.join(sys.modules))\n"
    )
    modules = set(
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    assert {"requests", "requests.utils", "urllib3"} <= modules
