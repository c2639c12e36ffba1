"""Action specs are typed by their parameter model: strict mypy checks what each runner and
describer reads (``ActionSpec[P]``, keyword-only), so a misspelt parameter fails the lint, not
a step in the middle of a recovery."""

from __future__ import annotations

import sys
from pathlib import Path

from mypy import api

SPEC = """
from drconsole.adapters.base import ActionSpec, Effect, Params


class Port(Params):
    port: int


ACTIONS = [
    ActionSpec(
        name="x.ping",
        summary="Ping.",
        params=Port,
        outputs={},
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: {"port": p.prot},
        describe=lambda p: f"ping {p.port + 'x'}",
    )
]
"""


def test_mypy_checks_a_runner_and_a_describer_against_their_parameter_model(
    tmp_path: Path,
) -> None:
    (tmp_path / "adapter.py").write_text(SPEC)
    out, err, code = api.run(
        [str(tmp_path / "adapter.py"), "--strict", "--follow-imports", "silent",
         "--cache-dir", str(tmp_path / "cache"), "--python-executable", sys.executable]
    )  # fmt: skip
    assert code == 1, (out, err)
    assert '"Port" has no attribute "prot"' in out
    assert 'Unsupported operand types for + ("int" and "str")' in out
