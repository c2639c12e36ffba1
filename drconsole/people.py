"""What people type: one key for comparing names, and the check every typed answer passes.

``name_key`` decides whether two names (or initials, or card ids) are the same person or thing:
"Сarol" with a Cyrillic С, a full-width "Ｃarol", "Car\u200bol" and "carol" are all Carol, and
"José" is one person whether typed composed or decomposed (NFD). It applies, in order: NFKC,
removing invisible format characters, folding Cyrillic and Greek letters that look like Latin
ones to Latin (a small explicit table, ``_CONFUSABLES``, not the whole Unicode confusables
list), case-folding and collapsing whitespace. Accents are kept: "Jose" and "José" differ.

``answer_problem`` refuses what must never reach a terminal or a report: control characters
(C0 such as ESC, DEL, C1 such as CSI U+009B) and bidirectional overrides, embeddings and
isolates (which reorder what is shown), and over-long text. It returns the sentence the person
reads, which never repeats the offending character itself.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from typing import Any

NAME_MAX = 200
"""The longest name, role, affiliation, initials or card id accepted."""
TEXT_MAX = 4000
"""The longest free text accepted (a reason, a decision, a recorded value)."""

_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_INVISIBLE = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0")  # besides category Cf

# Cyrillic and Greek letters drawn like Latin ones (upper and lower case map separately:
# Greek capital eta looks like H, its small letter like n).
_CONFUSABLES = str.maketrans(
    {
        # Cyrillic
        "А": "A", "В": "B", "С": "C", "Е": "E", "Н": "H", "І": "I", "Ј": "J", "К": "K",
        "М": "M", "О": "O", "Р": "P", "Ѕ": "S", "Т": "T", "Х": "X", "У": "Y", "Ԁ": "D",
        "Ԛ": "Q", "Ԝ": "W", "Ӏ": "I",
        "а": "a", "в": "b", "с": "c", "ԁ": "d", "е": "e", "һ": "h", "н": "h", "і": "i",
        "ј": "j", "к": "k", "ӏ": "l", "м": "m", "о": "o", "р": "p", "ԛ": "q", "ѕ": "s",
        "т": "t", "х": "x", "у": "y", "ԝ": "w", "ё": "ë", "ї": "ï",
        # Greek
        "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M",
        "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
        "α": "a", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "υ": "u", "χ": "x",
        # Latin look-alikes outside ASCII
        "ı": "i", "ȷ": "j",
    }
)  # fmt: skip


def _visible(text: str) -> str:
    return "".join(c for c in text if unicodedata.category(c) != "Cf" and c not in _INVISIBLE)


def name_key(name: str) -> str:
    """The form in which two names are compared (see the module's docstring)."""
    text = _visible(unicodedata.normalize("NFKC", name)).translate(_CONFUSABLES)
    return " ".join(text.casefold().split())


def _shown(text: str) -> str:
    """The start of ``text`` with every control and format character written as an escape."""
    head = text[:40]
    safe = "".join(c if unicodedata.category(c)[0] != "C" else f"\\u{ord(c):04x}" for c in head)
    return safe + ("…" if len(text) > len(head) else "")


def text_problem(text: str, what: str, *, name: bool = False) -> str | None:
    """Why ``text`` cannot be accepted as ``what`` (a name when ``name``), or None.

    Free text may hold line breaks and tabs; names may not.
    """
    limit = NAME_MAX if name else TEXT_MAX
    if len(text) > limit:
        return f"{what} is {len(text)} characters long; at most {limit} are accepted: shorten it"
    allowed = "" if name else "\n\t"
    for position, char in enumerate(text, 1):
        if char in allowed:
            continue
        if unicodedata.category(char) == "Cc":
            kind = "an escape sequence" if char in "\x1b\x9b" else "a control character"
        elif char in _BIDI_CONTROLS:
            kind = "a bidirectional override"
        else:
            continue
        return (
            f"{what} ({_shown(text)!s}) holds {kind} (U+{ord(char):04X}) at character "
            f"{position}: type it again as plain text"
        )
    return None


_NAME_FIELDS = frozenset({"name", "role", "affiliation", "initials", "holds", "operator"})


def _join(where: str, key: object) -> str:
    return f"{where}.{key}" if where else str(key)


def answer_problem(answer: Any, where: str = "the answer", *, name: bool = False) -> str | None:
    """The first text in an answer (a string, or lists, tuples, mappings and dataclasses of
    them) that ``text_problem`` refuses, named by its path from ``where`` (``sign-off.0.name``),
    or None. Fields of people (name, role, affiliation, initials, holds) and mapping keys are
    held to the rules for names."""
    if isinstance(answer, str):
        return text_problem(answer, where, name=name)
    if dataclasses.is_dataclass(answer) and not isinstance(answer, type):
        answer = {f.name: getattr(answer, f.name) for f in dataclasses.fields(answer)}
    items: list[tuple[Any, str, bool]] = []
    if isinstance(answer, dict):
        for key, value in answer.items():
            items.append((str(key), f"a key in {where or 'the answer'}", True))
            items.append((value, _join(where, key), name or str(key) in _NAME_FIELDS))
    elif isinstance(answer, list | tuple):
        items = [(item, _join(where, i), name) for i, item in enumerate(answer)]
    for item, label, is_name in items:
        problem = answer_problem(item, label, name=is_name)
        if problem is not None:
            return problem
    return None
