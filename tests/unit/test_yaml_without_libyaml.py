"""Plans validate where PyYAML was built without libyaml (its C extension): the loader falls back
to PyYAML's own parser, with the same data, positions, problems and bounds. Forced here by
making ``yaml._yaml`` unimportable in a fresh interpreter, as it is on such a machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from drconsole.plans.validate import validate_text
from tests.conftest import REPO
from tests.unit.test_validate import BOMB

WITHOUT_LIBYAML = "import sys\nsys.modules['yaml._yaml'] = None  # as if PyYAML had no libyaml\n"
BROKEN = [
    BOMB,
    "id: x\ntitle: T\nkind: drill\nid: y\nsteps:\n  - {id: a, manual: m}\n",  # a duplicate key
    "id: x\ntitle: T\nkind: drill\nsteps:\n  - id: a\n    action: local.sleep\n"
    "    with: {seconds: 1, x: " + "[" * 600 + "]" * 600 + "}\n",  # too deep
    "id: x\ntitle: T\nkind: drill\na: &a [1, *a]\nsteps:\n  - {id: a, manual: m}\n",
    "id: x\ntitle: T\nkind: drill\nsteps:\n  - id: a\n    action: local.sleep\n"
    "    with: {seconds: " + "9" * 5000 + "}\n",
]
NOT_YAML = "id: x\ntitle: T\nkind: drill\nsteps: [{id: a, manual: m}\n"


def _problems(texts: list[str], prefix: str = "") -> list[list[str]]:
    """Each text's problems as validate says them, in a fresh interpreter after ``prefix``."""
    code = (
        prefix
        + "import json, yaml\nfrom drconsole.plans.validate import validate_text\n"
        + "texts = json.load(sys.stdin)\n"
        + "print(json.dumps([yaml.__with_libyaml__] + "
        + "[[str(p) for p in validate_text(t).problems] for t in texts]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", "import sys\n" + code],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    with_libyaml, *found = json.loads(done.stdout)
    assert with_libyaml is (not prefix)
    return list(found)


def test_plans_validate_the_same_without_libyaml() -> None:
    assert yaml.__with_libyaml__, "this machine's PyYAML has no libyaml: nothing to compare"
    shipped = [p.read_text() for p in sorted((REPO / "plans").glob("*.yaml"))]
    texts = shipped + BROKEN
    without = _problems(texts, WITHOUT_LIBYAML)
    assert without == [[str(p) for p in validate_text(t).problems] for t in texts]
    assert without[: len(shipped)] == [[]] * len(shipped)  # every shipped plan validates
    assert all(without[len(shipped) :])  # and every broken one is refused


def test_not_yaml_is_said_with_its_place_without_libyaml() -> None:
    """The two parsers word a syntax error differently; both say where it is."""
    ((problem,),) = _problems([NOT_YAML], WITHOUT_LIBYAML)
    assert problem.startswith("<plan>:5:1: YAML syntax error: "), problem
    assert "Traceback" not in problem


def test_the_cli_validates_without_libyaml(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(BROKEN[1])
    run = WITHOUT_LIBYAML + "import runpy\nrunpy.run_module('drconsole', run_name='__main__')\n"
    done = subprocess.run(
        [sys.executable, "-c", run, "validate", str(plan)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{plan}:4:1: duplicate key 'id'" in done.stderr
    assert "Traceback" not in done.stderr
