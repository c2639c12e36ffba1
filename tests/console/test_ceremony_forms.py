"""The ceremony's forms at 80x24, as the console's operator asks them: every field stays in
sight while it is typed into, however much the step read (the witness's initials went under
the bottom edge after a step that counted six kinds of object), and a stray Enter never
records an exception without the administrator's decision (two Enters wrote 'no decision
recorded' on the signed page)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from textual.app import App
from textual.widgets import Button, Input, Static

from drconsole.engine.ceremony import what_was_done
from drconsole.engine.events import ATTESTATION_TEXT
from drconsole.engine.operator import Question
from drconsole.engine.outcome import Outcome
from drconsole.runs.state import StepStatus
from drconsole.tui import modals
from drconsole.tui.forms import InputsModal
from drconsole.tui.operator import TuiOperator
from tests.console.pilot import make_app, on, run, setup, until
from tests.unit.test_ceremony import PEOPLE

COUNTED = {
    "secret_keys": 2,
    "private_keys": 0,
    "public_keys": 0,
    "certificates": 0,
    "data_objects": 0,
    "total": 2,
    "labels": ["secret_keys:practice-domain-key", "secret_keys:qsign-master-key"],
}
ROOM = PEOPLE  # five signed in: the sign-in list above the fields runs to two lines


class Console(App[None]):
    """An empty app with the console's styles, to ask one question as the console does."""

    CSS_PATH = str(Path(modals.__file__).with_name("app.tcss"))


def in_sight(modal: modals.EvidenceModal) -> bool:
    """The focused field lies inside the modal (drawn, not cut off by its bottom edge)."""
    focused = modal.focused
    assert isinstance(focused, Input)
    return modal.query_one(".modal").content_region.contains_region(focused.region)


def test_initials_after_a_step_that_read_much_keep_both_fields_in_sight() -> None:
    seen: list[str] = []

    async def scenario() -> None:
        app = Console()
        async with app.run_test(size=(80, 24)) as pilot:
            operator = TuiOperator(app, "root")
            operator._sheet = ROOM  # signed in, as after the sign-in form
            read = what_was_done(Outcome(StepStatus.SUCCEEDED, COUNTED))
            q = Question("count-before", "Count the HSM's objects", None, {"initialling": read})
            asked = asyncio.ensure_future(operator.initials(q))
            await pilot.pause()
            modal = app.screen
            assert isinstance(modal, modals.EvidenceModal)
            seen.append(str(modal.query_one(".modal-prompt", Static).render()))
            assert in_sight(modal), "the actor's field is out of sight"
            await pilot.press(*"AA", "enter")
            assert in_sight(modal), "the witness's field is out of sight"
            await pilot.press(*"WW", "enter")
            assert await asked == ("AA", "WW")

    asyncio.run(scenario())
    assert "total = 2" in seen[0]  # what they initial is on the form


def test_the_sign_in_form_keeps_each_field_in_sight_with_five_signed_in() -> None:
    async def scenario() -> None:
        app = Console()
        async with app.run_test(size=(80, 24)) as pilot:
            operator = TuiOperator(app, "root")
            operator._sheet = ROOM
            roles = {
                r: f"{r}: what this role does in the room, a line long"
                for r in ("administrator", "witness", "crypto_officer", "security_officer", "cto")
            }
            guidance = "Everyone signs in.\n\n" + "\n".join(f"- {t}" for t in roles.values())
            asked = asyncio.ensure_future(
                operator.participants(Question("sign-in", "Participants sign in", guidance), roles)
            )
            await pilot.pause()
            modal = app.screen
            assert isinstance(modal, modals.EvidenceModal)
            keys = str(modal.query_one("#evidence-hint", Static).render())
            assert keys.endswith("Escape: everyone has.")  # not 'no answer': it ends the sheet
            for typed in ("Ola Observer", "2", "Audit", "OO", "none"):
                assert in_sight(modal), f"{modal.focused} is out of sight"
                await pilot.press(*typed, "enter")
                await pilot.pause()
            await pilot.press("escape")  # everyone has signed in
            people = await asked
            assert people[-1].initials == "OO"

    asyncio.run(scenario())


