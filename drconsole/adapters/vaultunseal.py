"""Vault / OpenBao Shamir unseal by key custodians: one share per custodian, asked as a secret
through the operator, handed to the server and never stored, shown or journaled.

Traps explained at the step where they bite:
- a node with auto-unseal takes recovery keys, not unseal shares;
- partial unseal progress persists until reset;
- a malformed share is refused at once (a short hex one the server would count: checked here);
  a wrong but well-formed one fails only when the threshold is reached, and the server then
  resets progress: a fresh round begins;
- the server silently does not count a share it already has (progress stays): refused here;
- unseal progress lives in the server's memory: a restart loses it, a network fault does not;
- after a force restore the node holds the snapshot cluster's keyring: the prompt names it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from drconsole.adapters.base import ActionContext, PermanentError, TransientError
from drconsole.adapters.vault import VaultAdapter
from drconsole.secrets import Secret

_ASKS = 3  # a custodian whose share is refused is asked this many times in all
# what the server says when the threshold is reached and the shares do not combine
_NO_COMBINE = ("unable to retrieve stored keys", "failed to decrypt", "combined key")


def _share_bytes(text: str) -> bytes | None:
    """A share decoded as the server reads it (hex, else base64); None when it is neither."""
    text = text.strip()
    try:
        return bytes.fromhex(text)
    except ValueError:
        pass
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


class _UnsealMemo:
    """Who has presented toward the server's current unseal progress (its nonce), kept in the
    step's artefact folder so that the next attempt, or a resume, carries on where the server
    is. Names only: the shares themselves are never written anywhere."""

    def __init__(self, folder: str | None) -> None:
        self.path = Path(folder) / "unseal-progress.json" if folder else None
        self.nonce: str | None = None

    def counted(self, seal: Mapping[str, Any]) -> list[str]:
        """The custodians the server's progress counts, when it is the progress recorded here."""
        if self.path is None or not seal["progress"] or not self.path.is_file():
            return []
        saved = json.loads(self.path.read_text())
        if saved["nonce"] != seal.get("nonce") or len(saved["used"]) != seal["progress"]:
            return []
        self.nonce = saved["nonce"]
        return list(saved["used"])

    def save(self, nonce: str, used: list[str]) -> None:
        self.nonce = nonce
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps({"nonce": nonce, "used": used}))

    def clear(self) -> None:
        self.nonce = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)


