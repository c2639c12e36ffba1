"""Practice HSM tokens on SoftHSM2 for ceremony drills and tests (PRACTICE ONLY).

A directory holds a SoftHSM2 configuration and its token store. ``create`` makes two tokens:
``qsign-prod-practice`` (plays the production HSM: it holds a practice master key) and
``qsign-dev`` (plays the development HSM of the quarterly test restore, empty). Both are given
the same practice "domain" key, as HSMs of one backup domain share theirs, so that the practice
backup (the master key wrapped under the domain key, RFC 3394) made on one restores on the
other: ``practice_backup`` and ``practice_restore`` stand in for the vendor's commands.
PINs are practice PINs, kept in files readable only by their owner.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drconsole.adapters.base import PermanentError
from drconsole.adapters.hsm import LOCK, load_module

PROD_TOKEN = "qsign-prod-practice"
DEV_TOKEN = "qsign-dev"
MASTER_KEY = "qsign-master-key"
DOMAIN_KEY = "practice-domain-key"
MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)


def module_path() -> str | None:
    """The SoftHSM2 PKCS#11 library, or None when softhsm2 is not installed."""
    for path in MODULE_CANDIDATES:
        if os.path.isfile(path):
            return path
    return None


@dataclass(frozen=True)
class PracticeHsm:
    """A directory of practice tokens."""

    root: Path

    @property
    def conf(self) -> Path:
        return self.root / "softhsm2.conf"

    @property
    def pin_file(self) -> Path:
        return self.root / "PRACTICE-ONLY-user-pin"

    def site(self, token: str) -> dict[str, Any]:
        """The targets file's ``hsm`` section for one token."""
        return {
            "module": module_path(),
            "token_label": token,
            "softhsm2_conf": str(self.conf),
            "pin_file": str(self.pin_file),
        }

    def _pin(self) -> str:
        return self.pin_file.read_text().strip()

    def _session(self, token: str) -> Any:
        module = module_path()
        if module is None:
            raise PermanentError("softhsm2 is not installed (apt-get install softhsm2)")
        lib = load_module(module, str(self.conf))
        return lib.get_token(token_label=token).open(user_pin=self._pin(), rw=True)


def create(root: Path, master_key: bytes | None = None) -> PracticeHsm:
    """Make the two practice tokens (the master key is random unless given)."""
    from pkcs11 import Attribute, KeyType, ObjectClass

    if shutil.which("softhsm2-util") is None or module_path() is None:
        raise PermanentError("softhsm2 is not installed (apt-get install softhsm2)")
    hsm = PracticeHsm(root)
    (root / "tokens").mkdir(parents=True, exist_ok=True)
    hsm.conf.write_text(
        f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\n"
        "log.level = ERROR\nslots.removable = false\n"
    )
    pin = "".join(secrets.choice("0123456789") for _ in range(8))
    hsm.pin_file.write_text(pin + "\n")
    hsm.pin_file.chmod(0o600)
    env = {**os.environ, "SOFTHSM2_CONF": str(hsm.conf)}
    for token in (PROD_TOKEN, DEV_TOKEN):
        so_pin = secrets.token_hex(8)
        done = subprocess.run(
            ["softhsm2-util", "--init-token", "--free", "--label", token,
             "--so-pin", so_pin, "--pin", pin],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise PermanentError(f"softhsm2-util --init-token failed: {done.stderr.strip()}")
    domain = secrets.token_bytes(32)
    master = master_key if master_key is not None else secrets.token_bytes(32)
    with LOCK:
        for token in (PROD_TOKEN, DEV_TOKEN):
            with hsm._session(token) as session:
                session.create_object(
                    {
                        Attribute.CLASS: ObjectClass.SECRET_KEY,
                        Attribute.KEY_TYPE: KeyType.AES,
                        Attribute.VALUE: domain,
                        Attribute.LABEL: DOMAIN_KEY,
                        Attribute.TOKEN: True,
                        Attribute.WRAP: True,
                        Attribute.UNWRAP: True,
                        Attribute.SENSITIVE: True,
                        Attribute.EXTRACTABLE: False,
                    }
                )
        with hsm._session(PROD_TOKEN) as session:
            session.create_object(_master_template(master))
    return hsm


def _master_template(value: bytes) -> dict[Any, Any]:
    from pkcs11 import Attribute, KeyType, ObjectClass

    return {
        Attribute.CLASS: ObjectClass.SECRET_KEY,
        Attribute.KEY_TYPE: KeyType.AES,
        Attribute.VALUE: value,
        Attribute.LABEL: MASTER_KEY,
        Attribute.TOKEN: True,
        Attribute.ENCRYPT: True,
        Attribute.DECRYPT: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: True,
    }


def practice_backup(hsm: PracticeHsm, out: Path) -> str:
    """Wrap the master key under the domain key into ``out`` and write ``out.sha256`` as
    ``sha256sum`` does. Returns the SHA-256."""
    from pkcs11 import Mechanism, ObjectClass

    with LOCK, hsm._session(PROD_TOKEN) as session:
        domain = session.get_key(object_class=ObjectClass.SECRET_KEY, label=DOMAIN_KEY)
        master = session.get_key(object_class=ObjectClass.SECRET_KEY, label=MASTER_KEY)
        blob = domain.wrap_key(master, mechanism=Mechanism.AES_KEY_WRAP)
    out.write_bytes(blob)
    digest = hashlib.sha256(blob).hexdigest()
    Path(f"{out}.sha256").write_text(f"{digest}  {out.name}\n")
    return digest


class AlreadyHeld(RuntimeError):
    """The token already holds a master key: a second copy would make its label ambiguous."""


def practice_restore(hsm: PracticeHsm, backup: Path, token: str = DEV_TOKEN) -> None:
    """Unwrap a practice backup onto ``token`` as the master key.

    Raises:
        AlreadyHeld: the token holds one already (a second restore would add a second key of
            the same label, and every later check of it would fail as ambiguous).
    """
    from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

    blob = backup.read_bytes()
    with LOCK, hsm._session(token) as session:
        held = list(  # read to its end: a search left open holds the session's find state
            session.get_objects(
                {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: MASTER_KEY}
            )
        )
        if held:
            raise AlreadyHeld(
                f"{token} already holds a key labelled {MASTER_KEY}; clear it first "
                "(sandbox hsm clear, or the ceremony's clear step)"
            )
        domain = session.get_key(object_class=ObjectClass.SECRET_KEY, label=DOMAIN_KEY)
        domain.unwrap_key(
            ObjectClass.SECRET_KEY,
            KeyType.AES,
            blob,
            label=MASTER_KEY,
            store=True,
            mechanism=Mechanism.AES_KEY_WRAP,
            template={Attribute.ENCRYPT: True, Attribute.SENSITIVE: True},
        )


def practice_clear(hsm: PracticeHsm, token: str = DEV_TOKEN) -> int:
    """Delete the master key from ``token``; returns how many objects went."""
    from pkcs11 import Attribute, ObjectClass

    gone = 0
    with LOCK, hsm._session(token) as session:
        for obj in list(
            session.get_objects(
                {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: MASTER_KEY}
            )
        ):
            obj.destroy()
            gone += 1
    return gone