def test_a_stray_enter_records_no_exception_without_a_decision() -> None:
    answers: list[Any] = []

    async def scenario() -> None:
        app = Console()
        async with app.run_test(size=(80, 24)) as pilot:
            operator = TuiOperator(app, "root")
            q = Question("open-cards", "Open the officer cards bag")
            found = "bag officer-cards (TEB-1002) opened with no witnessed seal"
            asked = asyncio.ensure_future(operator.exception(q, 2, "a witnessed seal", found))
            await pilot.pause()
            modal = app.screen
            assert isinstance(modal, modals.EvidenceModal)
            await pilot.press("enter", "enter")  # what happened: as found; then no decision
            await pilot.pause()
            assert app.screen is modal, "an empty decision was taken"
            hint = str(modal.query_one("#evidence-hint", Static).render())
            assert hint.startswith("The ceremony administrator's decision: needed.")
            assert in_sight(modal)
            await pilot.press(*"photographed, sealed again", "enter")
            answers.append(await asked)

    asyncio.run(scenario())
    assert answers == [
        ("bag officer-cards (TEB-1002) opened with no witnessed seal", "photographed, sealed again")
    ]


PREVIOUS = """
id: reads-a-record
title: Reads a previous record
kind: ceremony
offline: true
inputs:
  previous_record: {type: string}
ceremony:
  roles: {administrator: {title: runs it, max: 1}, witness: {title: witnesses}}
  previous_record: "${inputs.previous_record}"
steps:
  - {id: open-cards, bag: {event: open, label: cards, contents: officer cards}}
"""


def test_a_mistyped_previous_record_is_refused_on_the_start_form(tmp_path: Path) -> None:
    """Before, the run started, everyone signed in, and the first bag (opened in the room)
    stopped the ceremony: 'cannot read ...: No such file or directory'."""
    plans, plan, targets = setup(tmp_path, PREVIOUS)
    said: list[str] = []

    async def scenario() -> None:
        app = make_app(tmp_path, plans, targets, start_plan=plan)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: on(app, InputsModal))
            form = app.screen
            await pilot.press(*str(tmp_path / "no-such-run"), "enter")
            await pilot.pause()
            assert app.screen is form, "the run started"
            said.append(str(form.query_one("#form-problem", Static).render()))

    run(scenario())
    assert said[0].startswith("REFUSED: previous record: cannot read ")
    assert said[0].endswith("no-such-run: No such file or directory")
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def test_a_stopped_ceremony_s_attestation_keeps_its_keys_in_sight() -> None:
    """The closing attestations of a ceremony that stopped early say so above the statement:
    at 80x24 that pushed 'a: I agree  d: I do not agree' under the bottom edge."""
    stopped = (
        "THE CEREMONY STOPPED BEFORE ITS END: step approve failed (not approved: the sign-off "
        "was cancelled); 16 step(s) not run: open-copy, copy-to-laptop, checksum, "
        "hsm-identity, count-before, open-cards….\n\nEach participant attests: "
        + ATTESTATION_TEXT
        + " Or: I do not agree, because ..."
    )

    async def scenario() -> None:
        app = Console()
        async with app.run_test(size=(80, 24)) as pilot:
            operator = TuiOperator(app, "root")
            q = Question("closing", "Closing attestations", stopped)
            asked = asyncio.ensure_future(operator.attest(q, ROOM[0]))
            await pilot.pause()
            modal = app.screen
            inside = modal.query_one(".modal").content_region
            for button in modal.query(Button):
                assert inside.contains_region(button.region), f"{button.label} is out of sight"
            await pilot.press("a")
            assert await asked == (True, "")

    asyncio.run(scenario())
