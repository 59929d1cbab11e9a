"""How the client retries `TransientServiceError`: the policy and the retry loop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio
import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)

from orchestrator.errors import TransientServiceError

log = structlog.get_logger()

_T = TypeVar("_T")


@dataclass(frozen=True)
class RetryPolicy:
    """How `ServiceClient` retries `TransientServiceError`.

    The n-th wait is uniform in `[0, min(max_backoff_s, initial_backoff_s * 2**(n-1))]` (full
    jitter), at least the service's `Retry-After` on a 429. Retrying stops after
    `max_attempts` attempts, or when the next wait would end past `max_total_s` since the
    first attempt; the last error is then raised. `retry_server_errors=False` turns 500
    into a `ServiceRejected` (502/503/504 stay transient: they come from proxies).
    """

    max_attempts: int = 8
    # Long enough to ride out a restart of the service (our crash tests restart it on
    # its database in a few seconds; a remote one behind a deploy can take a minute).
    max_total_s: float = 120.0
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 10.0
    retry_server_errors: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be at least 1")
        if self.max_total_s < 0 or self.initial_backoff_s < 0 or self.max_backoff_s < 0:
            raise ValueError(
                "RetryPolicy.max_total_s, initial_backoff_s and max_backoff_s must be >= 0"
            )


#: The default policy; frozen, so one shared instance is safe.
DEFAULT_RETRY = RetryPolicy()


async def retrying(
    policy: RetryPolicy, method: str, path: str, attempt: Callable[[], Awaitable[_T]]
) -> _T:
    """`attempt()`, retried per `policy` while it raises `TransientServiceError`."""
    # Fast path: most calls succeed at once, and building tenacity's machinery on every
    # call is a measurable share of the coordinator's overhead per evaluation.
    try:
        return await attempt()
    except TransientServiceError as exc:
        first_failure = exc
    replayed = False

    async def replay_then_attempt() -> _T:
        # Tenacity sees the first failure as its attempt 1: same waits, same bounds.
        nonlocal replayed
        if not replayed:
            replayed = True
            raise first_failure
        return await attempt()

    return await _retry_after_failure(policy, method, path, replay_then_attempt)


async def _retry_after_failure(
    policy: RetryPolicy, method: str, path: str, attempt: Callable[[], Awaitable[_T]]
) -> _T:
    jitter = wait_random_exponential(multiplier=policy.initial_backoff_s, max=policy.max_backoff_s)

    def wait(state: RetryCallState) -> float:
        wait_s = jitter(state)
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, TransientServiceError) and exc.retry_after_s is not None:
            wait_s = max(wait_s, exc.retry_after_s)
        return wait_s

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        log.warning(
            "api_retry",
            method=method,
            path=path,
            attempt=state.attempt_number,
            wait_s=round(state.upcoming_sleep, 3),
            error=repr(exc),
        )

    retrying_ = AsyncRetrying(
        retry=retry_if_exception_type(TransientServiceError),
        stop=stop_after_attempt(policy.max_attempts) | stop_before_delay(policy.max_total_s),
        wait=wait,
        before_sleep=before_sleep,
        sleep=anyio.sleep,
        reraise=True,
    )
    return await retrying_(attempt)
