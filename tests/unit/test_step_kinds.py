"""Step kinds live in one table (engine/steps/KINDS), which must name exactly the plan model's
kinds: a kind added to the plan model without its module here (or the reverse) fails."""

from __future__ import annotations

from drconsole.engine.answers import StepAnswers
from drconsole.engine.steps import KINDS
from drconsole.plans.model import STEP_KINDS, Step


def test_the_kinds_table_is_the_plan_models_kinds() -> None:
    assert sorted(KINDS) == sorted(STEP_KINDS)
    assert all(kind.name == name for name, kind in KINDS.items())


def test_every_kind_asks_only_what_an_answers_file_can_give() -> None:
    sections = set(StepAnswers.model_fields)
    step = Step.model_validate({"id": "s", "manual": "do it", "evidence": {"x": {"prompt": "x"}}})
    for kind in KINDS.values():
        assert kind.asks(step) <= sections, kind.name
