"""What a step ends with, shared by the engine and the ceremony steps: the outcome, the error
that fails a step, and the check of recorded values."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from drconsole.engine.operator import FieldSpec
from drconsole.runs.state import StepStatus

ASK_AGAIN = 3  # a refused answer is asked again this many times in all


class Refused(Exception):
    """Every answer to a question broke a rule; the message is the last refusal."""


class StepFailed(Exception):
    """A step could not complete; the message is what the operator reads."""

    def __init__(self, message: str, outputs: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.outputs = outputs or {}


@dataclass
class Outcome:
    status: StepStatus
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    reason: str | None = None
    continued: bool = False


def evidence_problem(fields: list[FieldSpec], values: dict[str, str]) -> str | None:
    known = {f.name for f in fields}
    extra = sorted(set(values) - known)
    if extra:
        return f"unknown evidence field {extra[0]!r} (expected: {', '.join(sorted(known))})"
    for f in fields:
        value = values.get(f.name)
        if value is None or str(value).strip() == "":
            if f.required:
                return f"{f.name} is required"
            continue
        if f.pattern and not re.fullmatch(f.pattern, str(value)):
            return f"{f.name} {value!r} does not match the expected form {f.pattern}"
        if f.choices and str(value) not in f.choices:
            return f"{f.name} must be one of {', '.join(f.choices)}"
    return None
