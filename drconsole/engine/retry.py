"""Retry, the one place: a step's ``retry`` policy (attempts, fixed or exponential delay, a
ceiling) applied with tenacity. Only a :class:`~drconsole.adapters.base.TransientError` is
tried again; any other error, or the last transient one, goes to the caller.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_fixed,
)
from tenacity.wait import wait_base

from drconsole.adapters.base import TransientError
from drconsole.plans.model import Backoff, RetryPolicy

T = TypeVar("T")


def _wait(policy: RetryPolicy) -> wait_base:
    if policy.backoff is Backoff.EXPONENTIAL:
        return wait_exponential(
            multiplier=policy.delay.total_seconds(), max=policy.max_delay.total_seconds()
        )
    return wait_fixed(policy.delay.total_seconds())


async def with_retries(
    policy: RetryPolicy,
    attempt: Callable[[int], Awaitable[T]],
    before_retry: Callable[[BaseException | None, float], None],
) -> T:
    """``attempt(n)`` for n = 1, 2, ... until it returns, ``policy.attempts`` times at most.
    ``before_retry(error, delay_s)`` is told of each transient failure that will be retried.

    Raises:
        Exception: whatever the last attempt raised.
    """

    def before_sleep(rs: RetryCallState) -> None:
        error = rs.outcome.exception() if rs.outcome else None
        delay = rs.next_action.sleep if rs.next_action else 0.0
        before_retry(error, round(delay, 3))

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.attempts),
        wait=_wait(policy),
        retry=retry_if_exception_type(TransientError),
        before_sleep=before_sleep,
        reraise=True,
    )
    async for tried in retrying:
        with tried:
            return await attempt(tried.retry_state.attempt_number)
    raise AssertionError("tenacity ends with a result or an error")  # pragma: no cover
