"""Redaction at the source: nothing secret is ever handed to the journal writer's disk.

Secret objects become a mask wherever they appear; any string that contains a value registered
as secret (``drconsole.secrets.register``: an unseal share typed a moment ago, a token read
from a file, by whatever read it) is masked as well.
"""

from __future__ import annotations

from typing import Any

from drconsole.secrets import MASK, Secret, is_secret_key, registered


class Redactor:
    """Masks secrets in event payloads."""

    def clean(self, value: Any, key: str = "") -> Any:
        """A copy of ``value`` with every secret masked."""
        if isinstance(value, Secret):
            return MASK
        if isinstance(value, str):
            if key and is_secret_key(key) and value != MASK:
                return MASK
            for secret in registered():
                if secret in value:
                    value = value.replace(secret, MASK)
            return value
        if isinstance(value, dict):
            return {k: self.clean(v, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.clean(v, key) for v in value]
        return value
