"""HSM checks over PKCS#11 (python-pkcs11), usable with no network: token identity, a key
present by label with its key check value, and object counts to compare before and after.

Targets ``hsm`` section::

    hsm:
      module: /usr/lib/softhsm/libsofthsm2.so   # the vendor's PKCS#11 library
      token_label: qsign-dev                    # or token_serial
      pin_env: HSM_PIN                          # or pin_file; else the officer types it
      softhsm2_conf: /path/softhsm2.conf        # SoftHSM2 only: its configuration file

Key check value (KCV): the first 3 bytes of a block of zeros encrypted with the key in ECB mode
(AES: 16 bytes, DES3: 8), in upper-case hex, as HSM vendors and key ceremonies print it.

These actions only read. Key backups and restores are vendor tools; plans give their exact
command text as manual steps, and check the result with these actions.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from pydantic import Field

from drconsole.adapters.base import (
    ActionContext,
    ActionSpec,
    CheckFailed,
    Effect,
    Params,
    PermanentError,
)
from drconsole.secrets import Secret, SecretSourceError, secret_from_reference

LOCK = threading.Lock()  # PKCS#11 libraries are loaded once per process; one caller at a time
_CONF_LOADED: dict[str, str | None] = {}

_CLASS_NAMES = {
    "SECRET_KEY": "secret_keys",
    "PRIVATE_KEY": "private_keys",
    "PUBLIC_KEY": "public_keys",
    "CERTIFICATE": "certificates",
    "DATA": "data_objects",
}


def kcv_block(key_type: str) -> tuple[bytes, str] | None:
    """The zero block and ECB mechanism name used for a key type's check value, or None."""
    if key_type == "AES":
        return bytes(16), "AES_ECB"
    if key_type in ("DES3", "DES2"):
        return bytes(8), "DES3_ECB"
    return None


def load_module(module: str, softhsm2_conf: str | None = None) -> Any:
    """The PKCS#11 library ``module``, initialised (with SoftHSM2's configuration file, when
    given). Callers hold ``LOCK`` while they use it.

    Raises:
        PermanentError: the library or the configuration file cannot be loaded.
    """
    import pkcs11  # loaded only when an HSM action runs

    if softhsm2_conf and not os.path.isfile(softhsm2_conf):
        raise PermanentError(f"SoftHSM2 configuration {softhsm2_conf} does not exist")
    try:
        lib = pkcs11.lib(module)
    except (OSError, RuntimeError, pkcs11.PKCS11Error) as exc:
        raise PermanentError(
            f"cannot load the PKCS#11 module {module}: {exc}",
            hint="check hsm.module (is the vendor library or softhsm2 installed?)",
        ) from None
    if softhsm2_conf and _CONF_LOADED.get(module) != softhsm2_conf:
        # SoftHSM2 reads SOFTHSM2_CONF when the module initialises
        os.environ["SOFTHSM2_CONF"] = softhsm2_conf
        lib.reinitialize()
        _CONF_LOADED[module] = softhsm2_conf
    return lib


