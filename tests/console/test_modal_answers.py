"""A question is answered once, and a reason is typed where it is meant to go (found on the
ceremony walk at 80x24).

- Tab on a choice with a reason line went to the step's guidance, not to the reason: the
  witness typing "... at ..." chose ``a`` (I agree) on the first ``a``, and the record said
  AGREES for someone who did not. Tab now goes to the reason, Enter there chooses.
- ``d`` (or ``m``) without a reason was refused by the engine, but the modal came back the same,
  saying nothing; now it asks for the reason on the spot.
- A key still queued for a modal already answered dismissed it again, and Textual's dismiss pops
  whatever is on top: the screen under it went too (ScreenStackError at the end of the
  ceremony, a traceback).
"""

from __future__ import annotations

import asyncio

from textual.widgets import Static

from drconsole.engine.operator import Question
from drconsole.tui import modals
from tests.console.pilot import Host

GUIDANCE = "THE CEREMONY STOPPED BEFORE ITS END: step x failed.\n\nRead this aloud."


def attestation() -> modals.ChoiceModal:
    q = Question("closing", "Closing attestations", GUIDANCE, {})
    return modals.ChoiceModal(
        q,
        "Attestation: Tom Cto (TC, cto)",
        "I was present throughout, and the script was followed except as noted.",
        [("agree", "a", "I agree"), ("disagree", "d", "I do not agree (reason)")],
        reason_for="disagree",
    )


def test_tab_reaches_the_reason_and_typed_letters_never_choose() -> None:
    async def scenario() -> None:
        app = Host()
        async with app.run_test(size=(80, 24)) as pilot:
            app.ask(attestation())
            await pilot.pause()
            await pilot.press("tab", *"I was out at the backup", "enter")
            await pilot.pause()
            assert app.answers == [("disagree", "I was out at the backup")]

    asyncio.run(scenario())


def test_no_reason_asks_for_one_instead_of_answering() -> None:
    async def scenario() -> None:
        app = Host()
        async with app.run_test(size=(80, 24)) as pilot:
            modal = attestation()
            app.ask(modal)
            await pilot.pause()
            await pilot.press("d")
            await pilot.pause()
            assert app.answers == []
            assert app.screen is modal
            hint = str(modal.query_one("#reason-hint", Static).render())
            assert "A reason is needed first" in hint
            await pilot.press(*"camera off", "enter")  # the reason field has the focus
            await pilot.pause()
            assert app.answers == [("disagree", "camera off")]

    asyncio.run(scenario())


def test_a_key_queued_for_an_answered_question_leaves_the_next_one_alone() -> None:
    async def scenario() -> None:
        app = Host()
        async with app.run_test(size=(80, 24)) as pilot:
            under = attestation()
            app.ask(under)
            top = modals.ConfirmModal(Question("room", "The room", None, {}), "Done?")
            app.ask(top)
            await pilot.pause()
            top.action_answer(True)
            top.action_answer(True)  # a second y, already on its way
            await pilot.pause()
            assert app.answers == [True]
            assert app.screen is under  # the question under it is still asked

    asyncio.run(scenario())


def test_a_choice_that_commas_cannot_list_is_numbered_and_answered_by_its_number() -> None:
    """The quarterly test restore's result read '(one of: passed: key present, check value
    matches, failed: see the exceptions and the key-restored step)': two choices or four?
    'passed' was refused; only the whole sentence, typed exactly, was accepted."""
    from drconsole.engine.operator import FieldSpec

    options = [
        "passed: key present, check value matches",
        "failed: see the exceptions and the key-restored step",
    ]
    field = FieldSpec("choice", "choice", prompt="Did the key come back?", choices=options)

    async def scenario() -> None:
        app = Host()
        async with app.run_test(size=(80, 24)) as pilot:
            modal = modals.EvidenceModal(Question("result", "The result", None, {}), [field], None)
            app.ask(modal)
            await pilot.pause()
            label = str(modal.query(".modal-fields Static")[-1].render())
            assert f"\n  1. {options[0]}\n  2. {options[1]}" in label
            await pilot.press("1", "enter")
            await pilot.pause()
            assert app.answers == [{"choice": options[0]}]

    asyncio.run(scenario())


def test_short_choices_stay_on_one_line_and_take_their_text() -> None:
    from drconsole.engine.operator import FieldSpec

    field = FieldSpec("intact", "choice", prompt="Intact?", choices=["yes", "no"])

    async def scenario() -> None:
        app = Host()
        async with app.run_test(size=(80, 24)) as pilot:
            modal = modals.EvidenceModal(Question("bag", "The bag", None, {}), [field], None)
            app.ask(modal)
            await pilot.pause()
            assert (
                str(modal.query(".modal-fields Static")[-1].render()) == "Intact? (one of: yes, no)"
            )
            await pilot.press("1", "enter")  # not numbered: a digit is what was typed
            await pilot.pause()
            assert app.answers == [{"intact": "1"}]

    asyncio.run(scenario())


def test_every_modal_of_the_console_answers_once() -> None:
    """A new modal gets the once-only answer by itself or this fails (the facilitator's inject
    confirmation was a plain ModalScreen: a second queued y popped the facilitator's screen)."""
    import importlib
    import inspect
    import pkgutil

    from textual.screen import ModalScreen

    import drconsole.tui
    from drconsole.tui.once import AnswerOnce

    found = []
    for info in pkgutil.iter_modules(drconsole.tui.__path__):
        module = importlib.import_module(f"drconsole.tui.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, ModalScreen) and cls.__module__ == module.__name__:
                found.append(cls)
    assert len(found) > 10
    assert [c.__name__ for c in found if not issubclass(c, AnswerOnce)] == []
