"""The built-in ``local`` adapter: sleep, run a command, check a file's SHA-256, check a URL.

These need no target site. ``local.command`` takes an argument list, never a shell string.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from drconsole.adapters.base import (
    ActionContext,
    ActionSpec,
    Cancelled,
    CheckFailed,
    Effect,
    Params,
    PermanentError,
    TransientError,
)
from drconsole.timeutil import format_timestamp, parse_timestamp, utcnow

_TAIL = 4000
_CHUNK = 1 << 20


def _tail(text: str) -> str:
    return text if len(text) <= _TAIL else "…" + text[-_TAIL:]


class SleepParams(Params):
    seconds: float = Field(ge=0, le=86400, description="How long to wait, in seconds.")


class CommandParams(Params):
    argv: list[str] = Field(min_length=1, description="Program and arguments; no shell.")
    cwd: str | None = Field(None, description="Working directory.")
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment variables.")
    ok_exit: list[int] = Field(default_factory=lambda: [0], description="Exit codes that succeed.")
    transient_exit: list[int] = Field(
        default_factory=list, description="Exit codes worth a retry (a busy resource, say)."
    )

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(
                    f"environment variable name {name!r}: use letters, digits and _, "
                    "not starting with a digit"
                )
        return value


class FileSha256Params(Params):
    path: str = Field(description="The file to hash.")
    expect: str | None = Field(None, description="The expected SHA-256 in hex.")
    expect_file: str | None = Field(
        None, description="A checksum file (`sha256sum` format) holding the expected value."
    )

    @field_validator("expect")
    @classmethod
    def _hex(cls, value: str | None) -> str | None:
        if value is not None and not _is_sha256(value) and "${" not in value:
            raise ValueError("expect must be 64 hexadecimal characters")
        return value


class HttpCheckParams(Params):
    url: str = Field(description="The URL to GET (http or https).")
    expect_status: int = Field(200, ge=100, le=599, description="The status that means healthy.")
    timeout_s: float = Field(10.0, gt=0, le=300, description="Seconds to wait for an answer.")


class NotifyParams(Params):
    subject: str
    message: str
    webhook_url: str | None = Field(None, description="POST the message here as JSON.")
    file: str | None = Field(
        None, description="Write the message here when there is no webhook or it fails."
    )
    timeout_s: float = Field(10.0, gt=0, le=120)


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text)


class LocalAdapter:
    """Actions on the machine drconsole runs on."""

    def sleep(self, seconds: float, cancel: threading.Event) -> dict[str, Any]:
        """Wait ``seconds``; stops early (Cancelled) when ``cancel`` is set."""
        if cancel.wait(seconds):
            raise Cancelled("the wait was cancelled")
        return {"slept_s": seconds}

    def command(self, params: CommandParams, ctx: ActionContext) -> dict[str, Any]:
        """Run a program with arguments; capture exit code and output; kill it on cancel."""
        env = {**os.environ, **params.env}
        try:
            proc = subprocess.Popen(
                params.argv,
                cwd=params.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                errors="replace",
            )
        except FileNotFoundError:
            raise PermanentError(
                f"program not found: {params.argv[0]}",
                hint="check the name and that it is installed and on PATH",
            ) from None
        except (NotADirectoryError, PermissionError) as exc:
            raise PermanentError(f"cannot start {params.argv[0]}: {exc.strerror}") from None
        while True:
            try:
                stdout, stderr = proc.communicate(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                if ctx.cancel.is_set():
                    proc.kill()
                    proc.communicate()
                    raise Cancelled(f"{params.argv[0]} was stopped") from None
        result = {"exit_code": proc.returncode, "stdout": _tail(stdout), "stderr": _tail(stderr)}
        for line in stdout.splitlines()[-20:]:
            ctx.log(line)
        if proc.returncode in params.ok_exit:
            return result
        message = f"{params.argv[0]} exited with {proc.returncode}: {_tail(stderr.strip())[-400:]}"
        if proc.returncode in params.transient_exit:
            raise TransientError(message)
        raise PermanentError(message)

    def file_sha256(self, params: FileSha256Params, ctx: ActionContext) -> dict[str, Any]:
        """Hash a file in chunks and compare with the expected value, if one is given."""
        path = Path(params.path)
        expected = params.expect.lower() if params.expect else None
        if params.expect_file:
            expected = _read_checksum_file(Path(params.expect_file), path.name)
        digest = hashlib.sha256()
        size = 0
        try:
            with path.open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    if ctx.cancel.is_set():
                        raise Cancelled("hashing was cancelled")
                    digest.update(chunk)
                    size += len(chunk)
        except FileNotFoundError:
            raise PermanentError(f"no such file: {path}", hint="check the path") from None
        except IsADirectoryError:
            raise PermanentError(f"{path} is a directory, not a file") from None
        except PermissionError:
            raise PermanentError(f"permission denied reading {path}") from None
        actual = digest.hexdigest()
        outputs = {"sha256": actual, "size": size, "expected": expected, "matches": None}
        if expected is not None:
            outputs["matches"] = actual == expected
            if actual != expected:
                raise CheckFailed(
                    f"SHA-256 of {path} is {actual[:16]}…, expected {expected[:16]}…",
                    evidence=outputs,
                    hint="the file is not the one that was checksummed: do not use it",
                )
        return outputs

    def http_check(self, params: HttpCheckParams, ctx: ActionContext) -> dict[str, Any]:
        """GET a URL and compare the status; refused or 5xx is transient, else permanent."""
        import http.client  # urllib and http.client only here and in notify: a run of other
        import urllib.error  # steps does not load them (0.6 MB)
        import urllib.request

        start = time.monotonic()
        request = urllib.request.Request(params.url, method="GET")
        try:
            with urllib.request.urlopen(request, timeout=params.timeout_s) as response:
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            status = int(exc.code)
        except (
            urllib.error.URLError,
            TimeoutError,
            ConnectionError,
            http.client.HTTPException,
        ) as exc:
            reason = getattr(exc, "reason", exc)
            raise TransientError(f"{params.url} did not answer: {reason}") from None
        except ValueError as exc:
            raise PermanentError(f"{params.url} is not a usable URL: {exc}") from None
        elapsed_ms = round((time.monotonic() - start) * 1000, 1)
        outputs = {"status": status, "elapsed_ms": elapsed_ms}
        if status == params.expect_status:
            return outputs
        message = f"{params.url} answered {status}, expected {params.expect_status}"
        if status >= 500:
            raise TransientError(message)
        raise CheckFailed(message, evidence=outputs)

    def notify(self, params: NotifyParams, ctx: ActionContext) -> dict[str, Any]:
        """Tell stakeholders: a webhook, else (or when it fails) a message file."""
        import urllib.error
        import urllib.request

        at = format_timestamp(utcnow())
        failure = None
        if params.webhook_url:
            body = json.dumps(
                {"subject": params.subject, "message": params.message, "at": at}
            ).encode()
            request = urllib.request.Request(
                params.webhook_url,
                data=body,
                method="POST",
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=params.timeout_s) as response:
                    return {"delivered_via": "webhook", "status": int(response.status), "at": at}
            except urllib.error.HTTPError as exc:
                failure = f"the webhook answered {exc.code}"
            except (urllib.error.URLError, TimeoutError, ConnectionError, ValueError) as exc:
                failure = f"the webhook did not answer: {getattr(exc, 'reason', exc)}"
            ctx.log(failure)
        if params.file:
            path = Path(params.file)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("a", encoding="utf-8") as f:
                    f.write(f"{at}  {params.subject}\n{params.message}\n\n")
            except OSError as exc:
                raise PermanentError(f"cannot write {path}: {exc.strerror}") from None
            return {"delivered_via": "file", "path": str(path), "at": at, "webhook": failure}
        if failure:
            raise TransientError(failure)
        raise PermanentError("nowhere to send the message: give webhook_url or file")


def _read_checksum_file(path: Path, name: str) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise PermanentError(
            f"no checksum file {path}", hint="a backup without its checksum cannot be trusted"
        ) from None
    except OSError as exc:
        raise PermanentError(f"cannot read checksum file {path}: {exc.strerror}") from None
    lines = [line.split() for line in text.splitlines() if line.strip()]
    for parts in lines:
        listed = parts[1].lstrip("*") if len(parts) > 1 else None
        if _is_sha256(parts[0]) and (
            listed is None or Path(listed).name == name or len(lines) == 1
        ):
            return parts[0].lower()
    raise PermanentError(f"{path} holds no SHA-256 for {name}")


class OlderParams(Params):
    times: list[str | None] = Field(description="UTC timestamps (ISO 8601 with a zone).")


def _older(p: OlderParams) -> Mapping[str, Any]:
    """The oldest of the timestamps: a recovery point made of several parts is as old as its
    oldest part. A missing one (null) makes the answer unknown, never a newer guess."""
    if not p.times or any(t is None for t in p.times):
        return {"older": None, "unknown": True}
    parsed = []
    for text in p.times:
        try:
            parsed.append(parse_timestamp(str(text)))
        except ValueError as exc:
            raise PermanentError(f"not a timestamp: {text!r} ({exc})") from None
    return {"older": format_timestamp(min(parsed)), "unknown": False}


_local = LocalAdapter()


def _run_sleep(ctx: ActionContext, p: SleepParams) -> Mapping[str, Any]:
    return _local.sleep(p.seconds, ctx.cancel)


ACTIONS = [
    ActionSpec(
        name="local.sleep",
        summary="Wait a number of seconds.",
        params=SleepParams,
        outputs={"slept_s": "seconds waited"},
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=_run_sleep,
        offline=True,
        describe=lambda p: f"wait {p.seconds:g} s",
    ),
    ActionSpec(
        name="local.command",
        summary="Run a program with an argument list (no shell); capture exit code and output.",
        params=CommandParams,
        outputs={
            "exit_code": "the exit code",
            "stdout": "standard output (tail)",
            "stderr": "standard error (tail)",
        },
        effect=Effect.CHANGES,
        idempotent=False,
        run=lambda ctx, p: _local.command(p, ctx),
        offline=True,
        describe=lambda p: "run " + " ".join(p.argv),
    ),
    ActionSpec(
        name="local.file_sha256",
        summary="SHA-256 of a file, compared with a checksum or a `.sha256` file.",
        params=FileSha256Params,
        outputs={
            "sha256": "the file's SHA-256",
            "size": "bytes",
            "expected": "expected SHA-256",
            "matches": "true when it matched (null when nothing was expected)",
        },
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda ctx, p: _local.file_sha256(p, ctx),
        offline=True,
        describe=lambda p: (
            f"hash {p.path}" + (f" and compare with {p.expect_file}" if p.expect_file else "")
        ),
    ),
    ActionSpec(
        name="local.notify",
        summary="Notify stakeholders: POST to a webhook, or append to a message file when "
        "offline or when the webhook fails.",
        params=NotifyParams,
        outputs={
            "delivered_via": "webhook or file",
            "status": "the webhook's HTTP status",
            "path": "the message file",
            "at": "when",
            "webhook": "why the webhook was not used (when it failed)",
        },
        effect=Effect.CHANGES,
        idempotent=False,
        run=lambda ctx, p: _local.notify(p, ctx),
        describe=lambda p: (
            f"notify: {p.subject} via "
            + " then ".join(x for x in (p.webhook_url and "webhook", p.file and "file") if x)
        ),
    ),
    ActionSpec(
        name="local.older",
        summary="The oldest of some timestamps (a recovery point of several parts).",
        params=OlderParams,
        outputs={"older": "the oldest (null when one is unknown)", "unknown": ""},
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda ctx, p: _older(p),
        offline=True,
        describe=lambda p: "the oldest of " + ", ".join(str(t) for t in p.times),
    ),
    ActionSpec(
        name="local.http_check",
        summary="GET a URL and expect a status (200 by default).",
        params=HttpCheckParams,
        outputs={"status": "HTTP status", "elapsed_ms": "response time"},
        effect=Effect.READ_ONLY,
        idempotent=True,
        run=lambda ctx, p: _local.http_check(p, ctx),
        describe=lambda p: f"GET {p.url}, expect {p.expect_status}",
    ),
]