class HsmAdapter:
    """One token on one PKCS#11 module."""

    def __init__(self, section: Mapping[str, Any], site_name: str | None) -> None:
        self.section = dict(section)
        self.site_name = site_name or "?"
        module = self.section.get("module")
        if not module:
            raise PermanentError(
                f"site {self.site_name} has no hsm.module",
                hint="set hsm.module to the PKCS#11 library in the targets file",
            )
        self.module = str(module)

    def _lib(self) -> Any:
        conf = self.section.get("softhsm2_conf")
        return load_module(self.module, str(conf) if conf else None)

    def _pin(self, ctx: ActionContext) -> Secret:
        for key, kind in (("pin_env", "env"), ("pin_file", "file")):
            if self.section.get(key):
                try:
                    return secret_from_reference({kind: str(self.section[key])})
                except SecretSourceError as exc:
                    raise PermanentError(f"HSM PIN: {exc}") from None
        if ctx.ask_secret is None:
            raise PermanentError("the HSM PIN is needed: set hsm.pin_env or hsm.pin_file")
        return ctx.ask_secret(f"User PIN of HSM token {self._token_name()}")

    def _token_name(self) -> str:
        return str(self.section.get("token_label") or self.section.get("token_serial") or "?")

    @contextmanager
    def session(self, ctx: ActionContext) -> Iterator[tuple[Any, Any]]:
        """(token, logged-in read-only session)."""
        import pkcs11

        with LOCK:
            lib = self._lib()
            label = self.section.get("token_label")
            serial = self.section.get("token_serial")
            if not label and not serial:
                raise PermanentError(f"site {self.site_name}: set hsm.token_label or token_serial")
            try:
                token = lib.get_token(
                    token_label=str(label) if label else None,
                    token_serial=str(serial).encode() if serial else None,
                )
            except pkcs11.NoSuchToken:
                found = (
                    ", ".join(sorted(t.label for t in lib.get_tokens() if t.label.strip()))
                    or "none"
                )
                raise PermanentError(
                    f"no HSM token {self._token_name()!r} on {self.module} (tokens: {found})",
                    hint="is the right HSM connected and the token initialised?",
                ) from None
            pin = self._pin(ctx)
            try:
                with token.open(user_pin=pin.reveal()) as session:
                    yield token, session
            except pkcs11.PinIncorrect:
                raise PermanentError(
                    "the HSM refused the PIN (PIN incorrect)",
                    hint="careful: tokens lock after a few wrong PINs",
                ) from None
            except pkcs11.PinLocked:
                raise PermanentError("the HSM token's user PIN is locked") from None
            except pkcs11.PKCS11Error as exc:
                raise PermanentError(f"HSM error: {type(exc).__name__} {exc}") from None

    def token_info(self, ctx: ActionContext) -> dict[str, Any]:
        with self.session(ctx) as (token, _session):
            return {
                "label": token.label,
                "serial": token.serial.decode(errors="replace").strip(),
                "manufacturer": token.manufacturer_id.strip(),
                "model": token.model.strip(),
            }

    def key_check(
        self, ctx: ActionContext, label: str, expect_kcv: str | None, expect_present: bool = True
    ) -> dict[str, Any]:
        import pkcs11
        from pkcs11 import Attribute, Mechanism, ObjectClass

        with self.session(ctx) as (_token, session):
            try:
                key = session.get_key(object_class=ObjectClass.SECRET_KEY, label=label)
            except pkcs11.NoSuchKey:
                if not expect_present:
                    return {
                        "present": False,
                        "label": label,
                        "key_type": None,
                        "bits": None,
                        "kcv": None,
                        "matches": None,
                    }
                raise CheckFailed(
                    f"no secret key labelled {label!r} on the token",
                    evidence={"present": False, "label": label},
                ) from None
            except pkcs11.MultipleObjectsReturned:
                raise CheckFailed(
                    f"more than one secret key is labelled {label!r}",
                    evidence={"present": True, "label": label},
                    hint="a ceremony needs one key per label; find out where the copy came from",
                ) from None
            if not expect_present:
                raise CheckFailed(
                    f"a secret key labelled {label!r} is still on the token",
                    evidence={"present": True, "label": label},
                    hint="remove it as the plan says before the HSM leaves the room",
                )
            key_type = key.key_type.name
            block = kcv_block(key_type)
            kcv = None
            if block is not None:
                data, mech = block
                try:
                    kcv = key.encrypt(data, mechanism=getattr(Mechanism, mech))[:3].hex().upper()
                except pkcs11.PKCS11Error as exc:
                    raise PermanentError(
                        f"the HSM cannot compute a check value of {label!r}: "
                        f"{type(exc).__name__} (is CKA_ENCRYPT allowed on the key?)"
                    ) from None
            outputs = {
                "present": True,
                "label": label,
                "key_type": key_type,
                "bits": ((key[Attribute.VALUE_LEN] or 0) * 8 or None)
                if key_type == "AES"
                else None,
                "kcv": kcv,
                "matches": None,
            }
        if expect_kcv is not None:
            outputs["matches"] = kcv == expect_kcv.strip().upper()
            if not outputs["matches"]:
                raise CheckFailed(
                    f"key {label!r} has check value {kcv}, expected {expect_kcv.upper()}: "
                    "this is not the key the record names",
                    evidence=outputs,
                )
        return outputs

    def count_objects(self, ctx: ActionContext) -> dict[str, Any]:
        with self.session(ctx) as (_token, session):
            counts: Counter[str] = Counter()
            labels: list[str] = []
            for obj in session.get_objects():
                name = _CLASS_NAMES.get(obj.object_class.name, "other")
                counts[name] += 1
                labels.append(f"{name}:{getattr(obj, 'label', '') or ''}")
        outputs: dict[str, Any] = {name: counts.get(name, 0) for name in _CLASS_NAMES.values()}
        outputs["total"] = sum(counts.values())
        outputs["labels"] = sorted(labels)
        return outputs


def _bits(key: Any, attribute: Any) -> int | None:
    """The key's length in bits, when the token tells (CKA_VALUE_LEN)."""
    try:
        return int(key[attribute] or 0) * 8 or None
    except Exception:  # the attribute is not defined for this key type
        return None


class TokenParams(Params):
    pass


class KeyParams(Params):
    label: str = Field(description="The key's CKA_LABEL.")
    expect_kcv: str | None = Field(
        None, description="The check value the record gives (hex); a different one fails."
    )
    expect_present: bool = Field(
        True, description="false: the key must be gone (after a test restore is cleaned up)."
    )


def _h(ctx: ActionContext) -> HsmAdapter:
    return HsmAdapter(ctx.site.get("hsm") or {}, ctx.site_name)


ACTIONS = [
    ActionSpec(
        name="hsm.token_info",
        summary="The HSM token's label, serial number, manufacturer and model.",
        params=TokenParams,
        outputs={
            "label": "token label",
            "serial": "serial number",
            "manufacturer": "",
            "model": "",
        },
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: _h(c).token_info(c),
        describe=lambda p: "read the HSM token's identity",
        needs_site=True,
        offline=True,
    ),
    ActionSpec(
        name="hsm.key_check",
        summary="A secret key is on the token by label; its key check value (KCV).",
        params=KeyParams,
        outputs={
            "present": "true when found",
            "label": "the label",
            "key_type": "AES, DES3, ...",
            "bits": "key length in bits (AES)",
            "kcv": "key check value: first 3 bytes of a zero block encrypted (hex)",
            "matches": "true when the KCV equals expect_kcv (null when none was given)",
        },
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: _h(c).key_check(c, p.label, p.expect_kcv, p.expect_present),
        describe=lambda p: (
            f"find key {p.label!r} and compute its check value"
            + (f", expect {p.expect_kcv}" if p.expect_kcv else "")
        ),
        needs_site=True,
        offline=True,
    ),
    ActionSpec(
        name="hsm.count_objects",
        summary="Objects on the token by class (to compare before and after a ceremony).",
        params=TokenParams,
        outputs={
            **{name: f"number of {name.replace('_', ' ')}" for name in _CLASS_NAMES.values()},
            "total": "all objects",
            "labels": "class:label of every object",
        },
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda c, p: _h(c).count_objects(c),
        describe=lambda p: "count the token's objects",
        needs_site=True,
        offline=True,
    ),
]
