"""The rules of a witnessed ceremony, as pure functions: each returns None when the answer is
acceptable, or the sentence the operator reads when it is not.

- sign-in: names and initials unique, one role per person, every role within its min..max,
  the witness is neither the administrator nor the person at the console;
- per step: the actor and the witness are signed in and present, the witness holds the witness
  role and is not the actor;
- quorum: K distinct holders of the role, present, each presenting only their own card/share;
- presence: nobody leaves when fewer than the minimum would remain.

Names, initials and card ids are compared by ``people.name_key`` (look-alike letters, width,
case and invisible characters do not make two people of one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drconsole.people import name_key
from drconsole.plans.model import Ceremony, Compare


@dataclass(frozen=True)
class Participant:
    """A person signed in to a ceremony."""

    name: str
    role: str
    affiliation: str
    initials: str
    holds: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "affiliation": self.affiliation,
            "initials": self.initials,
            "holds": list(self.holds),
        }

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Participant:
        return Participant(
            str(data["name"]),
            str(data["role"]),
            str(data.get("affiliation", "")),
            str(data["initials"]),
            tuple(str(h) for h in data.get("holds", [])),
        )


def find(participants: list[Participant], initials: str) -> Participant | None:
    """The participant with these initials (compared as ``name_key`` does)."""
    for p in participants:
        if name_key(p.initials) == name_key(initials):
            return p
    return None


def sign_in_problem(
    ceremony: Ceremony, participants: list[Participant], operator: str
) -> str | None:
    """Why this sign-in sheet is not acceptable, or None."""
    for p in participants:
        if not p.name.strip() or not p.initials.strip():
            return "every participant needs a name and initials"
        if p.role not in ceremony.roles:
            return f"{p.name}: unknown role {p.role!r} (roles: {', '.join(ceremony.roles)})"
    for attr, what in (("name", "name"), ("initials", "initials")):
        seen: set[str] = set()
        for p in participants:
            value = name_key(getattr(p, attr))
            if value in seen:
                return (
                    f"{what} {getattr(p, attr)!r} is signed in twice: one role per person, "
                    "and initials must tell people apart"
                )
            seen.add(value)
    for role, rule in ceremony.roles.items():
        count = sum(1 for p in participants if p.role == role)
        if count < rule.min:
            return f"role {role} ({rule.title}) needs at least {rule.min}; {count} signed in"
        if rule.max is not None and count > rule.max:
            return f"role {role} ({rule.title}) allows at most {rule.max}; {count} signed in"
    witnesses = [p for p in participants if p.role == ceremony.witness]
    for w in witnesses:
        if name_key(w.name) == name_key(operator):
            return (
                f"{w.name} is at the console and cannot also be the witness: "
                "the witness is neither the administrator nor the operator"
            )
    holders: dict[str, str] = {}
    for p in participants:
        for token in p.holds:
            if name_key(token) in holders:
                return f"{token!r} is held by both {holders[name_key(token)]} and {p.name}"
            holders[name_key(token)] = p.name
    if len(participants) < ceremony.minimum_present:
        return f"at least {ceremony.minimum_present} people must be present"
    return None


def initials_problem(
    ceremony: Ceremony,
    participants: list[Participant],
    absent: set[str],
    actor: str,
    witness: str,
) -> str | None:
    """Why these step initials are not acceptable, or None."""
    who_acts = find(participants, actor)
    if who_acts is None:
        return f"actor initials {actor!r} belong to nobody signed in ({_sheet(participants)})"
    who_witnesses = find(participants, witness)
    if who_witnesses is None:
        return f"witness initials {witness!r} belong to nobody signed in ({_sheet(participants)})"
    if who_acts == who_witnesses:
        return f"{who_acts.name} cannot witness their own step"
    if who_witnesses.role != ceremony.witness:
        return (
            f"{who_witnesses.name} is {who_witnesses.role}, not {ceremony.witness}: "
            "only the internal witness initials as witness"
        )
    for p in (who_acts, who_witnesses):
        if name_key(p.initials) in absent:
            return f"{p.name} ({p.initials}) is recorded as out of the room"
    return None


def quorum_problem(
    participants: list[Participant],
    absent: set[str],
    role: str,
    need: int,
    presented: list[tuple[str, str]],
) -> str | None:
    """Why these (initials, card or share) presentations do not make a quorum, or None."""
    holders = {name_key(t): p for p in participants for t in p.holds}
    people: set[str] = set()
    tokens: set[str] = set()
    for initials, token in presented:
        person = find(participants, initials)
        if person is None:
            return f"initials {initials!r} belong to nobody signed in ({_sheet(participants)})"
        if person.role != role:
            return f"{person.name} is {person.role}, not {role}: only a {role} may present"
        if name_key(person.initials) in absent:
            return f"{person.name} is recorded as out of the room"
        if name_key(person.initials) in people:
            return f"{person.name} presented twice: {need} distinct {role}s are needed"
        if not token.strip():
            return f"{person.name}: name the card or share presented"
        if name_key(token) in tokens:
            return f"{token!r} was presented twice"
        owner = holders.get(name_key(token))
        if owner is not None and owner != person:
            return f"{token!r} is {owner.name}'s; each {role} presents only their own"
        if owner is None and person.holds:
            return f"{person.name} holds {', '.join(person.holds)}, not {token!r}"
        people.add(name_key(person.initials))
        tokens.add(name_key(token))
    if len(people) < need:
        return f"{len(people)} {role}(s) presented; {need} distinct are needed"
    return None


def leave_problem(
    participants: list[Participant], absent: set[str], initials: str, minimum: int
) -> str | None:
    """Why this person may not leave now, or None."""
    person = find(participants, initials)
    if person is None:
        return f"initials {initials!r} belong to nobody signed in ({_sheet(participants)})"
    if name_key(person.initials) in absent:
        return f"{person.name} is already recorded as out of the room"
    present = len(participants) - len(absent)
    if present - 1 < minimum:
        return (
            f"{person.name} cannot leave: {minimum} people must be in the room at all times "
            f"and {present} are; pause the ceremony until someone returns"
        )
    return None


def values_match(expected: Any, got: str, compare: Compare) -> bool:
    """A recorded value against the expected one (case and spaces do not count)."""
    want = "".join(str(expected).split()).casefold()
    have = "".join(got.split()).casefold()
    if compare is Compare.ENDS:
        for sep in ("...", "…", "-", ":"):
            have = have.replace(sep, "")
        return len(want) >= 8 and have == want[:4] + want[-4:]
    return want == have


def _sheet(participants: list[Participant]) -> str:
    """Who is signed in, as a refusal names them: "signed in: HA (administrator), ..."."""
    listed = ", ".join(f"{p.initials} ({p.role})" for p in participants)
    return f"signed in: {listed}" if listed else "nobody is signed in"
