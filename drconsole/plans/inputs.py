"""Typed plan inputs: read from text (command line, answers file, prompt), checked, normalised.

Values are kept JSON-friendly for the journal: timestamps as ISO 8601 UTC text, durations as
seconds, the rest as their own type.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from drconsole.plans.model import InputSpec, InputType, Plan, plan_duration
from drconsole.timeutil import TimeFormatError, format_timestamp, parse_timestamp

INCIDENT_AT = "incident_at"


class InputError(ValueError):
    """An input value that does not fit its type; the message says what is expected."""


def coerce(name: str, spec: InputSpec, raw: Any) -> Any:
    """The value of input ``name`` from ``raw``, normalised for the journal.

    Raises:
        InputError: the value does not fit the input's type.
    """
    kind = spec.type
    try:
        if kind is InputType.STRING:
            return str(raw)
        if kind is InputType.INT:
            if isinstance(raw, bool):
                raise ValueError
            return int(str(raw).strip())
        if kind is InputType.BOOL:
            text = str(raw).strip().lower()
            if text in ("true", "yes", "y", "1", "on"):
                return True
            if text in ("false", "no", "n", "0", "off"):
                return False
            raise ValueError
        if kind is InputType.CHOICE:
            if str(raw) not in (spec.choices or []):
                raise InputError(
                    f"input {name}: {raw!r} is not one of {', '.join(spec.choices or [])}"
                )
            return str(raw)
        if kind is InputType.DURATION:
            return plan_duration(raw).total_seconds()
        if kind is InputType.TIMESTAMP:
            return format_timestamp(parse_timestamp(raw))
    except TimeFormatError as exc:
        raise InputError(f"input {name}: {exc}") from None
    except ValueError:
        raise InputError(f"input {name}: {raw!r} is not a valid {kind.value}") from None
    raise InputError(f"input {name}: unknown type {kind}")


def collect(plan: Plan, given: Mapping[str, Any], run_start: datetime) -> dict[str, Any]:
    """All inputs of ``plan`` from ``given`` and the defaults.

    Raises:
        InputError: unknown names, bad values, or missing required inputs (all listed).
    """
    problems: list[str] = []
    values: dict[str, Any] = {}
    for name in given:
        if name not in plan.inputs:
            known = ", ".join(plan.inputs) or "none"
            problems.append(f"plan {plan.id} has no input {name!r} (its inputs: {known})")
    for name, spec in plan.inputs.items():
        raw = given.get(name, spec.default)
        if raw is None and name == INCIDENT_AT:
            raw = format_timestamp(run_start)
        if raw is None:
            if spec.required:
                problems.append(
                    f"missing input {name}: pass --input {name}=VALUE"
                    + (f" ({spec.prompt})" if spec.prompt else "")
                )
            continue
        try:
            values[name] = coerce(name, spec, raw)
        except InputError as exc:
            problems.append(str(exc))
    if problems:
        raise InputError("; ".join(problems))
    return values


def incident_time(values: Mapping[str, Any], run_start: datetime) -> datetime:
    """The incident time for the RTO/RPO clocks: the ``incident_at`` input, else the start."""
    raw = values.get(INCIDENT_AT)
    return parse_timestamp(raw) if isinstance(raw, str) else run_start
