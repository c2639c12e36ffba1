"""The targets file: which systems a plan acts on, per site (primary, dr, sandbox, ...).

Targets never hold secrets. A key that looks like a secret (password, token, secret) must be
given as ``*_env`` (an environment variable's name) or ``*_file`` (a path) instead; loading the
file reads each such secret that can be read and registers it for masking, so that it never
reaches the journal, a report or the screen, whichever step or program later prints it::

    sites:
      sandbox:
        drill: true            # destructive steps in drill mode are allowed only here
        postgres: {host: 127.0.0.1, port: 54321, dbname: qsign, user: qsign}
        vault: {addr: "http://127.0.0.1:8200", token_file: /path/to/token}
"""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from drconsole.secrets import SecretSourceError, is_secret_key, secret_from_reference


class TargetsError(ValueError):
    """The targets file cannot be used; the message says why and what to do."""


class Site(BaseModel):
    """One site's systems. Sections per system are free-form mappings."""

    model_config = ConfigDict(extra="allow")

    drill: bool = Field(False, description="A drill or sandbox site: destructive drill steps ok.")
    description: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"drill": self.drill, "description": self.description, **(self.model_extra or {})}


class Targets(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sites: dict[str, Site] = Field(default_factory=dict)
    source: str | None = Field(None, exclude=True)

    def site(self, name: str) -> Site:
        """The site called ``name``.

        Raises:
            TargetsError: no such site (the known ones are listed).
        """
        if name not in self.sites:
            known = ", ".join(sorted(self.sites)) or "none"
            where = f" in {self.source}" if self.source else ""
            raise TargetsError(f"unknown site {name!r}{where}; known sites: {known}")
        return self.sites[name]


def _find_secrets(value: Any, path: str) -> list[str]:
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if is_secret_key(str(key)) and isinstance(item, str | int):
                found.append(here)
            found.extend(_find_secrets(item, here))
    return found


def _register_secrets(value: Any) -> None:
    """Read (and so register for masking) every ``*_env``/``*_file`` secret named in
    ``value``; one that cannot be read is reported by the step that needs it."""
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        stem, _, kind = str(key).rpartition("_")
        if kind in ("env", "file") and is_secret_key(stem) and isinstance(item, str):
            with suppress(SecretSourceError):
                secret_from_reference({kind: item})
        _register_secrets(item)


def load_targets(path: str | Path) -> Targets:
    """Read a targets file.

    Raises:
        TargetsError: unreadable, malformed, or holding a secret.
    """
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise TargetsError(f"cannot read targets file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise TargetsError(
            f"targets file {path} is not UTF-8 text (byte {exc.start} is not): save it as UTF-8"
        ) from None
    except yaml.YAMLError as exc:
        raise TargetsError(f"targets file {path} is not valid YAML: {exc}") from None
    leaks = _find_secrets(data, "")
    if leaks:
        raise TargetsError(
            f"targets file {path} holds a secret at {', '.join(leaks)}: name an environment "
            "variable (KEY_env: VAR) or a file (KEY_file: PATH) instead"
        )
    try:
        targets = Targets.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise TargetsError(f"targets file {path}: {where}: {first['msg']}") from None
    targets.source = str(path)
    _register_secrets(data)
    return targets
