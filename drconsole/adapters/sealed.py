"""Sealed backup files: backups that hold secrets (a namespace's Secrets, Vault's KV data),
encrypted with AES-256-GCM under a 32-byte key named by file or environment variable. The key
is never written with the backup, in the targets file or in the run record; the backup names
it only by its key id (a hash that does not reveal it).

A sealed file is one JSON document::

    {"format": "drconsole-sealed/1", "kind": "k8s-config", "created_at": "...Z",
     "key_id": "3f2a...", "clear": {...},            # readable without the key: names, counts
     "sealed": {"alg": "AES-256-GCM", "nonce": "<base64>", "ciphertext": "<base64>"}}

The GCM tag authenticates the whole document (everything but ``sealed`` is the additional
data), so a change anywhere is refused by whoever holds the key, even if the ``.sha256``
written beside the file were rewritten too. Restores check that ``.sha256`` first, then the
tag, and change nothing until both pass.

Make a key: ``head -c 32 /dev/urandom | base64 > backup.key; chmod 600 backup.key``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field

from drconsole.adapters.base import ActionContext, CheckFailed, Params, PermanentError
from drconsole.secrets import SecretSourceError, secret_from_reference
from drconsole.timeutil import format_timestamp, utcnow

FORMAT = "drconsole-sealed/1"
MAKE_KEY = "head -c 32 /dev/urandom | base64 > FILE; chmod 600 FILE"


def load_key(ref: Mapping[str, str] | None, site: Mapping[str, Any]) -> bytes:
    """The 32-byte key named by ``ref`` (``{file: PATH}`` or ``{env: VAR}``), else by the
    site's ``backup_key``. Hex (64 digits) or base64 of 32 bytes.

    Raises:
        PermanentError: no key named, the source cannot be read, or it is not 32 bytes.
    """
    named = ref or site.get("backup_key")
    if not named:
        raise PermanentError(
            "no backup key is named",
            hint="give key: {file: PATH} or {env: VARIABLE}, or backup_key in the site's "
            f"targets (make one with: {MAKE_KEY})",
        )
    try:
        secret = secret_from_reference(dict(named))
    except SecretSourceError as exc:
        raise PermanentError(f"the backup key: {exc}") from None
    text = secret.reveal().strip()
    raw: bytes | None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raw = None
    if raw is None or len(raw) != 32:
        raise PermanentError(
            f"the backup key from {secret.source} is not 32 bytes as hex or base64",
            hint=f"make one with: {MAKE_KEY}",
        )
    return raw


class KeyRef(Params):
    key: dict[str, str] | None = Field(
        None,
        description="The backup key, named: {file: PATH} or {env: VARIABLE} (32 bytes, hex or "
        "base64); default the site's backup_key. Never the key itself.",
    )


def site_key(ctx: ActionContext, params: KeyRef) -> bytes:
    """The key an action's ``key`` parameter names, else the one its site names."""
    return load_key(params.key, ctx.site)


def key_id(key: bytes) -> str:
    """Names a key without revealing it (the restore says when a backup needs another key)."""
    return hashlib.sha256(b"drconsole backup key\0" + key).hexdigest()[:16]


def _aad(document: Mapping[str, Any]) -> bytes:
    rest = {k: v for k, v in document.items() if k != "sealed"}
    return json.dumps(rest, sort_keys=True, separators=(",", ":")).encode()


def seal(kind: str, clear: Mapping[str, Any], secret: Any, key: bytes) -> bytes:
    """The sealed document's bytes: ``clear`` as is, ``secret`` (JSON-able) encrypted."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    document: dict[str, Any] = {
        "format": FORMAT,
        "kind": kind,
        "created_at": format_timestamp(utcnow()),
        "key_id": key_id(key),
        "clear": dict(clear),
    }
    nonce = os.urandom(12)
    plain = json.dumps(secret, sort_keys=True).encode()
    ciphertext = AESGCM(key).encrypt(nonce, plain, _aad(document))
    document["sealed"] = {
        "alg": "AES-256-GCM",
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(ciphertext).decode(),
    }
    return json.dumps(document, indent=1, sort_keys=True).encode() + b"\n"


def write(path: Path, data: bytes) -> dict[str, Any]:
    """Write a sealed file (mode 0600) and its ``.sha256`` beside it, as sha256sum does."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(path)
    digest = hashlib.sha256(data).hexdigest()
    Path(f"{path}.sha256").write_text(f"{digest}  {path.name}\n")
    return {"path": str(path), "name": path.name, "sha256": digest, "size": len(data)}


def read_checked(path: str) -> bytes:
    """The file's bytes after its SHA-256 matched the ``.sha256`` beside it.

    Raises:
        CheckFailed: no ``.sha256`` beside it, or the file differs from it.
        PermanentError: no such file.
    """
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise PermanentError(f"cannot read {file}: {exc.strerror}") from None
    sidecar = Path(f"{file}.sha256")
    try:
        expected = (sidecar.read_text().split() or [""])[0].lower()
    except OSError:
        raise CheckFailed(
            f"{file} has no {sidecar.name} beside it: nothing to check it against",
            hint="fetch the backup with its .sha256 (s3.download writes it after verifying)",
        ) from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise CheckFailed(
            f"{file} does not match its checksum: SHA-256 {actual[:16]}…, expected "
            f"{expected[:16]}… ({sidecar.name}); nothing was applied",
            evidence={"path": str(file), "sha256": actual, "expected": expected},
            hint="the backup changed after it was taken: do not use it; take an older one",
        )
    return data


def open_sealed(data: bytes, kind: str, key: bytes, where: str) -> tuple[dict[str, Any], Any]:
    """The clear part and the decrypted secret part of a sealed document.

    Raises:
        CheckFailed: not a sealed file of this kind, another key, or the tag does not verify.
    """
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        document = json.loads(data)
        sealed = document["sealed"]
        nonce = base64.b64decode(sealed["nonce"], validate=True)
        ciphertext = base64.b64decode(sealed["ciphertext"], validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise CheckFailed(f"{where} is not a sealed backup file ({FORMAT})") from None
    if document.get("format") != FORMAT or document.get("kind") != kind:
        raise CheckFailed(
            f"{where} is a {document.get('kind')!r} backup ({document.get('format')}), "
            f"not a {kind!r} one ({FORMAT})"
        )
    if document.get("key_id") != key_id(key):
        raise CheckFailed(
            f"{where} was sealed under another key (key id {document.get('key_id')}; the key "
            f"given has {key_id(key)})",
            hint="name the key this backup was made with",
        )
    try:
        plain = AESGCM(key).decrypt(nonce, ciphertext, _aad(document))
    except (InvalidTag, ValueError):
        raise CheckFailed(
            f"{where} does not authenticate under its key: it changed after it was sealed; "
            "nothing was applied",
            hint="do not use it; take an older backup",
        ) from None
    return dict(document["clear"]), json.loads(plain)


def stamp() -> str:
    """A UTC time for file names: 20261126-030000."""
    return utcnow().strftime("%Y%m%d-%H%M%S")
