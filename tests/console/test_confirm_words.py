"""A destructive step's typed confirmation says in words what will happen and where, under
the step's title, before the short text is typed: what the step does (its action's words with
its parameters, or '(by hand)' and the command), the site with its description from the targets
file, then the text to type; in the console the input and a refusal stay in sight at 80x24.
Parametrised over every destructive step of ``plans/*.yaml``, so a new one is covered by
default (the walk found a prompt that read a guard by step id: 'primary-writes's
accepts_writes is true', and no site description)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import Label

from drconsole.adapters import registry
from drconsole.engine import policy
from drconsole.engine.answers import AnswersOperator
from drconsole.engine.launch import prepare_new
from drconsole.engine.modes import Mode
from drconsole.plans.validate import load_plan
from drconsole.tui import modals
from tests.unit.test_dry_run_every_plan import PLANS, SAMPLE, nowhere_targets

__all__ = ["nowhere_targets"]  # the fixture, shared with the dry run of every plan


def _destructive() -> list[tuple[Path, str]]:
    found = []
    for path in PLANS:
        plan = load_plan(path).plan
        assert plan is not None
        for step in plan.steps:
            if policy.destructive(step, registry.lookup(step.call) if step.call else None):
                found.append((path, step.id))
    return found


DESTRUCTIVE = _destructive()


class Console(App[None]):
    """An empty app with the console's styles, to show one modal as the console does."""

    CSS_PATH = str(Path(modals.__file__).with_name("app.tcss"))


def shown_whole(modal: modals.TypedConfirmModal) -> list[str]:
    """The modal's texts at 80x24, after checking that the input and the line under it (the
    refusal, the hint) lie inside the modal: a long prompt pushed them out of sight."""
    texts: list[str] = []

    async def scenario() -> None:
        app = Console()
        async with app.run_test(size=(80, 24)) as pilot:
            app.push_screen(modal)
            await pilot.pause()
            inside = modal.query_one(".modal").content_region
            for widget in (modal.query_one("#typed"), modal.query_one("#problem")):
                assert inside.contains_region(widget.region), f"{widget.id} is out of sight"
            texts.extend(str(label.render()) for label in modal.query(Label))

    asyncio.run(scenario())
    return texts


@pytest.mark.parametrize(
    ("plan_path", "step_id"), DESTRUCTIVE, ids=[f"{p.stem}:{s}" for p, s in DESTRUCTIVE]
)
def test_every_destructive_step_says_what_it_does_and_where(
    plan_path: Path, step_id: str, nowhere_targets: Path, tmp_path: Path
) -> None:
    plan = load_plan(plan_path).plan
    assert plan is not None
    inputs = {
        name: SAMPLE[spec.type.value]
        for name, spec in plan.inputs.items()
        if spec.required and spec.default is None
    }
    prepared = prepare_new(
        plan_path,
        runs_dir=tmp_path / "runs",
        operator=AnswersOperator(yes=True),
        mode=Mode.DRY_RUN,  # earlier steps' outputs read <step.output>, as in a preview
        given_inputs=inputs,
        targets_path=nowhere_targets,
    )
    asyncio.run(prepared.engine.run())
    ctx, step = prepared.engine.ctx, plan.step(step_id)
    prompt = policy.confirmation_prompt(ctx, step)
    will, where, typed = prompt.splitlines()
    spec = registry.lookup(step.call) if step.call else None
    if spec is not None:
        assert will.startswith("It will: ")
        assert will.removeprefix("It will: ").strip(), "it says what the action does"
    else:
        assert will == f"It will: (by hand) {str(ctx.resolve(step.manual)).strip()}"
    site = ctx.site_name(step)
    assert site is not None, "a destructive step names its site: the person reads where"
    assert where == f"Where: site {site}, {ctx.targets.site(site).description}"
    expected = str(ctx.resolve(step.confirm))
    assert typed == f"To go ahead, type: {expected}"
    # in words: no reference as written, no effect tag, no guard read by step id
    for jargon in ("${", "[destructive]", "refused while"):
        assert jargon not in prompt, jargon
    # the console: the step's title above the words, the input and a refusal in sight
    assert step.title, "a destructive step needs a title: the person reads what it is"
    refused = f"that was not {'x' * 40!r}; nothing was done. Type it exactly (2 tries left)"
    modal = modals.TypedConfirmModal(ctx.question(step), prompt, expected, refused)
    assert f"Step: {step.title} ({step.id})" in shown_whole(modal)
