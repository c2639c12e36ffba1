"""What the AWS adapters share: a boto3 client from a targets section, and calls whose errors
become typed ones. botocore's own retries are off (one HTTP request per call: its
``max_attempts`` counts retries after the first request, ``total_max_attempts`` counts them all):
the engine retries, visibly, in one place.

Section keys: endpoint (an S3- or Route 53-compatible endpoint), region, profile, and
optionally access_key_file and secret_key_file; otherwise the usual AWS_* variables and
profiles apply.

One client per service and section serves the whole process (every step, every thread: a
boto3 client is thread-safe once made): making one reads botocore's endpoint and service data,
0.05-0.13 s, which each step paid again before. It is made under a lock (two threads asking at
once get the same one) and made again when its credentials may have changed: a key file, AWS's
shared credentials or config file, or an AWS_* variable. What else the section holds (bucket,
zone) does not make another client.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Mapping
from typing import Any

from drconsole.adapters.base import PermanentError, TransientError
from drconsole.secrets import SecretSourceError, secret_from_reference

# the section's keys that make one client differ from another
_CLIENT_KEYS = ("endpoint", "region", "profile", "access_key_file", "secret_key_file",
                "connect_timeout", "read_timeout")  # fmt: skip
_KEEP = 16  # clients kept, the least recently asked for let go first (a site has two or three)
_clients: dict[str, tuple[str, Any]] = {}  # what makes the client -> (credentials stamp, client)
_clients_lock = threading.Lock()


def boto_client(service: str, section: Mapping[str, Any], connections: int = 10) -> Any:
    """The process's boto3 client for ``service`` configured by a targets section, that keeps
    up to ``connections`` HTTP connections open (one per thread that uses it at the same time);
    made on first use, and again when its credentials may have changed."""
    what = json.dumps([service, connections, *(section.get(k) for k in _CLIENT_KEYS)], default=str)
    stamp = _credentials_stamp(section)
    with _clients_lock:
        held = _clients.pop(what, None)
        if held is None or held[0] != stamp:
            held = (stamp, _new_client(service, section, connections))
        _clients[what] = held  # the most recently asked for last
        while len(_clients) > _KEEP:
            del _clients[next(iter(_clients))]
        return held[1]


def _credentials_stamp(section: Mapping[str, Any]) -> str:
    """When the files a client's credentials come from last changed, and the AWS_* variables
    (as a digest: they may hold a key)."""
    files = (
        section.get("access_key_file"),
        section.get("secret_key_file"),
        os.environ.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
        os.environ.get("AWS_CONFIG_FILE", "~/.aws/config"),
    )
    changed: list[int | None] = []
    for path in files:
        try:
            changed.append(os.stat(os.path.expanduser(str(path))).st_mtime_ns if path else None)
        except OSError:
            changed.append(None)  # _new_client says what is wrong with a key file
    variables = sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_"))
    return hashlib.sha256(json.dumps([changed, variables]).encode()).hexdigest()


def _new_client(service: str, section: Mapping[str, Any], connections: int) -> Any:
    import boto3
    from botocore.config import Config

    kwargs: dict[str, Any] = {}
    for key, name in (
        ("access_key_file", "aws_access_key_id"),
        ("secret_key_file", "aws_secret_access_key"),
    ):
        if section.get(key):
            try:
                kwargs[name] = secret_from_reference({"file": str(section[key])}).reveal()
            except SecretSourceError as exc:
                raise PermanentError(str(exc)) from None
    session = boto3.session.Session(profile_name=section.get("profile"))
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=float(section.get("connect_timeout", 5)),
        read_timeout=float(section.get("read_timeout", 30)),
        max_pool_connections=connections,
    )
    return session.client(
        service,
        endpoint_url=section.get("endpoint"),
        region_name=section.get("region"),
        config=config,
        **kwargs,
    )


def aws_call(what: str, fn: Any, **kwargs: Any) -> Any:
    """Call AWS: 5xx, throttling and network trouble are transient; the rest permanent."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return fn(**kwargs)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        text = f"{what}: {error.get('Code', status)} {error.get('Message', '')}".strip()
        if status >= 500 or error.get("Code") in (
            "SlowDown",
            "Throttling",
            "RequestTimeout",
            "PriorRequestNotComplete",
        ):
            raise TransientError(text) from None
        raise PermanentError(text) from None
    except BotoCoreError as exc:
        raise TransientError(f"{what}: {exc}") from None
