"""Step kinds, one module each, registered in ONE table: :data:`KINDS`, keyed by the plan's
step key (``plans.model.STEP_KINDS``; a test holds the two equal). A new kind is a module here
with its describe / simulate / execute, a line in this table, and its field in the plan model.
"""

from __future__ import annotations

from drconsole.engine.steps import action, approval, ceremony_kinds, manual, milestone, wait
from drconsole.engine.steps.base import StepKind, StepRun

KINDS: dict[str, StepKind] = {
    kind.name: kind
    for kind in (
        action.ACTION,
        action.CHECK,
        manual.KIND,
        approval.KIND,
        wait.KIND,
        milestone.KIND,
        ceremony_kinds.CHECKBOX,
        ceremony_kinds.CHOICE,
        ceremony_kinds.RECORD,
        ceremony_kinds.BAG,
        ceremony_kinds.QUORUM,
    )
}

__all__ = ["KINDS", "StepKind", "StepRun"]
