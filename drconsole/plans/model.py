"""The pydantic model of a plan. Its shape is the contract documented in ``docs/plans.md``.

A plan has an id, a title, a kind, objectives (RTO, RPO), typed inputs, and steps. Each step is
exactly one of: ``action``, ``check``, ``manual``, ``approval``, ``wait``, ``milestone``,
``checkbox``, ``choice``, ``record``, ``bag``, ``quorum``. A plan with a ``ceremony`` section is
run as a witnessed ceremony (participants, initials per step, exceptions, attestations).
"""

from __future__ import annotations

import math
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)

from drconsole.timeutil import TimeFormatError, format_duration, parse_duration

MAX_DURATION = timedelta(days=366)


def plan_duration(raw: str | int | float) -> timedelta:
    """A duration as plans write it (``30s``, ``1h30m``), at most :data:`MAX_DURATION`.

    Raises:
        TimeFormatError: not a duration, or longer than a plan can mean.
    """
    if isinstance(raw, float) and not math.isfinite(raw):
        raise TimeFormatError(f"{raw!r} is not a duration; write e.g. 30s, 15m, 1h30m")
    try:
        delta = parse_duration(raw)
    except OverflowError:
        delta = timedelta.max
    if delta > MAX_DURATION:
        raise TimeFormatError(f"{str(raw)[:40]!r} is too long; a duration is at most 366d")
    return delta


Duration = Annotated[
    timedelta,
    BeforeValidator(plan_duration),
    PlainSerializer(lambda d: format_duration(d), return_type=str),
    WithJsonSchema(
        {
            "type": ["string", "number"],
            "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d))+$|^\d+(\.\d+)?$",
            "description": "A duration: 30s, 15m, 1h30m, 2d, or a number of seconds.",
        }
    ),
]

IDENT = r"^[a-z][a-z0-9_-]*$"
STEP_KINDS = (
    "action",
    "check",
    "manual",
    "approval",
    "wait",
    "milestone",
    "checkbox",
    "choice",
    "record",
    "bag",
    "quorum",
)


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class PlanKind(StrEnum):
    VERIFICATION = "verification"
    RESTORE = "restore"
    FAILOVER = "failover"
    CEREMONY = "ceremony"
    DRILL = "drill"


class InputType(StrEnum):
    STRING = "string"
    INT = "int"
    BOOL = "bool"
    CHOICE = "choice"
    DURATION = "duration"
    TIMESTAMP = "timestamp"


class OnFailure(StrEnum):
    STOP = "stop"
    CONTINUE = "continue"
    ASK = "ask"


class Backoff(StrEnum):
    FIXED = "fixed"
    EXPONENTIAL = "exponential"


class Objectives(Model):
    """Recovery objectives the run is measured against."""

    rto: Duration | None = Field(None, description="Recovery time objective.")
    rpo: Duration | None = Field(None, description="Recovery point objective.")


class InputSpec(Model):
    """A typed input, asked for at the start of a run."""

    type: InputType = InputType.STRING
    required: bool = False
    default: Any = None
    prompt: str | None = None
    description: str | None = None
    choices: list[str] | None = None
    check: str | None = Field(
        None,
        description=(
            "The id of a read-only check step that tests this input before the run starts "
            "(the start form runs it, shows what it reads, and refuses a value it fails on)."
        ),
    )

    @model_validator(mode="after")
    def _choices(self) -> InputSpec:
        if self.type is InputType.CHOICE and not self.choices:
            raise ValueError("a choice input needs 'choices'")
        if self.type is not InputType.CHOICE and self.choices:
            raise ValueError("'choices' is only for inputs of type choice")
        return self


class RetryPolicy(Model):
    """How transient failures are retried. Permanent failures are never retried."""

    attempts: int = Field(3, ge=1, le=50, description="Attempts in all, the first included.")
    backoff: Backoff = Backoff.EXPONENTIAL
    delay: Duration = Field(timedelta(seconds=1), description="The first wait between attempts.")
    max_delay: Duration = Field(timedelta(seconds=30), description="The longest wait.")