class Unseal:
    """Unsealing one node for a step. ``keyring``: whose unseal keys it needs, when not its
    own (after a force restore, the site the snapshot came from)."""

    def __init__(self, vault: VaultAdapter, ctx: ActionContext, keyring: str | None = None):
        self.vault, self.ctx, self.keyring = vault, ctx, keyring

    def run(self, custodians: list[str], rounds: int) -> dict[str, Any]:
        """One share per custodian, asked through the operator; a fresh round after a failure.

        A malformed or repeated share is refused and the same custodian asked again, with the
        reason. An outage is transient: the engine retries the step, and the next attempt reads
        the server's progress again (kept: the custodians who counted are not asked again; lost
        in a restart: everyone presents again)."""
        ctx, vault = self.ctx, self.vault
        if ctx.ask_secret is None:
            raise PermanentError("no operator to ask for unseal shares")
        client = vault.client(with_token=False)
        seal = vault.call("status", client.sys.read_seal_status)
        if not seal["sealed"]:
            return {
                "sealed": False,
                "threshold": seal["t"],
                "shares": seal["n"],
                "used": [],
                "note": "already unsealed",
            }
        if seal.get("recovery_seal"):
            raise PermanentError(
                "this node uses auto-unseal: it takes recovery keys through "
                "its seal provider, not unseal shares"
            )
        threshold = int(seal["t"])
        names = list(custodians) or [f"custodian {i + 1}" for i in range(threshold)]
        memo = _UnsealMemo(ctx.artefact_dir)
        used = memo.counted(seal)
        if used:
            ctx.log(f"the server kept progress {len(used)}/{threshold}: {', '.join(used)} counted")
        elif seal["progress"]:
            vault.call("reset", client.sys.submit_unseal_key, reset=True)
            ctx.log(f"partial progress {seal['progress']}/{threshold} from earlier was reset")
        problems: list[str] = []
        for round_no in range(1, rounds + 1):
            given: dict[bytes, str] = {}  # this round's shares (in memory only), by custodian
            for name in [n for n in names if n not in used]:
                result = self._present(client, name, used, given, threshold, memo, problems)
                if result is None:
                    problems.append(
                        f"round {round_no}: the threshold was reached but the shares do not "
                        f"combine (a wrong share, or shares of another cluster than "
                        f"{self.cluster()}); the server reset progress"
                    )
                    ctx.log(problems[-1])
                    break
                if not result["sealed"]:
                    memo.clear()
                    return {
                        "sealed": False,
                        "threshold": result["t"],
                        "shares": result["n"],
                        "used": used,
                        "rounds": round_no,
                        "problems": problems,
                    }
            else:
                problems.append(
                    f"round {round_no}: every custodian gave a share and it is still sealed"
                )
            used = []
            memo.clear()
        raise PermanentError(
            "Vault is still sealed: " + "; ".join(problems[-2:]),
            hint="check each custodian's share (the original cluster's, after "
            "a force restore) and run the step again",
        )

    def cluster(self) -> str:
        site = f" '{self.ctx.site_name}'" if self.ctx.site_name else ""
        return f"Vault{site} at {self.vault.section['addr']}"

    def whose_keys(self) -> str:
        """Whose shares the prompt wants: after a force restore the cluster holds the keyring
        of the snapshot's origin; on a practice site, where its practice shares lie."""
        keyring, site_name = self.keyring, self.ctx.site_name
        text = ""
        if keyring and keyring != site_name:
            text = f": it holds the {keyring} cluster's keyring: give a share of {keyring}'s keys"
        practice = self.vault.section.get("practice_shares")
        if isinstance(practice, dict):
            where = practice.get(keyring or site_name or "")
            if where:
                text += f" (practice shares of this sandbox: {where})"
        return text

    def _present(
        self,
        client: Any,
        name: str,
        used: list[str],
        given: dict[bytes, str],
        threshold: int,
        memo: _UnsealMemo,
        problems: list[str],
    ) -> dict[str, Any] | None:
        """Ask ``name`` for a share until one is well-formed and new, and hand it over.

        Returns the server's answer, or None when the shares do not combine. Raises
        TransientError when the server does not answer or lost the progress."""
        ctx = self.ctx
        assert ctx.ask_secret is not None
        problem: str | None = None
        for _ in range(_ASKS):
            share = ctx.ask_secret(
                f"Unseal share of {name} ({len(used) + 1} of {threshold}) for {self.cluster()}"
                f"{self.whose_keys()}",
                problem,
            )
            raw = _share_bytes(share.reveal())
            length = 32 if threshold == 1 else 33  # a 32-byte key; a share adds its x coordinate
            if raw is None or len(raw) != length:
                problem = (
                    f"the share of {name} is malformed: a share of this cluster is hex or base64 "
                    f"of {length} bytes"
                    + (f", this is {len(raw)} bytes" if raw is not None else "")
                )
            elif raw in given:
                problem = (
                    f"the share of {name} is the one {given[raw]} presented: "
                    "each custodian presents their own share"
                )
            else:
                result = self._submit(client, share)
                if result is None:
                    return None
                if not result["sealed"] or result["progress"] == len(used) + 1:
                    used.append(name)
                    given[raw] = name
                    if result["sealed"]:
                        memo.save(result["nonce"], used)
                    ctx.log(
                        f"{name}: progress {result['progress']}/{result['t']}"
                        if result["sealed"]
                        else f"{name}: unsealed"
                    )
                    return result
                if used and result["progress"] == len(used) and result["nonce"] == memo.nonce:
                    problem = (
                        f"the share of {name} was already presented (the server did not count "
                        "it again): each custodian presents their own share"
                    )
                else:
                    raise TransientError(
                        f"unseal: the server's progress is {result['progress']}/{result['t']} "
                        f"where {len(used) + 1} was expected: it lost the earlier shares "
                        "(restarted?)"
                    )
            problems.append(problem)
        raise PermanentError(
            f"no usable share from {name} after {_ASKS} tries: {problem}",
            hint="the progress so far is kept; run the step again when the custodian has "
            "their share",
        )

    def _submit(self, client: Any, share: Secret) -> dict[str, Any] | None:
        """Hand one share to the server: its answer, or None when the threshold was reached
        and the shares do not combine (the server then resets its progress)."""
        try:
            return dict(self.vault.call("unseal", client.sys.submit_unseal_key, share.reveal()))
        except PermanentError as exc:
            if any(words in exc.message for words in _NO_COMBINE):
                return None
            raise
