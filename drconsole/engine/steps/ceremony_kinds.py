"""The step kinds a ceremony needs (any plan may use them): checkbox, choice, record, bag and
quorum. A value that is not what the script expects is an exception, recorded with the
decision taken, and the ceremony goes on (the step is failed-and-continued)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from drconsole.engine.ceremony_rules import quorum_problem, values_match
from drconsole.engine.events import EventType, NewEvent
from drconsole.engine.operator import NoAnswer
from drconsole.engine.outcome import Outcome, Refused, StepFailed
from drconsole.engine.steps.base import StepKind, StepRun
from drconsole.plans.model import BagEvent, Compare, EvidenceField, InputType, Step
from drconsole.runs.state import RunState, StepStatus


async def checkbox(run: StepRun) -> Outcome:
    ctx, step = run.ctx, run.step
    assert step.checkbox is not None
    q = ctx.question(step)
    text = str(ctx.resolve(step.checkbox))
    async with ctx.asking(step, "checkbox"):
        try:
            ok = await ctx.operator.confirm(q, text)
        except NoAnswer as exc:
            raise StepFailed(str(exc)) from None
    ctx.answer(step, "checkbox", "confirmed" if ok else "cannot confirm", ctx.operator.name)
    numbers = [] if ok else [await run.ceremony.exception(step, text, None)]
    return run.ceremony.with_exceptions({"confirmed": ok}, numbers)


async def choice(run: StepRun) -> Outcome:
    ctx, step = run.ctx, run.step
    assert step.choice is not None
    field = EvidenceField(
        type=InputType.CHOICE, prompt=step.choice.prompt, choices=step.choice.options
    )
    failed = failed_before(ctx.state)
    q = ctx.question(step)
    if failed:  # a choice cannot quietly contradict a failed check: it is said, and recorded
        said = f"**FAILED BEFORE THIS CHOICE:** {failed}\n\n{q.guidance or ''}"
        q = replace(q, guidance=said.strip())
    values = await ctx.ask_evidence(step, q, {"choice": field})
    outputs = {"choice": values["choice"]}
    return Outcome(StepStatus.SUCCEEDED, outputs | ({"failed_before": failed} if failed else {}))


def failed_before(state: RunState) -> str | None:
    """The steps failed so far (not those failed by a recorded exception: they have their own
    entry), each with why, within 200 characters; None when none has."""
    said = "; ".join(
        f"{s.id}: {s.error or s.reason or 'failed'}"
        for s in state.steps.values()
        if s.status is StepStatus.FAILED and "exceptions" not in s.outputs
    )
    return (said if len(said) <= 200 else said[:199] + "…") or None


async def record(run: StepRun) -> Outcome:
    ctx, step = run.ctx, run.step
    assert step.record is not None
    values: dict[str, Any] = dict(await ctx.ask_evidence(step, ctx.question(step), step.record))
    numbers = []
    for name, field in step.record.items():
        if field.expect is None or name not in values:
            continue
        want = ctx.resolve(field.expect)
        got = str(values[name])
        if values_match(want, got, field.compare):
            continue
        shown = f"{str(want)[:4]}...{str(want)[-4:]}" if field.compare is Compare.ENDS else want
        numbers.append(
            await run.ceremony.exception(step, f"{name} = {shown}", f"{name} read as {got!r}")
        )
    return run.ceremony.with_exceptions(values, numbers)


async def bag(run: StepRun) -> Outcome:
    ctx, step, ceremony = run.ctx, run.step, run.ceremony
    assert step.bag is not None
    bag = step.bag.model_copy(update={"label": str(ctx.resolve(step.bag.label))})
    fields = {
        "bag_id": EvidenceField(
            prompt=f"Bag number of {bag.label} ({bag.contents}), read from the bag",
            pattern=bag.pattern,
        )
    }
    if bag.event is not BagEvent.SEAL:
        fields["intact"] = EvidenceField(
            type=InputType.CHOICE,
            prompt="Is the bag intact (no tear, no tamper marks)?",
            choices=["yes", "no"],
        )
    values = await ctx.ask_evidence(step, ctx.question(step), fields)
    bag_id = values["bag_id"].strip()
    previous, source = (
        (None, "") if bag.event is BagEvent.SEAL else ceremony.previous_seal(step.id, bag.label)
    )
    numbers = []
    if bag.event is not BagEvent.SEAL and previous is None:
        # a bag nobody saw sealed proves nothing: opening it is an exception, as a wrong number
        numbers.append(
            await ceremony.exception(
                step,
                f"bag {bag.label} under a witnessed seal (sealed earlier in this ceremony, "
                "or in a previous ceremony's record)",
                f"bag {bag.label} ({bag_id}) {_DONE[bag.event]} with no witnessed seal: {source}",
            )
        )
    elif previous is not None and bag_id.casefold() != previous.casefold():
        numbers.append(
            await ceremony.exception(
                step,
                f"bag {bag.label} is {previous} ({source})",
                f"bag {bag.label} reads {bag_id}",
            )
        )
    intact = values.get("intact")
    if intact == "no":
        numbers.append(
            await ceremony.exception(
                step, f"bag {bag_id} intact", f"bag {bag_id} is not intact (tamper evidence)"
            )
        )
    data: dict[str, Any] = {"step": step.id, "event": bag.event.value, "label": bag.label}
    data["bag_id"] = bag_id
    data.update(
        {
            "contents": bag.contents,
            "intact": None if intact is None else intact == "yes",
            "previous": previous,
            "previous_source": source or None,
        }
    )
    ctx.emit(NewEvent(EventType.BAG, data))
    outputs: dict[str, Any] = {"bag_id": bag_id, "intact": intact}
    if bag.event is not BagEvent.SEAL:  # in words on the initials form ('previous = TEB-9')
        same = previous is not None and bag_id.casefold() == previous.casefold()
        said = f"{previous}, {source}" if previous else f"no witnessed seal: {source}"
        outputs["seal"] = f"{'matches' if same else 'NOT'} {said}" if previous else said
    return ceremony.with_exceptions(outputs, numbers)


_DONE = {BagEvent.OPEN: "opened", BagEvent.INSPECT: "inspected"}


async def quorum(run: StepRun) -> Outcome:
    ctx, step = run.ctx, run.step
    assert step.quorum is not None
    quorum = step.quorum
    q = ctx.question(step)
    try:
        presented = await ctx.ask_until(
            lambda problem: ctx.operator.quorum(
                q, quorum.role, quorum.need, quorum.present, problem
            ),
            lambda presented: quorum_problem(
                run.ceremony.participants, ctx.state.absent, quorum.role, quorum.need, presented
            ),
            step=step.id,
            question="quorum",
        )
    except (NoAnswer, Refused) as exc:
        raise StepFailed(f"no quorum: {exc}") from None
    listed = [{"initials": i.upper(), quorum.present: t} for i, t in presented]
    ctx.answer(step, "quorum", listed, ctx.operator.name)
    holders = [i.upper() for i, _ in presented]
    return Outcome(StepStatus.SUCCEEDED, {"holders": holders, "presented": listed})


def _describe_checkbox(run: StepRun) -> str:
    assert run.step.checkbox is not None
    return f"confirm: {run.step.checkbox.strip()} (if not, an exception is recorded)"


def _describe_choice(run: StepRun) -> str:
    assert run.step.choice is not None
    return f"choose: {run.step.choice.prompt} ({' / '.join(run.step.choice.options)})"


def _describe_record(run: StepRun) -> str:
    assert run.step.record is not None
    return f"record {', '.join(run.step.record)}"


def _describe_bag(run: StepRun) -> str:
    assert run.step.bag is not None
    b = run.step.bag
    try:
        label = str(run.ctx.resolve(b.label))  # e.g. ${inputs.copy}: the bag it names
    except StepFailed:  # not resolvable here: the reference as written
        label = b.label
    return f"{b.event.value} bag {label} ({b.contents})"


def _describe_quorum(run: StepRun) -> str:
    assert run.step.quorum is not None
    q = run.step.quorum
    return f"{q.need} distinct {q.role}s each present their own {q.present}"


def _asking(*sections: str) -> Callable[[Step], set[str]]:
    def asks(step: Step) -> set[str]:
        return set(sections)

    return asks


CHECKBOX = StepKind("checkbox", _describe_checkbox, checkbox, asks=_asking("confirm", "exception"))
CHOICE = StepKind("choice", _describe_choice, choice, asks=_asking("evidence"))
RECORD = StepKind("record", _describe_record, record, asks=_asking("evidence", "exception"))
BAG = StepKind("bag", _describe_bag, bag, asks=_asking("evidence", "exception"))
QUORUM = StepKind("quorum", _describe_quorum, quorum, asks=_asking("quorum"))
