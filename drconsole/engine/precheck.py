"""An input checked before the run starts: the start form asks the plan's own read-only check.

A plan names, for an input, the check step that tests it (``inputs.NAME.check``: e.g. the PITR's
recovery window for ``target_time``). The form runs that step's action with the inputs typed so
far, shows what it read, and refuses a value the check fails on, so a target outside the window
never becomes a FAILED run in the history. The run itself still runs the step: the world may
change between the form and the run. A check whose step needs a step that changes the site
first (the PITR's flush-wal) and that takes ``until_now`` is asked with it: the window then ends
now, as it will once that step has run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from drconsole.adapters import registry
from drconsole.adapters.base import ActionContext, AdapterError, CheckFailed
from drconsole.engine.events import show
from drconsole.plans import inputs as plan_inputs
from drconsole.plans.model import Plan
from drconsole.plans.refs import Ref, RefError, resolve
from drconsole.targets import Targets, TargetsError
from drconsole.timeutil import utcnow


@dataclass
class PreCheck:
    """What the check said. ``refused``: the value fails the check (do not start);
    ``unknown``: it could not be asked (the run will ask it again); else it passed."""

    text: str
    refused: bool = False
    unknown: bool = False
    outputs: dict[str, Any] = field(default_factory=dict)


def precheck(
    plan: Plan, name: str, given: dict[str, Any], targets: Targets | None
) -> PreCheck | None:
    """Run the check named by input ``name`` with the inputs ``given`` (raw text as typed; an
    empty or missing value asks the check what it reads without testing a value). Blocking:
    call it from a worker thread. None when the input names no check."""
    spec_in = plan.inputs.get(name)
    if spec_in is None or spec_in.check is None:
        return None
    step = plan.step(spec_in.check)
    spec = registry.lookup(step.call) if step.call else None
    if spec is None or not spec.read_only:
        return None
    values: dict[str, Any] = {}
    for key, spec_key in plan.inputs.items():
        raw = given.get(key)
        raw = spec_key.default if raw in (None, "") else raw
        if raw is None:
            values[key] = None
            continue
        try:
            values[key] = plan_inputs.coerce(key, spec_key, raw)
        except plan_inputs.InputError as exc:
            return PreCheck(str(exc), refused=True)
    sites = targets or Targets()

    def lookup(ref: Ref) -> Any:
        if ref.root == "inputs":
            return values.get(ref.parts[0])
        if ref.root == "targets":
            value: Any = sites.site(ref.parts[0]).as_dict()
            for part in ref.parts[1:]:
                value = value[part]
            return value
        raise RefError(f"{ref.text}: not known before the run")

    try:
        params = resolve(step.with_, lookup)
        if "until_now" in spec.params.model_fields and _changes_first(plan, step.needs):
            # the steps the check needs change the site before the run asks it again (the
            # PITR's flush-wal archives the newest WAL): the window ends now, not at the
            # last WAL archived so far
            params = {**params, "until_now": True}
        site_name = str(resolve(step.site, lookup)) if step.site else None
        site = sites.site(site_name).as_dict() if site_name else {}
        model = spec.params.model_validate(params)
    except (RefError, TargetsError, KeyError, ValidationError) as exc:
        return PreCheck(f"cannot ask {step.label!r} before the run: {exc}", unknown=True)
    try:
        outputs = dict(spec.run(ActionContext(site=site, site_name=site_name), model))
    except CheckFailed as exc:
        return PreCheck(str(exc), refused=True, outputs=dict(exc.evidence))
    except AdapterError as exc:
        return PreCheck(f"could not check now ({exc}); the run checks it again", unknown=True)
    read = ", ".join(f"{k} {show(v, k)}" for k, v in outputs.items() if v not in (None, ""))
    return PreCheck(f"{step.label}: {read} (read {utcnow():%H:%M:%S} UTC)", outputs=outputs)


def _changes_first(plan: Plan, needs: list[str]) -> bool:
    """Whether one of the steps ``needs`` names is an action that changes the site."""
    for name in needs:
        call = plan.step(name).call
        spec = registry.lookup(call) if call else None
        if spec is not None and not spec.read_only:
            return True
    return False
