"""The console driven by keys (Textual Pilot): a whole run with a confirmation, a retry shown,
a failure shown, a wrong typed confirmation refused, a sign-off; resume of a killed run; a
dry-run; the home screen. Real engine, real journal, real files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from textual.widgets import DataTable, Static

from drconsole.adapters.oscmd import free_port
from drconsole.engine.modes import Mode
from drconsole.journal.journal import read_events, verify
from drconsole.report.record import build_record
from drconsole.report.record import to_markdown as record_markdown
from drconsole.runs.rundir import load_state
from drconsole.tui import modals
from drconsole.tui.home import HomeScreen
from drconsole.tui.run_screen import RunScreen
from tests.conftest import Cli, kill_run, start_run
from tests.console.pilot import make_app, on, run, run_screen_of, setup, until

PLAN = """
id: tui-small
title: Small console plan
kind: drill
objectives: {rto: 10m}
steps:
  - {id: brief, title: Brief, manual: Brief everyone.}
  - id: flaky
    title: Flaky health check
    check: local.http_check
    with: {url: "http://127.0.0.1:PORT/health", timeout_s: 1}
    retry: {attempts: 2, delay: 0.3s}
    on_failure: continue
    needs: [brief]
  - id: wipe
    title: Wipe the practice marker
    action: local.command
    with: {argv: [touch, "MARKER"]}
    site: sandbox
    destructive: true
    confirm: wipe-it
    needs: [flaky]
  - id: approve
    approval: {signers: 2, roles: [security_officer, witness]}
    needs: [wipe]
  - {id: done, milestone: service_restored, needs: [approve]}
"""


def test_a_whole_run_by_keys(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    plans, plan, targets = setup(
        tmp_path, PLAN.replace("PORT", str(free_port())).replace("MARKER", str(marker))
    )

    async def scenario() -> None:
        app = make_app(tmp_path, plans, targets, start_plan=plan)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: on(app, modals.ConfirmModal))
            await pilot.press("enter")  # a stray Enter answers nothing: only y or n do
            await pilot.pause(0.1)
            assert on(app, modals.ConfirmModal)
            await pilot.press("y")
            await until(pilot, lambda: on(app, modals.TypedConfirmModal))
            run_screen = run_screen_of(app)
            log = "\n".join(str(line) for line in run_screen.query_one("#journal-log").lines)
            assert "retry in" in log  # the retry was shown
            assert "FAILED    flaky" in log  # and the failure
            await pilot.press(*"wrong", "enter")

            def refused_on_screen() -> bool:
                if not on(app, modals.TypedConfirmModal):
                    return False
                return "REFUSED" in str(app.screen.query_one("#problem", Static).render())

            await until(pilot, refused_on_screen)  # the engine refused it and asks again
            said = str(app.screen.query_one("#problem", Static).render())
            assert "(2 tries left)" in said  # the person knows a refusal is not free
            assert not marker.exists()
            await pilot.press("enter")  # Enter alone never confirms
            await pilot.pause(0.1)
            assert on(app, modals.TypedConfirmModal)
            await pilot.press(*"wipe-it", "enter")
            await until(pilot, lambda: on(app, modals.SignoffModal))
            await pilot.press(*"Kim", "enter")  # to the next signer's name
            await pilot.press("enter")  # a stray Enter on an empty name: stays there, says why
            await pilot.pause(0.1)
            assert on(app, modals.SignoffModal)
            hint = str(app.screen.query_one("#signoff-hint", Static).render())
            assert "Signer 2 has no name yet" in hint
            assert app.focused is app.screen.query_one("#name-1")
            await pilot.press(*"Lee", "enter")
            await until(pilot, lambda: run_screen.finished)
            title = str(run_screen.query_one("#run-title", Static).render())
            assert "SUCCEEDED" in title
            assert "DRILL" in title
            clocks = str(run_screen.query_one("#run-clocks", Static).render())
            assert "RTO" in clocks
            assert ": met" in clocks
            assert "RPO - (no objective set)" in clocks  # the plan sets no RPO: said, not "of -"
            table = run_screen.query_one("#steps", DataTable)
            assert "FAILED" in str(table.get_cell("flaky", "status"))
            assert "done" in str(table.get_cell("approve", "status"))
        assert marker.exists()
        run_dir = next((tmp_path / "runs").iterdir())
        assert verify(run_dir).ok
        state = load_state(run_dir)
        assert state.result == "succeeded"
        # the refusal typed in the console is in the record, with its reason
        (refusal,) = state.refusals
        assert refusal["question"] == "typed confirmation"
        assert "'wipe-it'" in refusal["reason"]
        assert state.steps["approve"].outputs["signers"][0] == {
            "name": "Kim",
            "role": "security_officer",
        }

    run(scenario())


def test_resume_of_a_killed_run_asks_about_the_interrupted_step(tmp_path: Path) -> None:
    plans, plan, targets = setup(
        tmp_path,
        """
