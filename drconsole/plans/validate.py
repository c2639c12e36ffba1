"""Load a plan file and report every problem as ``path:line:col: message``.

Three passes: YAML syntax, the pydantic shape, then what the shape cannot see (duplicate ids,
unknown dependencies and cycles, unknown actions and parameters, references to nothing,
destructive steps without a confirmation text, destructive steps that can start before a guard
on the same site has decided, an incident ``severity`` input that offers a severity the
operations guide does not have).

A plan may be hostile: the YAML loader bounds what it builds (:mod:`drconsole.plans.yamlpos`),
and every walk of the step graph here is iterative and near-linear, so a 10,000-step cycle or
a 2000-step chain of references is answered in a second or two, never with a traceback.
"""

from __future__ import annotations

import difflib
import hashlib
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from drconsole.adapters import registry
from drconsole.adapters.base import Effect
from drconsole.plans.inputs import InputError, coerce
from drconsole.plans.model import InputSpec, InputType, OnFailure, Plan, Step
from drconsole.plans.refs import RefError, has_refs, iter_refs, parse_ref
from drconsole.plans.yamlpos import LoadedYaml, Position, YamlSyntaxError, load_yaml

PathT = tuple[str | int, ...]

# The operations guide's incident severities; their targets are in drconsole.engine.clocks
# (which this layer cannot import: a test keeps the two the same).
SEVERITY_INPUT = "severity"
SEVERITIES = {
    "P1": "full outage",
    "P2": "major function failed",
    "P3": "partly degraded",
    "P4": "minor problem",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a plan, where it stands."""

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


@dataclass
class LoadResult:
    """A plan (when valid), its problems, its source text and SHA-256."""

    file: str
    plan: Plan | None
    problems: list[Problem] = field(default_factory=list)
    text: str = ""
    sha256: str = ""

    @property
    def ok(self) -> bool:
        return self.plan is not None and not self.problems


def load_plan(path: str | Path) -> LoadResult:
    """Read and validate a plan file. Never raises for bad input: problems are returned."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return LoadResult(name, None, [Problem(name, 1, 1, "no such file")])
    except OSError as exc:
        return LoadResult(name, None, [Problem(name, 1, 1, f"cannot read: {exc.strerror}")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return LoadResult(name, None, [Problem(name, 1, 1, f"not UTF-8 text: {exc.reason}")])
    result = validate_text(text, name)
    result.sha256 = hashlib.sha256(raw).hexdigest()
    return result


def validate_text(text: str, name: str = "<plan>") -> LoadResult:
    """Validate plan text; see :func:`load_plan`."""
    try:
        loaded = load_yaml(text)
    except YamlSyntaxError as exc:
        pos = exc.position
        return LoadResult(name, None, [Problem(name, pos.line, pos.col, exc.message)], text)
    problems = [Problem(name, p.line, p.col, m) for p, m in loaded.problems]
    if not isinstance(loaded.data, dict):
        problems.append(Problem(name, 1, 1, "a plan is a mapping with id, title, kind and steps"))
        return LoadResult(name, None, problems, text)
    try:
        plan = Plan.model_validate(loaded.data)
    except ValidationError as exc:
        problems.extend(_shape_problems(exc, loaded, name))
        problems.extend(_duplicate_ids(loaded, name))
        return LoadResult(name, None, _sorted(problems), text)
    try:
        problems.extend(_Checker(plan, loaded, name).run())
    except (RecursionError, MemoryError):  # a last defence: hostile input must never crash
        problems.append(Problem(name, 1, 1, "the plan is too large or too deep to check"))
    if problems:
        return LoadResult(name, None, _sorted(problems), text)
    return LoadResult(name, plan, [], text)


def _sorted(problems: list[Problem]) -> list[Problem]:
    unique = dict.fromkeys(problems)
    return sorted(unique, key=lambda p: (p.line, p.col, p.message))


def _shape_problems(exc: ValidationError, loaded: LoadedYaml, name: str) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        # pydantic reports union members and model validators as extra loc parts; keep data keys
        pos = loaded.position(loc)
        kind = error["type"]
        field_name = str(loc[-1]) if loc else ""
        if kind == "extra_forbidden":
            parent = _parent_fields(loc)
            hint = difflib.get_close_matches(field_name, parent, n=1)
            more = f"; did you mean {hint[0]!r}?" if hint else ""
            message = f"unknown key {field_name!r}{more}"
        elif kind == "missing":
            message = f"missing required key {field_name!r}"
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
            if field_name and not isinstance(loc[-1], int):
                message = f"{field_name}: {message}"
        problems.append(Problem(name, pos.line, pos.col, message))
    return problems


def _parent_fields(loc: PathT) -> list[str]:
    from drconsole.plans import model

    if len(loc) == 1:
        return list(model.Plan.model_fields)
    if loc[0] == "steps":
        if len(loc) == 3:
            return [*model.Step.model_fields, "with"]
        if len(loc) == 4 and loc[2] == "retry":
            return list(model.RetryPolicy.model_fields)
        if len(loc) == 4 and loc[2] == "approval":
            return list(model.Approval.model_fields)
    if loc[0] == "inputs" and len(loc) == 3:
        return list(model.InputSpec.model_fields)
    if loc[0] == "objectives":
        return list(model.Objectives.model_fields)
    return []


def _duplicate_ids(loaded: LoadedYaml, name: str) -> list[Problem]:
    steps = loaded.data.get("steps") if isinstance(loaded.data, dict) else None
    if not isinstance(steps, list):
        return []
    seen: set[str] = set()
    problems = []
    for index, step in enumerate(steps):
        if isinstance(step, dict) and isinstance(step.get("id"), str):
            if step["id"] in seen:
                pos = loaded.position(("steps", index, "id"))
                problems.append(
                    Problem(name, pos.line, pos.col, f"duplicate step id {step['id']!r}")
                )
            seen.add(step["id"])
    return problems


def step_outputs(step: Step) -> set[str] | None:
    """The output names a step declares, or None when its action is unknown."""
    if step.call:
        spec = registry.lookup(step.call)
        return set(spec.outputs) if spec else None
    if step.manual is not None:
        return set(step.evidence) | {"confirmed_by"}
    if step.approval is not None:
        return {"signers"}
    if step.milestone is not None:
        return {"at", "recovery_point"}
    if step.checkbox is not None:
        return {"confirmed", "exceptions"}
    if step.choice is not None:
        return {"choice"}
    if step.record is not None:
        return set(step.record) | {"exceptions"}
    if step.bag is not None:
        return {"bag_id", "intact", "previous", "exceptions"}
    if step.quorum is not None:
        return {"holders", "presented"}
    return {"waited_s"}


class _Checker:
    def __init__(self, plan: Plan, loaded: LoadedYaml, name: str) -> None:
        self.plan = plan
        self.loaded = loaded
        self.name = name
        self.problems: list[Problem] = []
        self.index = {step.id: i for i, step in enumerate(plan.steps)}
        self.steps = {step.id: step for step in plan.steps}
        self.upstream: dict[str, int] = {}  # step id -> bit set of the steps it needs, transitively

    def at(self, path: PathT, message: str) -> None:
        pos: Position = self.loaded.position(path)
        self.problems.append(Problem(self.name, pos.line, pos.col, message))

    def run(self) -> list[Problem]:
        self.problems.extend(_duplicate_ids(self.loaded, self.name))
        for i, step in enumerate(self.plan.steps):
            base: PathT = ("steps", i)
            for j, dep in enumerate(step.needs):
                if dep not in self.index:
                    hint = difflib.get_close_matches(dep, list(self.index), n=1)
                    more = f"; did you mean {hint[0]!r}?" if hint else ""
                    self.at((*base, "needs", j), f"needs unknown step {dep!r}{more}")
                elif dep == step.id:
                    self.at((*base, "needs", j), f"step {step.id!r} needs itself")
            self._check_call(step, base)
            self._check_ceremony_step(step, base)
        cycle = self._upstream_sets()
        if cycle:
            first = self.index[cycle[0]]
            shown = cycle if len(cycle) <= 12 else [*cycle[:5], "...", *cycle[-5:]]
            size = f" of {len(cycle) - 1} steps" if len(cycle) > 12 else ""
            self.at(("steps", first, "needs"), f"dependency cycle{size}: " + " -> ".join(shown))
        else:
            for i, step in enumerate(self.plan.steps):
                self._check_refs(step, ("steps", i))
            self._check_key_material()
            self._check_guard_races()
        self._check_ceremony()
        for key, spec in self.plan.inputs.items():
            if not isinstance(key, str) or not key.replace("_", "").isalnum():
                self.at(("inputs", key), f"input name {key!r}: use letters, digits and _")
            if spec.default is not None:
                try:
                    coerce(key, spec, spec.default)
                except InputError as exc:
                    self.at(("inputs", key, "default"), f"default: {exc}")
            if spec.check is not None:
                self._check_input_check(key, spec.check)
            if key == SEVERITY_INPUT:
                self._check_severity(spec)
        return self.problems

    def _check_severity(self, spec: InputSpec) -> None:
        """The ``severity`` input starts the incident's clocks: it offers only the guide's
        severities (a P5 or a typo would run without clocks and without a word)."""
        guide = ", ".join(f"{k} {v}" for k, v in SEVERITIES.items())
        where: PathT = ("inputs", SEVERITY_INPUT)
        if spec.type is not InputType.CHOICE:
            self.at(
                (*where, "type"),
                "the severity input is a choice of the operations guide's severities: "
                f"write {{type: choice, choices: [{', '.join(SEVERITIES)}]}}",
            )
            return
        for j, choice in enumerate(spec.choices or []):
            if choice not in SEVERITIES:
                self.at(
                    (*where, "choices", j),
                    f"severity {choice!r} is not one of the operations guide's ({guide}); "
                    "the incident clocks know only these",
                )

    def _check_input_check(self, key: str, step_id: str) -> None:
        """An input's ``check`` names a read-only check that needs nothing but inputs and
        targets: it runs before the run starts, when no step has produced anything."""
        where = ("inputs", key, "check")
        step = next((s for s in self.plan.steps if s.id == step_id), None)
        if step is None:
            self.at(where, f"check: no step {step_id!r} in this plan")
            return
        spec = registry.lookup(step.call) if step.call else None
        if spec is None or not spec.read_only:
            self.at(where, f"check: step {step_id!r} is not a read-only action or check")
            return
        refs = []
        for _, expr in iter_refs([step.with_, step.site]):
            with suppress(RefError):  # a malformed reference is reported where it stands
                refs.append(parse_ref(expr))
        if any(ref.root == "steps" for ref in refs):
            self.at(where, f"check: step {step_id!r} needs other steps' outputs")
        elif not any(ref.root == "inputs" and ref.parts[0] == key for ref in refs):
            self.at(where, f"check: step {step_id!r} does not use ${{inputs.{key}}}")

    def _check_call(self, step: Step, base: PathT) -> None:
        kind = step.kind
        if step.with_ and kind not in ("action", "check"):
            self.at((*base, "with"), f"'with' is for action and check steps, not {kind}")
        if step.expect is not None and kind != "check":
            self.at((*base, "expect"), "'expect' is for check steps")
        if step.recovery_point is not None and kind != "milestone":
            self.at((*base, "recovery_point"), "'recovery_point' is for milestone steps")
        if step.evidence and kind != "manual":
            self.at((*base, "evidence"), "'evidence' is for manual steps")
        for key, item in (step.record or {}).items():
            if isinstance(item.expect, dict | list):
                self.at(
                    (*base, "record", key, "expect"),
                    "expect of a recorded value is one value (text, a number or a reference), "
                    "not a mapping or a list",
                )
        if step.confirm is not None and not step.destructive and kind not in ("action",):
            self.at((*base, "confirm"), "'confirm' goes with 'destructive: true'")
        call = step.call
        if call is None:
            if step.destructive and step.confirm is None:
                self.at((*base, "destructive"), "a destructive step needs 'confirm: <text>'")
            return
        spec = registry.lookup(call)
        if spec is None:
            names = list(registry.actions())
            hint = difflib.get_close_matches(call, names, n=1)
            more = f"; did you mean {hint[0]!r}?" if hint else ""
            self.at((*base, kind), f"unknown action {call!r}{more}")
            return
        if kind == "check" and spec.effect is not Effect.READ_ONLY:
            self.at((*base, kind), f"{call} changes state; a check must be read-only (use action)")
        if step.confirm is None and step.destructive:
            self.at((*base, "destructive"), "a destructive step needs 'confirm: <text>'")
        elif step.confirm is None and spec.effect is Effect.DESTRUCTIVE:
            self.at((*base, kind), f"{call} is destructive: add 'confirm: <text to type>'")
        if spec.needs_site and step.site is None:
            self.at((*base, kind), f"{call} acts on a target: add 'site: <name>'")
        fields = spec.params.model_fields
        for key in step.with_:
            if key not in fields:
                hint = difflib.get_close_matches(str(key), list(fields), n=1)
                more = f"; did you mean {hint[0]!r}?" if hint else ""
                self.at((*base, "with", key), f"{call} has no parameter {key!r}{more}")
        self._check_params(call, spec.params, step.with_, (*base, "with"))
        if step.expect:
            for key in step.expect:
                if key not in spec.outputs:
                    self.at((*base, "expect", key), f"{call} has no output {key!r}")

    def _check_params(
        self, call: str, model: type[BaseModel], params: dict[str, Any], where: PathT
    ) -> None:
        """Validate the parameters with the action's own model, validators included; a
        parameter that holds a reference is checked when the run knows its value."""
        try:
            model.model_validate(params)
        except ValidationError as exc:
            for error in exc.errors():
                loc = tuple(error["loc"])
                if error["type"] == "extra_forbidden":
                    continue  # reported above, with a suggestion
                if error["type"] == "missing" and len(loc) == 1:
                    self.at(where, f"{call} needs parameter {loc[0]!r}")
                    continue
                if _holds_ref(params, loc):
                    continue
                reason = str(error["msg"]).removeprefix("Value error, ")
                if loc:
                    self.at((*where, *loc), f"{call} parameter {loc[0]!r}: {reason}")
                else:
                    self.at(where, f"{call} parameters: {reason}")

    def _check_ceremony_step(self, step: Step, base: PathT) -> None:
        ceremony = self.plan.ceremony
        if step.call and self.plan.offline:
            spec = registry.lookup(step.call)
            if spec is not None and not spec.offline:
                self.at(
                    (*base, step.kind),
                    f"{step.call} needs a network; this plan is marked offline "
                    "(use local.*, hsm.* or a manual step)",
                )
        if step.quorum is not None:
            if ceremony is None:
                self.at((*base, "quorum"), "a quorum step needs a 'ceremony' section (roles)")
            elif step.quorum.role not in ceremony.roles:
                known = ", ".join(ceremony.roles)
                self.at(
                    (*base, "quorum", "role"),
                    f"unknown ceremony role {step.quorum.role!r} (roles: {known})",
                )
        if step.approval is not None and ceremony is not None:
            for j, role in enumerate(step.approval.roles):
                if role not in ceremony.roles:
                    self.at((*base, "approval", "roles", j), f"unknown ceremony role {role!r}")
        if step.key_material and ceremony is None:
            self.at((*base, "key_material"), "'key_material' is for ceremony plans")

    def _check_key_material(self) -> None:
        ceremony = self.plan.ceremony
        if ceremony is None or not ceremony.key_material_approvals:
            return
        for i, step in enumerate(self.plan.steps):
            if not step.key_material:
                continue
            approved: set[str] = set()
            for dep in self._ancestors(step.id):
                approval = self.steps[dep].approval
                if approval is not None:
                    approved.update(approval.roles)
            missing = [r for r in ceremony.key_material_approvals if r not in approved]
            if missing:
                self.at(
                    ("steps", i, "key_material"),
                    f"step {step.id!r} moves key material: it must need approval steps "
                    f"signed by {', '.join(missing)} first",
                )

    def _check_ceremony(self) -> None:
        ceremony = self.plan.ceremony
        if ceremony is None:
            return
        for key in ("administrator", "witness"):
            role = getattr(ceremony, key)
            if role not in ceremony.roles:
                self.at(("ceremony", key), f"the {key} role {role!r} is not among the roles")
        for j, role in enumerate(ceremony.key_material_approvals):
            if role not in ceremony.roles:
                self.at(("ceremony", "key_material_approvals", j), f"unknown role {role!r}")
        for _sub, expr in iter_refs(ceremony.previous_record):
            try:
                ref = parse_ref(expr)
            except RefError as exc:
                self.at(("ceremony", "previous_record"), str(exc))
                continue
            if ref.root != "inputs" or ref.parts[0] not in self.plan.inputs:
                self.at(("ceremony", "previous_record"), f"{ref.text}: use a declared input")

    def _check_guard_races(self) -> None:
        """A destructive step on the same site as a guarded step must wait for the guard's
        decision (need the guarded step, directly or through its needs), or the plan says it
        may run before it (``may_run_before_guard``). Sites are compared as written."""
        guarded = [(g, g.site.strip()) for g in self.plan.steps if g.guard and g.site is not None]
        for i, step in enumerate(self.plan.steps):
            base: PathT = ("steps", i)
            for j, name in enumerate(step.may_run_before_guard):
                other = self.steps.get(name)
                if other is None or not other.guard:
                    self.at((*base, "may_run_before_guard", j), f"{name!r} is not a guarded step")
            if not self._destructive(step) or step.site is None:
                continue
            for guard, site in guarded:
                if guard.id == step.id or site != step.site.strip():
                    continue
                if guard.id in step.may_run_before_guard:
                    continue
                if self._needs_transitively(guard.id, step.id):
                    continue  # the guarded step needs this one: it ran first by the plan's order
                where = (*base, "needs") if step.needs else (*base, "id")
                if not self._needs_transitively(step.id, guard.id):
                    self.at(
                        where,
                        f"destructive step {step.id!r} on site {step.site!r} can start before "
                        f"the guard of {guard.id!r} (same site) has decided: add {guard.id!r} "
                        "to its needs (or a step after it), or write "
                        f"'may_run_before_guard: [{guard.id}]' if that is meant",
                    )
                elif step.always:
                    self.at(
                        (*base, "always"),
                        f"destructive step {step.id!r} has 'always: true': it runs even when "
                        f"the guard of {guard.id!r} refuses",
                    )
                elif guard.on_failure is OnFailure.CONTINUE:
                    self.at(
                        ("steps", self.index[guard.id], "on_failure"),
                        f"guarded step {guard.id!r} has 'on_failure: continue': a refusal "
                        f"would let the destructive {step.id!r} run",
                    )

    @staticmethod
    def _destructive(step: Step) -> bool:
        if step.destructive:
            return True
        spec = registry.lookup(step.call) if step.call else None
        return spec is not None and spec.effect is Effect.DESTRUCTIVE

    def _upstream_sets(self) -> list[str] | None:
        """Fill ``self.upstream`` in one pass over the steps in dependency order (Kahn's
        algorithm: no recursion, so a 10,000-step chain is no deeper than a short one).

        Returns:
            A dependency cycle (``[a, c, b, a]``) when the steps have one, else None.
        """
        needs = {
            s.id: [d for d in dict.fromkeys(s.needs) if d in self.index] for s in self.plan.steps
        }
        waiting = {node: len(deps) for node, deps in needs.items()}
        dependents: dict[str, list[str]] = {node: [] for node in needs}
        for node, deps in needs.items():
            for dep in deps:
                dependents[dep].append(node)
        ready = [node for node, count in waiting.items() if count == 0]
        while ready:
            node = ready.pop()
            bits = 0
            for dep in needs[node]:
                bits |= self.upstream[dep] | (1 << self.index[dep])
            self.upstream[node] = bits
            for after in dependents[node]:
                waiting[after] -= 1
                if waiting[after] == 0:
                    ready.append(after)
        if len(self.upstream) == len(needs):
            return None
        # every step left waits on another one left: walk back from one until a step repeats
        node = next(n for n in needs if n not in self.upstream)
        seen: dict[str, int] = {}
        path: list[str] = []
        while node not in seen:
            seen[node] = len(path)
            path.append(node)
            node = next(d for d in needs[node] if d not in self.upstream)
        return [*path[seen[node] :], node]

    def _needs_transitively(self, step_id: str, other: str) -> bool:
        """Does ``step_id`` wait for ``other`` (directly or through its needs)?"""
        return bool(self.upstream[step_id] >> self.index[other] & 1)

    def _ancestors(self, step_id: str) -> list[str]:
        bits = self.upstream[step_id]
        return [s.id for i, s in enumerate(self.plan.steps) if bits >> i & 1]

    def _check_refs(self, step: Step, base: PathT) -> None:
        places: list[tuple[PathT, Any]] = [
            ((*base, "with"), step.with_),
            ((*base, "confirm"), step.confirm),
            ((*base, "recovery_point"), step.recovery_point),
            ((*base, "expect"), step.expect),
            ((*base, "when"), step.when),
            ((*base, "site"), step.site),
            ((*base, "manual"), step.manual),
            ((*base, "guard"), step.guard and TypeAdapter(Any).dump_python(step.guard)),
            ((*base, "checkbox"), step.checkbox),
            ((*base, "bag", "label"), step.bag.label if step.bag else None),
            ((*base, "record"), {k: f.expect for k, f in (step.record or {}).items()}),
        ]
        for where, value in places:
            for sub, expr in iter_refs(value):
                path = (*where, *sub)
                try:
                    ref = parse_ref(expr)
                except RefError as exc:
                    self.at(path, str(exc))
                    continue
                if ref.root == "inputs" and ref.parts[0] not in self.plan.inputs:
                    self.at(path, f"{ref.text}: no input {ref.parts[0]!r} is declared")
                elif ref.root == "steps":
                    target, _, output = ref.parts
                    if target not in self.index:
                        self.at(path, f"{ref.text}: no step {target!r}")
                        continue
                    if not self._needs_transitively(step.id, target):
                        self.at(
                            path,
                            f"{ref.text}: step {step.id!r} must need {target!r} "
                            "(directly or through its needs) to use its outputs",
                        )
                    outputs = step_outputs(self.steps[target])
                    if outputs is not None and output not in outputs:
                        known = ", ".join(sorted(outputs)) or "none"
                        self.at(
                            path,
                            f"{ref.text}: step {target!r} has no output {output!r} "
                            f"(it has: {known})",
                        )


def offline_capable(plan: Plan) -> bool:
    """True when no step calls an action that needs a network."""
    for step in plan.steps:
        if step.call:
            spec = registry.lookup(step.call)
            if spec is None or not spec.offline:
                return False
    return True


def _holds_ref(params: dict[str, Any], loc: PathT) -> bool:
    """Does the value a parameter error points at (or a key on its way) hold a reference?"""
    value: Any = params
    for part in loc:
        if part == "[key]":
            return False  # the key itself is wrong; keys are never references
        if isinstance(value, dict) and part in value:
            if has_refs(part):
                return True
            value = value[part]
        elif isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
            value = value[part]
        else:
            break
    return has_refs(value)
