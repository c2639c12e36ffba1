"""What the AWS adapters share: a boto3 client from a targets section, and calls whose errors
become typed ones. botocore's own retries are off (one HTTP request per call: its
``max_attempts`` counts retries after the first request, ``total_max_attempts`` counts them all):
the engine retries, visibly, in one place.

Section keys: endpoint (an S3- or Route 53-compatible endpoint), region, profile, and
optionally access_key_file and secret_key_file; otherwise the usual AWS_* variables and
profiles apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drconsole.adapters.base import PermanentError, TransientError
from drconsole.secrets import SecretSourceError, secret_from_reference


def boto_client(service: str, section: Mapping[str, Any], connections: int = 10) -> Any:
    """A boto3 client for ``service`` configured by a targets section, that keeps up to
    ``connections`` HTTP connections open (one per thread that uses it at the same time)."""
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
