"""A ceremony by keys in the console (Pilot), for what the witness must see: the value a step
read is on the screen that asks for the initials, and a bag nobody saw sealed is opened only
through an exception, which the signed record prints with the step's initials."""

from __future__ import annotations

from pathlib import Path

from drconsole.report.record import build_record, to_markdown
from drconsole.runs.rundir import load_state
from drconsole.tui import modals
from tests.console.pilot import make_app, on, run, run_screen_of, setup, until

PLAN = """
id: console-bags
title: Console bags
kind: ceremony
offline: true
ceremony:
  roles: {administrator: {title: runs it, max: 1}, witness: {title: witnesses}}
steps:
  - id: kcv
    title: Read the key check value
    action: local.command
    with: {argv: [echo, "KCV 3F2A91"]}
  - id: open-cards
    title: Open the officer cards' bag
    bag: {event: open, label: cards, contents: officer cards}
    needs: [kcv]
"""


def title_of(app: object) -> str:
    return str(getattr(getattr(app, "screen", None), "title_text", ""))


def test_the_witness_sees_what_they_initial_and_an_unsealed_bag_needs_an_exception(
    tmp_path: Path,
) -> None:
    plans, plan, targets = setup(tmp_path, PLAN)
    initialled: list[str] = []
    exception_text: list[str] = []

    async def scenario() -> None:
        app = make_app(tmp_path, plans, targets, start_plan=plan)
        async with app.run_test(size=(80, 24)) as pilot:
            for name, role, initials in (("Kim", "administrator", "KM"), ("Lee", "witness", "LJ")):
                await until(pilot, lambda: "sign in" in title_of(app))
                await pilot.press(*name, "enter", *role, "enter", "enter", *initials, "enter")
                await pilot.press("enter")  # holds: none
                await pilot.pause(0.05)
            await until(pilot, lambda: "sign in" in title_of(app))
            await pilot.press("escape")  # everyone has signed in
            # the check ran: its output is on the form the initials are typed into
            await until(pilot, lambda: title_of(app) == "Initials")
            initialled.append(str(app.screen.text))  # type: ignore[attr-defined]
            await pilot.press(*"KM", "enter", *"LJ", "enter")
            await until(
                pilot,
                lambda: on(app, modals.EvidenceModal) and app.screen.fields[0].name == "bag_id",  # type: ignore[attr-defined]
            )
            await pilot.press(*"TEB-9", "enter", *"yes", "enter")
            # nobody saw the cards sealed: opening them is an exception, decided on the spot
            await until(pilot, lambda: title_of(app) == "EXCEPTION #1")
            exception_text.append(str(app.screen.text))  # type: ignore[attr-defined]
            await pilot.press("enter", *"photographed", "enter")
            await until(pilot, lambda: title_of(app) == "Initials")
            initialled.append(str(app.screen.text))  # type: ignore[attr-defined]
            await pilot.press(*"KM", "enter", *"LJ", "enter")
            for _ in range(2):
                await until(pilot, lambda: on(app, modals.ChoiceModal))
                await pilot.press("a")
                await pilot.pause(0.05)
            run_screen = run_screen_of(app)
            await until(pilot, lambda: run_screen.finished)

    run(scenario())
    assert "stdout = KCV 3F2A91" in initialled[0]
    assert "bag_id = TEB-9" in initialled[1]
    assert "exception #1 recorded" in initialled[1]
    (said,) = exception_text
    assert "Expected: bag cards under a witnessed seal" in said
    assert (
        "Found: bag cards (TEB-9) opened with no witnessed seal: no previous record given" in said
    )
    run_dir = next((tmp_path / "runs").iterdir())
    state = load_state(run_dir)
    assert state.result == "succeeded"
    (exception,) = state.exceptions
    assert (exception["step"], exception["decision"]) == ("open-cards", "photographed")
    md = to_markdown(build_record(run_dir))
    assert "exception #1 at `open-cards`: expected bag cards under a witnessed seal" in md
    assert "decision: photographed (decided by Kim (KM, administrator); actor KM, witness LJ)" in md
