"""Nothing final on one stray key, at 80x24 (found on the walk of the HSM ceremonies).

- ``x`` on the step-failed question aborted the run in one key, and an aborted run cannot be
  resumed: the abort now asks again on the spot and only ``y`` confirms it; any other key,
  Escape included, goes back to the choices (the interrupted-step question too).
- Escape on a ceremony's approval sign-off failed the step and ended the ceremony after bags
  were open: Escape now asks whether the sign-off is refused, and goes back unless ``n``.
- Escape on an exception recorded 'no decision recorded': it now asks again, saying why.
- Escape on a typed confirmation or a secret (a custodian's share) failed the step, and the
  run for good under the default on_failure: it now asks first, and goes back unless ``n``.
- A cancelled typed confirmation's words: '(by hand)', and 'nothing was done' said once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static

from drconsole.engine.operator import NoAnswer, Question
from drconsole.runs.rundir import load_state
from drconsole.tui import modals
from drconsole.tui.operator import TuiOperator
from tests.console.pilot import Host, make_app, on, run, run_screen_of, setup, until

Q = Question("restore", "Restore the key", None, {})


@pytest.mark.parametrize(
    "modal",
    [
        lambda: modals.failure_modal(Q, "more than one secret key is labelled 'qsign-master-key'"),
        lambda: modals.interrupted_modal(Q),
    ],
    ids=["failed", "interrupted"],
)
def test_abort_asks_again_and_only_y_confirms_it(modal: Any) -> None:
    async def scenario() -> None:
        app = Host()
        async with app.run_test(size=(80, 24)) as pilot:
            asked = modal()
            app.ask(asked)
            await pilot.pause()
            hint = asked.query_one("#final-hint", Static)
            assert not hint.display
            await pilot.press("x")  # the stray key: nothing chosen, the question asks again
            await pilot.pause()
            assert app.answers == []
            assert hint.display
            assert hint.region.bottom <= 24  # in sight at 80x24
            assert "It is final: the run cannot be resumed. y: yes" in str(hint.render())
            await pilot.press("escape")  # back to the choices, not 'no answer'
            await pilot.pause()
            assert app.answers == []
            assert app.screen is asked
            assert not hint.display
            await pilot.press("x", "r")  # any other key goes back too: r is not chosen
            await pilot.pause()
            assert app.answers == []
            await pilot.press("x", "y")
            await pilot.pause()
            assert app.answers == [("abort", "")]

    asyncio.run(scenario())


def test_escape_on_a_sign_off_asks_before_it_refuses() -> None:
    async def scenario() -> None:
        app = Host()
        async with app.run_test(size=(80, 24)) as pilot:
            operator = TuiOperator(app, "Kim Min")
            asked = asyncio.create_task(operator.signoff(Q, 1, ["security_officer"]))
            await pilot.pause()
            assert isinstance(app.screen, modals.SignoffModal)
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, modals.ChoiceModal)
            assert app.screen.title_text == "No sign-off?"
            await pilot.press("escape")  # Escape again: back to the sign-off, nothing decided
            await pilot.pause()
            assert isinstance(app.screen, modals.SignoffModal)
            await pilot.press(*"Jung Ra", "enter")
            await pilot.pause()
            (signer,) = await asked
            assert (signer.name, signer.role) == ("Jung Ra", "security_officer")
            refused = asyncio.create_task(operator.signoff(Q, 1, ["security_officer"]))
            await pilot.pause()
            await pilot.press("escape", "n")  # refusing it is an explicit choice
            await pilot.pause()
            with pytest.raises(NoAnswer, match="refused"):
                await refused

    asyncio.run(scenario())


def test_escape_on_a_typed_confirmation_asks_before_the_step_fails() -> None:
    """The twin of the sign-off: a step not confirmed fails, and with the plan's default
    on_failure the run ends FAILED for good; one stray Escape on the PITR's restore did it with
    the database already stopped. Escape now asks; only n then leaves the step undone."""

    async def scenario() -> None:
        app = Host()
        async with app.run_test(size=(80, 24)) as pilot:
            operator = TuiOperator(app, "Kim Min")
            asked = asyncio.create_task(
                operator.typed_confirm(Q, "It will: restore", "restore primary")
            )
            await pilot.pause()
            assert isinstance(app.screen, modals.TypedConfirmModal)
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, modals.ChoiceModal)
            assert app.screen.title_text == "Not confirmed?"
            await pilot.press("escape")  # Escape again: back to the confirmation, nothing done
            await pilot.pause()
            assert isinstance(app.screen, modals.TypedConfirmModal)
            assert not asked.done()
            await pilot.press(*"restore primary", "enter")
            await pilot.pause()
            assert await asked == "restore primary"
            cancelled = asyncio.create_task(
                operator.typed_confirm(Q, "It will: restore", "restore primary")
            )
            await pilot.pause()
            await pilot.press("escape", "n")  # not doing it is an explicit choice
            await pilot.pause()
            with pytest.raises(NoAnswer, match="cancelled the typed confirmation"):
                await cancelled

    asyncio.run(scenario())


def test_escape_on_a_secret_asks_before_the_step_fails() -> None:
    """A custodian's share: Escape failed the failover's unseal, and the run for good."""

    async def scenario() -> None:
        app = Host()
        async with app.run_test(size=(80, 24)) as pilot:
            operator = TuiOperator(app, "Kim Min")
            asked = asyncio.create_task(operator.secret(Q, "Unseal share of Park Su"))
            await pilot.pause()
            assert isinstance(app.screen, modals.SecretModal)
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, modals.ChoiceModal)
            assert app.screen.title_text == "No secret given?"
            await pilot.press("b")
            await pilot.pause()
            assert isinstance(app.screen, modals.SecretModal)
            assert not asked.done()
            await pilot.press("escape", "n")
            await pilot.pause()
            with pytest.raises(NoAnswer, match="no secret was given"):
                await asked

    asyncio.run(scenario())


def test_escape_on_an_exception_asks_again_instead_of_recording_no_decision() -> None:
    async def scenario() -> None:
        app = Host()
        async with app.run_test(size=(80, 24)) as pilot:
            operator = TuiOperator(app, "Kim Min")
            asked = asyncio.create_task(
                operator.exception(Q, 1, "bag cards is TEB-2", "bag cards reads TEB-3")
            )
            await pilot.pause()
            first = app.screen
            assert isinstance(first, modals.EvidenceModal)
            await pilot.press("escape")
            await pilot.pause()
            again = app.screen
            assert isinstance(again, modals.EvidenceModal)
            assert again is not first
            assert not asked.done()
            said = " ".join(str(s.render()) for s in again.query(Static))
            assert "Escape cannot skip an exception" in said
            await pilot.press("enter", *"security called", "enter")
            await pilot.pause()
            assert await asked == ("bag cards reads TEB-3", "security called")

    asyncio.run(scenario())


CANCELLED = """
id: cancelled
title: A destructive step cancelled
kind: drill
steps:
  - id: clear
    title: Clear the development HSM
    manual: "lunacm:> partition clear -slot 1"
    site: sandbox
    destructive: true
    confirm: "clear sandbox"
"""


def test_a_cancelled_typed_confirmation_reads_by_hand_and_nothing_done_once(
    tmp_path: Path,
) -> None:
    """'It will: done by hand: lunacm:> ...' read oddly, and the step's error said 'nothing
    was done' twice in one line."""
    plans, plan, targets = setup(tmp_path, CANCELLED)

    async def scenario() -> None:
        app = make_app(tmp_path, plans, targets, start_plan=plan)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: on(app, modals.TypedConfirmModal))
            prompt = str(app.screen.query_one(".modal-prompt", Static).render())
            assert "It will: (by hand) lunacm:> partition clear -slot 1" in prompt
            await pilot.press("escape", "n")  # cancelled, and then not done
            run_screen = run_screen_of(app)
            await until(pilot, lambda: run_screen.finished)

    run(scenario())
    state = load_state(next((tmp_path / "runs").iterdir()))
    error = state.steps["clear"].error or ""
    assert error == "not confirmed, nothing was done: the operator cancelled the typed confirmation"
