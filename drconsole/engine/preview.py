"""What a dry run knows and does not know yet.

A dry run calls nothing, so a step's outputs are placeholders (``<restore.port>``). A parameter
that holds one cannot be checked against its type until a real run produces the value; every
other parameter is checked now. :func:`check_params` splits the two, so a preview never fails on
a value only a real run produces, and says what will be checked when it is known.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

_PLACEHOLDER = re.compile(r"<[A-Za-z0-9_.-]+\.[A-Za-z0-9_]+>")


def placeholder(step_id: str, output: str) -> str:
    """The stand-in a dry run gives for an output a real run would produce."""
    return f"<{step_id}.{output}>"


def has_placeholder(value: Any) -> bool:
    """Whether ``value`` (or anything inside it) stands for a not-yet-known output."""
    if isinstance(value, str):
        return _PLACEHOLDER.search(value) is not None
    if isinstance(value, dict):
        return any(has_placeholder(v) for v in value.values())
    if isinstance(value, list):
        return any(has_placeholder(v) for v in value)
    return False


@dataclass
class ParamCheck:
    """Parameters checked in a preview: the first real problem, and what waits for a value."""

    problem: str | None = None
    deferred: list[str] = field(default_factory=list)  # "port (an integer)", ...


def check_params(action: str, model: type[BaseModel], params: dict[str, Any]) -> ParamCheck:
    """Validate ``params`` as far as they are known: errors in a parameter that holds a
    placeholder are deferred (with what will be checked), any other error is a problem."""
    try:
        model.model_validate(params)
    except ValidationError as exc:
        check = ParamCheck()
        for error in exc.errors():
            loc = error["loc"]
            top = str(loc[0]) if loc else ""
            where = ".".join(str(p) for p in loc)
            if top in params and has_placeholder(params[top]):
                expected = error["msg"].removeprefix("Input should be ").rstrip(".")
                text = f"{where} ({expected})"
                if text not in check.deferred:
                    check.deferred.append(text)
            elif check.problem is None:
                check.problem = f"{action} parameter {where}: {error['msg']}"
        return check
    return ParamCheck()