id: killed
title: Killed
kind: drill
steps:
  - {id: long, action: local.command, with: {argv: [sleep, "30"]}}
  - {id: after, action: local.sleep, with: {seconds: 0}, needs: [long]}
""",
    )
    proc, run_dir = start_run([str(plan), "--headless", "--runs-dir", str(tmp_path / "runs")])
    kill_run(proc)

    async def scenario() -> None:
        app = make_app(tmp_path, plans, targets, resume=run_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: on(app, modals.ChoiceModal))
            assert "Interrupted step" in app.screen.title_text  # type: ignore[attr-defined]
            await pilot.press("m")  # marking done needs a reason: asked for, nothing chosen yet
            await pilot.pause(0.05)
            assert on(app, modals.ChoiceModal)
            await pilot.press(*"checked by hand", "enter")
            run_screen = run_screen_of(app)
            await until(pilot, lambda: run_screen.finished)
        state = load_state(run_dir)
        assert state.steps["long"].status == "marked_done"
        assert "checked by hand" in (state.steps["long"].reason or "")
        assert state.result == "succeeded"

    run(scenario())


def test_a_dry_run_calls_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    plans, plan, targets = setup(
        tmp_path, PLAN.replace("PORT", str(free_port())).replace("MARKER", str(marker))
    )

    async def scenario() -> None:
        app = make_app(tmp_path, plans, targets, start_plan=plan, mode=Mode.DRY_RUN)
        async with app.run_test(size=(80, 24)) as pilot:
            run_screen: RunScreen | None = None

            def ready() -> bool:
                nonlocal run_screen
                run_screen = next((s for s in app.screen_stack if isinstance(s, RunScreen)), None)
                return run_screen is not None and run_screen.finished

            await until(pilot, ready)
            assert run_screen is not None
            assert "DRY-RUN" in str(run_screen.query_one("#run-title", Static).render())
            table = run_screen.query_one("#steps", DataTable)
            assert "dry-run" in str(table.get_cell("wipe", "status"))
        assert not marker.exists()

    run(scenario())


def test_home_lists_plans_and_runs_and_changes_mode_in_words(tmp_path: Path) -> None:
    plans, plan, targets = setup(
        tmp_path, "id: h\ntitle: H\nkind: drill\nsteps:\n  - {id: a, wait: 0s}\n"
    )
    (plans / "broken.yaml").write_text("id: [\n")

    async def scenario() -> None:
        app = make_app(tmp_path, plans, targets)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: on(app, HomeScreen))
            table = app.screen.query_one("#plans", DataTable)
            await until(pilot, lambda: table.row_count == 2)  # filled by a worker thread
            rows = [table.get_row_at(i) for i in range(2)]
            # the highlighted row is marked with a glyph, not only by colour
            assert [str(c) for c in rows[0][:3]] == ["»", "broken.yaml", "INVALID"]
            assert str(rows[1][0]) == ""
            await pilot.press("down")
            assert str(table.get_row_at(1)[0]) == "»"
            assert str(table.get_row_at(0)[0]) == ""
            title = app.screen.query_one("#home-title", Static)
            assert "DRILL" in str(title.render())
            await pilot.press("m")
            assert "DRY-RUN" in str(title.render())
            await pilot.press("m")  # REAL asks first; a stray Enter keeps out of it
            await until(pilot, lambda: on(app, modals.ChoiceModal))
            assert "every site in the targets file is a drill site" in str(
                app.screen.query_one(".modal-prompt", Static).render()
            )
            await pilot.press("enter")  # nothing has the focus: a stray Enter answers nothing
            await pilot.pause(0.1)
            assert on(app, modals.ChoiceModal)
            await pilot.press("d")
            await until(pilot, lambda: on(app, HomeScreen))
            assert "DRILL" in str(title.render())
            assert "REAL" not in str(title.render())
            await pilot.press("m", "m")
            await until(pilot, lambda: on(app, modals.ChoiceModal))
            await pilot.press("r")
            await until(pilot, lambda: on(app, HomeScreen))
            assert "REAL" in str(title.render())
            await until(pilot, lambda: "sandbox" in str(app.screen.query_one("#sites").render()))

    run(scenario())


CEREMONY_PLAN = """
id: tui-ceremony
title: Console ceremony
kind: ceremony
offline: true
ceremony:
  roles:
    administrator: {title: runs it, min: 1, max: 1}
    witness: {title: witnesses, min: 1}
    custodian: {title: holds a card, min: 1}
