"""Load a plan file and report every problem as ``path:line:col: message``.

Three passes: YAML syntax, the pydantic shape, then what the shape cannot see (duplicate ids,
unknown dependencies and cycles, unknown actions and parameters, references to nothing,
destructive steps without a confirmation text).
"""

from __future__ import annotations

import difflib
import hashlib
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from drconsole.adapters import registry
from drconsole.adapters.base import Effect
from drconsole.plans.inputs import InputError, coerce
from drconsole.plans.model import Plan, Step
from drconsole.plans.refs import RefError, has_refs, iter_refs, parse_ref
from drconsole.plans.yamlpos import LoadedYaml, Position, YamlSyntaxError, load_yaml

PathT = tuple[str | int, ...]


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
    checker = _Checker(plan, loaded, name)
    problems.extend(checker.run())
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
        cycle = self._find_cycle()
        if cycle:
            first = self.index[cycle[0]]
            self.at(("steps", first, "needs"), "dependency cycle: " + " -> ".join(cycle))
        else:
            for i, step in enumerate(self.plan.steps):
                self._check_refs(step, ("steps", i))
            self._check_key_material()
        self._check_ceremony()
        for key, spec in self.plan.inputs.items():
            if not isinstance(key, str) or not key.replace("_", "").isalnum():
                self.at(("inputs", key), f"input name {key!r}: use letters, digits and _")
            if spec.default is not None:
                try:
                    coerce(key, spec, spec.default)
                except InputError as exc:
                    self.at(("inputs", key, "default"), f"default: {exc}")
        return self.problems

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
        for key, value in step.with_.items():
            if key not in fields:
                hint = difflib.get_close_matches(str(key), list(fields), n=1)
                more = f"; did you mean {hint[0]!r}?" if hint else ""
                self.at((*base, "with", key), f"{call} has no parameter {key!r}{more}")
                continue
            if has_refs(value):
                continue
            info = fields[key]
            adapter: TypeAdapter[Any] = TypeAdapter(info.annotation or Any)
            try:
                checked = adapter.validate_python(value)
                for meta in info.metadata:
                    _check_constraint(meta, checked)
            except (ValidationError, ValueError) as exc:
                reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
                self.at((*base, "with", key), f"{call} parameter {key!r}: {reason}")
        for key, info in fields.items():
            if info.is_required() and key not in step.with_:
                self.at((*base, "with"), f"{call} needs parameter {key!r}")
        if step.expect:
            for key in step.expect:
                if key not in spec.outputs:
                    self.at((*base, "expect", key), f"{call} has no output {key!r}")

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
                approval = self.plan.step(dep).approval
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

    def _find_cycle(self) -> list[str] | None:
        graph = {s.id: [d for d in s.needs if d in self.index] for s in self.plan.steps}
        state: dict[str, int] = {}
        stack: list[str] = []

        def visit(node: str) -> list[str] | None:
            state[node] = 1
            stack.append(node)
            for dep in graph[node]:
                if state.get(dep) == 1:
                    return [*stack[stack.index(dep) :], dep]
                if dep not in state:
                    found = visit(dep)
                    if found:
                        return found
            stack.pop()
            state[node] = 2
            return None

        for node in graph:
            if node not in state:
                found = visit(node)
                if found:
                    return found
        return None

    def _ancestors(self, step_id: str) -> set[str]:
        seen: set[str] = set()
        todo = list(self.plan.step(step_id).needs)
        while todo:
            dep = todo.pop()
            if dep in seen or dep not in self.index:
                continue
            seen.add(dep)
            todo.extend(self.plan.step(dep).needs)
        return seen

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
        ancestors: set[str] | None = None
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
                    if ancestors is None:
                        ancestors = self._ancestors(step.id)
                    if target not in ancestors:
                        self.at(
                            path,
                            f"{ref.text}: step {step.id!r} must need {target!r} "
                            "(directly or through its needs) to use its outputs",
                        )
                    outputs = step_outputs(self.plan.step(target))
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


def _check_constraint(meta: Any, value: Any) -> None:
    """Apply annotated-types constraints (ge, le, min_length...) to a literal value."""
    bounds: tuple[tuple[str, Callable[[Any, Any], bool], str], ...] = (
        ("ge", operator.ge, "at least"),
        ("gt", operator.gt, "more than"),
        ("le", operator.le, "at most"),
        ("lt", operator.lt, "less than"),
    )
    for attr, test, words in bounds:
        bound = getattr(meta, attr, None)
        if bound is not None and isinstance(value, int | float) and not test(value, bound):
            raise ValueError(f"must be {words} {bound}")
    min_length = getattr(meta, "min_length", None)
    if min_length is not None and hasattr(value, "__len__") and len(value) < min_length:
        raise ValueError(f"needs at least {min_length} item(s)")