class Approval(Model):
    """Sign-off by ``signers`` distinct named people covering every role listed."""

    signers: int = Field(1, ge=1, le=20)
    roles: list[str] = Field(default_factory=list)


class Guard(Model):
    """A safety interlock: when ``refuse_when`` is true the step is refused, unless the operator
    types ``override`` and gives a reason (both journaled)."""

    refuse_when: bool | str = Field(description="Usually an output: ${steps.ID.outputs.NAME}.")
    because: str = Field(description="Why going ahead would be dangerous, in words.")
    override: str = Field(min_length=3, description="The text to type to go ahead anyway.")


class Compare(StrEnum):
    EXACT = "exact"
    ENDS = "ends"


class EvidenceField(Model):
    """A value the operator records at a manual step (a bag number, a serial)."""

    type: InputType = InputType.STRING
    prompt: str | None = None
    required: bool = True
    pattern: str | None = Field(None, description="A regular expression the value must match.")
    choices: list[str] | None = None
    expect: Any = Field(
        None,
        description="On a record step: the value it must equal (often a ${...} reference); "
        "a different value is recorded as an exception, and the run goes on.",
    )
    compare: Compare = Field(
        Compare.EXACT,
        description="How the value is compared with 'expect': exact (case-insensitive), or "
        "ends (the first and last 4 characters, as read aloud off a checksum: '3f2a...9b1c').",
    )


class Choice(Model):
    """One answer picked from a list; the step's output ``choice`` is the answer."""

    prompt: str
    options: list[str] = Field(min_length=2)


class BagEvent(StrEnum):
    INSPECT = "inspect"
    OPEN = "open"
    SEAL = "seal"


class Bag(Model):
    """A tamper-evident bag event. The bag id is read from the bag and recorded; on inspect and
    open it is read back against the last seal of the same label (this run's, or the previous
    ceremony's record); a different id, or a bag that is not intact, is an exception."""

    event: BagEvent
    label: str = Field(
        description="What the bag is for, the same every time (may be a ${inputs.NAME})."
    )
    contents: str = Field(description="What is (or goes) inside.")
    pattern: str | None = Field(None, description="The form of a bag id, a regular expression.")


class Quorum(Model):
    """K distinct holders of a role, each presenting only their own card or share."""

    role: str
    need: int = Field(ge=1, le=20, description="K: how many distinct holders must present.")
    present: str = Field("card", description="What each presents: card, share, key.")