steps:
  - {id: room, checkbox: The door is closed}
  - id: pause
    action: local.command
    with: {argv: [sh, -c, "while [ ! -e GO ]; do sleep 0.05; done"]}
    needs: [room]
  - id: seal
    bag: {event: seal, label: cards, contents: officer cards}
    needs: [pause]
"""


def test_a_ceremony_by_keys_with_a_break_and_exceptions(tmp_path: Path) -> None:
    go = tmp_path / "go"
    plans, plan, targets = setup(tmp_path, CEREMONY_PLAN.replace("GO", str(go)))

    shown: list[str] = []
    signed_in: list[str] = []

    async def scenario() -> None:
        app = make_app(tmp_path, plans, targets, start_plan=plan)
        async with app.run_test(size=(80, 24)) as pilot:
            for name, role, initials in (
                ("Kim", "administrator", "KM"),
                ("Lee", "witness", "LJ"),
                ("Park", "custodian", "PS"),
            ):
                await until(pilot, lambda: on(app, modals.EvidenceModal))
                assert "sign in" in app.screen.title_text  # type: ignore[attr-defined]
                signed_in.append(f"{initials} {role}")
                if len(signed_in) > 1:  # the form says who has signed in so far
                    so_far = "Signed in: " + ", ".join(signed_in[:-1])
                    assert app.screen.text == so_far  # type: ignore[attr-defined]
                await pilot.press(*name, "enter", *role, "enter", "enter", *initials, "enter")
                await pilot.press("enter")  # holds: none
                await pilot.pause(0.05)
            await until(pilot, lambda: on(app, modals.EvidenceModal))
            await pilot.press("escape")  # everyone has signed in
            await until(pilot, lambda: on(app, modals.ConfirmModal))
            await pilot.press("n", "n")  # the door cannot be closed (n twice): an exception
            await until(pilot, lambda: on(app, modals.EvidenceModal))
            assert "EXCEPTION #1" in app.screen.title_text  # type: ignore[attr-defined]
            await pilot.press(*"broken", "enter", *"guard", "enter")
            await until(pilot, lambda: on(app, modals.EvidenceModal))
            assert app.screen.title_text == "Initials"  # type: ignore[attr-defined]
            # whose initials are whose, on the screen that asks for them
            everyone = "Signed in: KM administrator, LJ witness, PS custodian"
            said = "Result: exception #1 recorded; the ceremony goes on\nconfirmed = no"
            assert app.screen.text == f"{said}\n\n{everyone}"  # type: ignore[attr-defined]
            await pilot.press(*"KM", "enter", *"LJ", "enter")
            run_screen = run_screen_of(app)
            await until(pilot, lambda: app.screen is run_screen)
            await pilot.press("b")
            await until(pilot, lambda: on(app, modals.EvidenceModal))
            await pilot.press(*"PS", "enter", *"leaves", "enter", *"call", "enter")
            await until(pilot, lambda: app.screen is run_screen)
            title = str(run_screen.query_one("#run-title", Static).render())
            assert "2 of 3 in the room" in title
            await pilot.press("b")  # a second leaver would leave one person alone
            await until(pilot, lambda: on(app, modals.EvidenceModal))
            await pilot.press(*"LJ", "enter", *"leaves", "enter", "enter")
            await until(pilot, lambda: app.screen is run_screen)
            assert "2 of 3 in the room" in str(run_screen.query_one("#run-title").render())
            await pilot.press("x")
            await until(pilot, lambda: on(app, modals.EvidenceModal))
            await pilot.press("enter", *"alarm", "enter", *"paused", "enter")
            await until(pilot, lambda: app.screen is run_screen)
            go.touch()  # the long step ends
            await until(pilot, lambda: getattr(app.screen, "title_text", "") == "Initials")
            await pilot.press(*"KM", "enter", *"LJ", "enter")
            await until(
                pilot,
                lambda: on(app, modals.EvidenceModal) and app.screen.fields[0].name == "bag_id",  # type: ignore[attr-defined]
            )
            await pilot.press(*"TEB-9", "enter")
            await until(pilot, lambda: getattr(app.screen, "title_text", "") == "Initials")
            await pilot.press(*"KM", "enter", *"LJ", "enter")
            for _ in range(3):
                await until(pilot, lambda: on(app, modals.ChoiceModal))
                shown.append(app.screen.text)  # type: ignore[attr-defined]
                await pilot.press("a")
                await pilot.pause(0.05)
            await until(pilot, lambda: run_screen.finished)
        run_dir = next((tmp_path / "runs").iterdir())
        state = load_state(run_dir)
        assert state.result == "succeeded"
        assert [e["happened"] for e in state.exceptions] == ["broken", "alarm"]
        assert [(p["initials"], p["present"]) for p in state.presence] == [("PS", False)]
        assert len(state.attestations) == 3
        # the signed record prints the words each participant agreed to on the screen
        (words,) = set(shown)
        assert f"Agreeing means: {words}" in record_markdown(build_record(run_dir))
        assert state.steps["seal"].initials is not None
        assert state.bags[0]["bag_id"] == "TEB-9"

    run(scenario())


def test_an_engine_crash_is_shown_journaled_and_resumable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in the engine (injected here) must not end as a bare "INTERRUPTED": the console
    shows the error, the journal keeps it, and the run can be resumed."""
    from drconsole.engine.runner import Engine

    plans, plan, targets = setup(
        tmp_path,
        """
id: crash
title: Crash
kind: drill
steps:
  - {id: one, action: local.sleep, with: {seconds: 0}}
""",
    )

    async def broken(self: Engine) -> None:
        raise RuntimeError("boom in the scheduler")

    monkeypatch.setattr(Engine, "_schedule", broken)

    async def scenario() -> None:
        app = make_app(tmp_path, plans, targets, start_plan=plan)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: any(isinstance(s, RunScreen) for s in app.screen_stack))
            run_screen = run_screen_of(app)
            await until(pilot, lambda: run_screen.finished)
            await pilot.pause(0.1)
            shown = " ".join(str(n.message) for n in app._notifications)
            assert "RuntimeError: boom in the scheduler" in shown
            assert "resume" in shown
            log = "\n".join(str(line) for line in run_screen.query_one("#journal-log").lines)
            assert "boom in the scheduler" in log

    run(scenario())
    run_dir = next((tmp_path / "runs").iterdir())
    assert verify(run_dir).ok
    state = load_state(run_dir)
    assert not state.finished  # resumable
    events = [e for e in read_events(run_dir) if e.type == "run_interrupted"]
    assert "internal error: RuntimeError: boom in the scheduler" in events[-1].data["reason"]


