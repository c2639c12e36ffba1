"""Names of people: look-alike spellings are one person, and nothing typed may carry control
characters, escape sequences or bidirectional overrides to a terminal or a report."""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from drconsole.engine.answers import AnswersFile, AnswersOperator
from drconsole.engine.launch import prepare_new
from drconsole.engine.modes import Mode
from drconsole.engine.operator import Signer
from drconsole.journal.journal import read_events, verify
from drconsole.people import NAME_MAX, TEXT_MAX, answer_problem, name_key, text_problem
from tests.conftest import Cli, CliResult

NFD_JOSE = unicodedata.normalize("NFD", "José")


@pytest.mark.parametrize(
    ("typed", "same_as"),
    [
        ("\u0421arol", "Carol"),  # Cyrillic capital es
        ("\uff23arol", "Carol"),  # full-width C
        ("Car\u200bol", "Carol"),  # zero-width space
        ("\ufeffCarol\u200d", "carol"),  # byte-order mark, zero-width joiner
        ("  CAROL   Smith ", "carol smith"),
        (NFD_JOSE, "José"),
        ("\u0397elen", "Helen"),  # Greek capital eta
        ("Ρаrk Su", "Park Su"),  # Greek capital rho, Cyrillic small a
    ],
)
def test_look_alike_spellings_are_one_name(typed: str, same_as: str) -> None:
    assert typed != same_as
    assert name_key(typed) == name_key(same_as)


@pytest.mark.parametrize(("one", "other"), [("Jose", "José"), ("Kim Min", "Kim Mun")])
def test_different_names_stay_different(one: str, other: str) -> None:
    assert name_key(one) != name_key(other)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Carol\x1b[31m", "an escape sequence (U+001B) at character 6"),
        ("Carol\x9b31m", "an escape sequence (U+009B)"),
        ("Ca\x07rol", "a control character (U+0007)"),
        ("Ca\x85rol", "a control character (U+0085)"),
        ("Carol\x7f", "a control character (U+007F)"),
        ("Carol\u202eloraC", "a bidirectional override (U+202E)"),
        ("Carol\u2066x\u2069", "a bidirectional override (U+2066)"),
        ("Carol\nSmith", "a control character (U+000A)"),
        ("C" * (NAME_MAX + 1), f"at most {NAME_MAX} are accepted"),
    ],
)
def test_names_refuse_control_characters_and_length(text: str, words: str) -> None:
    problem = text_problem(text, "the name", name=True)
    assert problem is not None
    assert words in problem
    assert problem.isprintable()  # the refusal never carries the character itself


def test_free_text_allows_lines_but_not_escapes() -> None:
    assert text_problem("line one\n\tline two", "the reason") is None
    assert text_problem("x" * TEXT_MAX, "the reason") is None
    assert text_problem("x" * (TEXT_MAX + 1), "the reason") is not None
    assert text_problem("ok\x1b]0;title\x07", "the reason") is not None


def test_answer_problem_names_the_field() -> None:
    signers = [Signer("Kim", "so"), Signer("Lee\u202e", "witness")]
    problem = answer_problem(signers, "sign-off")
    assert problem is not None
    assert problem.startswith("sign-off.1.name ")
    assert answer_problem({"serial": "ABC\x1b"}, "evidence") is not None
    assert answer_problem([Signer("Kim", "so"), Signer("Lee", "witness")], "sign-off") is None


SIGNOFF = """
id: sign
title: Sign
kind: drill
steps:
  - id: approve
    approval: {signers: 2, roles: [security_officer, witness]}
"""


def run_signoff(
    cli: Cli, write_plan: Callable[..., Path], tmp_path: Path,
    signers: list[dict[str, str]], *extra: str,
) -> tuple[CliResult, list[Any]]:  # fmt: skip
    answers = tmp_path / "answers.yaml"
    answers.write_text(yaml.safe_dump({"steps": {"approve": {"signoffs": signers}}}))
    result = cli.run(write_plan(SIGNOFF), *extra, answers=answers, runs=tmp_path / "runs")
    if result.code == 2:
        return result, []
    run_dir = result.run_dir
    assert verify(run_dir).ok
    return result, list(read_events(run_dir))


@pytest.mark.parametrize("second", ["\u0421arol", "\uff23arol", "Car\u200bol", "CAROL"])
def test_one_person_cannot_sign_twice_under_a_look_alike_name(
    cli: Cli, write_plan: Callable[..., Path], tmp_path: Path, second: str
) -> None:
    signers = [{"name": "Carol", "role": "security_officer"}, {"name": second, "role": "witness"}]
    result, events = run_signoff(cli, write_plan, tmp_path, signers)
    assert result.code == 1
    refused = [e.data for e in events if e.type == "refused"]
    assert refused
    assert "signed more than once" in refused[0]["reason"]


def test_jose_typed_decomposed_is_jose(
    cli: Cli, write_plan: Callable[..., Path], tmp_path: Path
) -> None:
    signers = [{"name": "José", "role": "security_officer"}, {"name": NFD_JOSE, "role": "witness"}]
    result, _ = run_signoff(cli, write_plan, tmp_path, signers)
    assert result.code == 1
    assert "signed more than once" in result.out


def test_an_escape_sequence_in_a_name_is_refused_and_never_shown(
    cli: Cli, write_plan: Callable[..., Path], tmp_path: Path
) -> None:
    """An operator object like the console's (not the answers file, which is checked when it
    is read) meets the check in the engine's one asking loop: the refusal is journaled, and
    nothing raw reaches the journal or the reports."""
    hostile = "Lee\x1b]0;pwned\x07\x1b[2J"
    signers = [{"name": "Kim", "role": "security_officer"}, {"name": hostile, "role": "witness"}]
    answers = AnswersFile.model_validate({"steps": {"approve": {"signoffs": signers}}})
    prepared = prepare_new(
        write_plan(SIGNOFF), runs_dir=tmp_path / "runs", operator=AnswersOperator(answers),
        mode=Mode.DRILL, given_inputs={},
    )  # fmt: skip
    asyncio.run(prepared.engine.run())
    prepared.engine.journal.close()
    refused = [e.data for e in read_events(prepared.run_dir) if e.type == "refused"]
    assert refused
    assert "sign-off.1.name" in refused[0]["reason"]
    assert "an escape sequence (U+001B)" in refused[0]["reason"]
    md = cli("report", prepared.run_dir).out
    js = cli("report", prepared.run_dir, "--format", "json").out
    raw = (prepared.run_dir / "journal.jsonl").read_text()
    for text in (md, js, raw):
        assert not any(c in text for c in "\x1b\x07\x9b")
    assert "\\u001b]0;pwned" in md  # shown escaped, as inert text


def test_an_operator_name_with_an_escape_is_refused_before_the_run(
    cli: Cli, write_plan: Callable[..., Path], tmp_path: Path
) -> None:
    signers = [{"name": "Kim", "role": "security_officer"}, {"name": "Lee", "role": "witness"}]
    result, _ = run_signoff(cli, write_plan, tmp_path, signers, "--operator", "root\x1b[8m")
    assert result.code == 2
    assert "the operator's name" in result.err
    assert "escape sequence" in result.err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