class Step(Model):
    """One step of a plan."""

    id: str = Field(pattern=IDENT, description="Unique id: lower case, digits, - and _.")
    title: str | None = None
    guidance: str | None = Field(None, description="Markdown shown to the operator.")
    action: str | None = Field(None, description="An adapter action, `adapter.method`.")
    check: str | None = Field(None, description="A read-only action with an expectation.")
    manual: str | None = Field(None, description="What the operator does, then confirms.")
    approval: Approval | None = None
    wait: Duration | None = None
    milestone: str | None = Field(None, pattern=IDENT)
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    expect: dict[str, Any] | None = Field(
        None, description="For a check: output name to the value it must equal."
    )
    site: str | None = Field(None, description="The target site the action acts on.")
    needs: list[str] = Field(default_factory=list)
    retry: RetryPolicy | None = None
    timeout: Duration | None = None
    on_failure: OnFailure = OnFailure.STOP
    destructive: bool = False
    confirm: str | None = Field(None, description="Text the operator must type to go ahead.")
    idempotent: bool | None = Field(
        None, description="Overrides the action's own declaration (safe to rerun on resume)."
    )
    estimate: Duration | None = None
    evidence: dict[str, EvidenceField] = Field(default_factory=dict)
    checkbox: str | None = Field(
        None, description="A statement to confirm; if it cannot be, that is an exception."
    )
    choice: Choice | None = None
    record: dict[str, EvidenceField] | None = Field(
        None, description="Typed values to read and record (bag ids, serials, checksum ends)."
    )
    bag: Bag | None = None
    quorum: Quorum | None = None
    guard: Guard | list[Guard] | None = Field(
        None,
        description="Refuse this step while a condition holds, unless overridden; a list "
        "when several conditions each need their own override.",
    )
    key_material: bool = Field(
        False,
        description="This step moves key material: in a ceremony it must come after the "
        "approvals the ceremony requires.",
    )
    recovery_point: str | None = Field(
        None, description="On a milestone: the timestamp of the data actually recovered."
    )
    when: bool | str | None = Field(
        None, description="Run only when this is true (usually ${inputs.NAME}); else skipped."
    )
    always: bool = Field(
        False, description="Run even when a step it needs failed or the run is stopping (cleanup)."
    )
    may_run_before_guard: list[str] = Field(
        default_factory=list,
        description="Guarded steps whose decision this destructive step may run before, on "
        "purpose (validate refuses the race otherwise).",
    )

    @model_validator(mode="before")
    @classmethod
    def _one_kind(cls, data: Any) -> Any:
        if isinstance(data, dict):
            kinds = [k for k in STEP_KINDS if data.get(k) is not None]
            if not kinds:
                unknown = [k for k in data if k not in cls.model_fields and k != "with"]
                extra = f" (unknown key {unknown[0]!r})" if unknown else ""
                raise ValueError(f"a step needs exactly one of {', '.join(STEP_KINDS)}{extra}")
            if len(kinds) > 1:
                raise ValueError(f"a step has one kind, this one has {' and '.join(kinds)}")
        return data

    @property
    def kind(self) -> str:
        for name in STEP_KINDS:
            if getattr(self, name) is not None:
                return name
        raise AssertionError("validated steps have a kind")

    @property
    def call(self) -> str | None:
        """The action name for action and check steps."""
        return self.action or self.check

    @property
    def label(self) -> str:
        return self.title or self.id

    @property
    def guards(self) -> list[Guard]:
        """The step's guards, in the order they are asked (none, one, or a list)."""
        if self.guard is None:
            return []
        return self.guard if isinstance(self.guard, list) else [self.guard]


class RoleRule(Model):
    """A ceremony role: what it does and how many people hold it."""

    title: str
    min: int = Field(1, ge=0, le=20)
    max: int | None = Field(None, ge=1, le=20)


class Material(Model):
    """An item of the materials inventory."""

    item: str
    bag: str | None = Field(None, description="The label of the bag it travels in.")


class Ceremony(Model):
    """What makes a plan a witnessed ceremony."""

    roles: dict[str, RoleRule] = Field(min_length=2)
    administrator: str = Field("administrator", description="The role that runs the ceremony.")
    witness: str = Field("witness", description="The role that witnesses every step.")
    minimum_present: int = Field(2, ge=1, le=20, description="People present at all times.")
    key_material_approvals: list[str] = Field(
        default_factory=list,
        description="Roles whose approval must come before any step with key_material: true.",
    )
    previous_record: str | None = Field(
        None, description="The previous ceremony's run directory or record.json (bag ids)."
    )
    materials: list[Material] = Field(default_factory=list)


class Plan(Model):
    """A runbook."""

    id: str = Field(pattern=IDENT)
    title: str
    kind: PlanKind
    version: str | None = None
    description: str | None = None
    objectives: Objectives = Field(default_factory=Objectives)
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    roles: dict[str, str] = Field(
        default_factory=dict, description="Role name to what the role does in this plan."
    )
    offline: bool = Field(
        False, description="Runs with no network: only offline actions are allowed."
    )
    ceremony: Ceremony | None = None
    steps: list[Step] = Field(min_length=1)

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)