def test_home_sees_a_site_go_down_by_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After `sandbox fail-primary` (or a real outage) the Sites line changes without a key."""
    import socket

    from drconsole.tui import home

    monkeypatch.setattr(home, "SITES_EVERY_S", 0.3)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    plans, _plan, targets = setup(
        tmp_path, "id: h\ntitle: H\nkind: drill\nsteps:\n  - {id: a, wait: 0s}\n"
    )
    site = {"drill": True, "postgres": {"host": "127.0.0.1", "port": port}}
    targets.write_text(yaml.safe_dump({"sites": {"primary": site}}))

    async def scenario() -> None:
        app = make_app(tmp_path, plans, targets)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: on(app, HomeScreen))
            sites = app.screen.query_one("#sites", Static)
            await until(pilot, lambda: "primary (drill, db answers)" in str(sites.render()))
            listener.close()  # the database goes away
            await until(pilot, lambda: "primary (drill, db DOWN)" in str(sites.render()), 10)

    try:
        run(scenario())
    finally:
        listener.close()


def test_home_says_a_journal_that_does_not_verify(tmp_path: Path, cli: Cli) -> None:
    """An edited journal's run is not listed as what it claims; a torn last line (a crash,
    repaired by a resume) is not called bad."""
    plans, plan, targets = setup(
        tmp_path, "id: h\ntitle: H\nkind: drill\nsteps:\n  - {id: a, wait: 0s}\n"
    )
    edited = cli.run(plan).run_dir
    journal = edited / "journal.jsonl"
    journal.write_text(journal.read_text().replace('"operator":"', '"operator":"x', 1))
    torn = cli.run(plan).run_dir
    with (torn / "journal.jsonl").open("a") as f:
        f.write('{"seq": 99, "ty')

    async def scenario() -> None:
        app = make_app(tmp_path, plans, targets)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: on(app, HomeScreen))
            table = app.screen.query_one("#runs", DataTable)
            await until(pilot, lambda: table.row_count == 2)
            outcome = {
                str(table.coordinate_to_cell_key((i, 0)).row_key.value): str(table.get_row_at(i)[4])
                for i in range(2)
            }
            assert outcome[str(edited)] == "JOURNAL BAD"
            assert outcome[str(torn)] == "succeeded"

    run(scenario())
