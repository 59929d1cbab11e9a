"""ServiceClient status mapping and retries: which statuses are retried, and the bounds."""

from __future__ import annotations

import time

import anyio
import pytest
from structlog.testing import capture_logs

from orchestrator.client import RetryPolicy
from orchestrator.errors import (
    ServiceError,
    ServiceRejected,
    TransientServiceError,
)
from orchestrator.transport import MockTransport
from tests.orchestrator.client.fake_sigopt import (
    client_for,
    error,
    flaky,
    ok,
)


class TestStatusMapping:
    """Statuses map to models, retried transient errors, or ServiceRejected."""

    async def test_2xx_parses_into_the_wire_model(self) -> None:
        """A 200 body comes back as the service.models object."""
        async with client_for(flaky([])) as client:
            experiment = await client.get_experiment("7")
        assert experiment.id == "7" and experiment.name == "e"

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 501])
    async def test_other_errors_are_rejected_once_with_status_and_message(
        self, status: int
    ) -> None:
        """Non-transient statuses raise ServiceRejected at once, carrying status and message."""
        transport = flaky([error(status, "nope")] * 3)
        async with client_for(transport) as client:
            with pytest.raises(ServiceRejected) as caught:
                await client.get_experiment("7")
        assert caught.value.status == status
        assert caught.value.message == "nope"
        assert (caught.value.method, caught.value.path) == ("GET", "/experiments/7")
        assert len(transport.requests) == 1

    @pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
    async def test_transient_statuses_are_retried(self, status: int) -> None:
        """429, 500, 502, 503 and 504 are retried until the call succeeds."""
        transport = flaky([error(status, "busy"), error(status, "busy")])
        async with client_for(transport) as client:
            experiment = await client.get_experiment("7")
        assert experiment.id == "7"
        assert len(transport.requests) == 3

    async def test_500_is_rejected_when_server_errors_are_not_retried(self) -> None:
        """With retry_server_errors=False a 500 is final, while 502 stays transient."""
        policy = RetryPolicy(
            max_attempts=3, initial_backoff_s=0.001, max_backoff_s=0.001, retry_server_errors=False
        )
        transport = flaky([error(502, "proxy"), error(500, "boom")])
        async with client_for(transport, policy) as client:
            with pytest.raises(ServiceRejected) as caught:
                await client.get_experiment("7")
        assert caught.value.status == 500
        assert len(transport.requests) == 2

    async def test_transport_failures_are_retried(self) -> None:
        """A TransientServiceError raised by the transport is retried like a 503."""
        transport = flaky([TransientServiceError("refused", ambiguous=False)])
        async with client_for(transport) as client:
            assert (await client.get_experiment("7")).id == "7"
        assert len(transport.requests) == 2

    async def test_unparsable_success_body_is_a_service_error(self) -> None:
        """A 2xx whose body is not the expected object raises ServiceError, not a crash."""
        async with client_for(MockTransport(lambda *a: ok({"message": "<html>"}))) as client:
            with pytest.raises(ServiceError) as caught:
                await client.get_experiment("7")
        assert not isinstance(caught.value, ServiceRejected | TransientServiceError)


class TestRetryBounds:
    """Retries stop at the attempt bound or the total-time bound and honour Retry-After."""

    async def test_attempts_bound_raises_last_transient_error(self) -> None:
        """After max_attempts failures the last TransientServiceError propagates."""
        transport = flaky([error(503, "down")] * 100)
        policy = RetryPolicy(max_attempts=3, initial_backoff_s=0.001, max_backoff_s=0.001)
        async with client_for(transport, policy) as client:
            with pytest.raises(TransientServiceError) as caught:
                await client.get_experiment("7")
        assert caught.value.status == 503
        assert len(transport.requests) == 3

    async def test_total_time_bound(self) -> None:
        """With unlimited attempts, retrying stops before max_total_s is exceeded."""
        transport = flaky([error(503, "down")] * 10_000)
        policy = RetryPolicy(
            max_attempts=10_000, max_total_s=0.3, initial_backoff_s=0.05, max_backoff_s=0.05
        )
        started = time.monotonic()
        with anyio.fail_after(5):
            async with client_for(transport, policy) as client:
                with pytest.raises(TransientServiceError):
                    await client.get_experiment("7")
        assert time.monotonic() - started < 1.0  # 0.3 s budget, slack for a loaded CI box
        assert 2 <= len(transport.requests) < 100

    async def test_retry_after_is_the_minimum_wait(self) -> None:
        """A 429's Retry-After seconds are waited even when the backoff is tiny."""
        transport = flaky([error(429, "slow down", {"Retry-After": "0.2"})])
        started = time.monotonic()
        with capture_logs() as logs, anyio.fail_after(5):
            async with client_for(transport) as client:
                await client.get_experiment("7")
        assert time.monotonic() - started >= 0.2
        retries = [e for e in logs if e["event"] == "api_retry"]
        assert len(retries) == 1
        assert retries[0]["wait_s"] >= 0.2

    async def test_retries_are_logged_as_data(self) -> None:
        """Each retry logs api_retry with method, path, attempt, wait and error."""
        transport = flaky([error(502, "a"), error(504, "b")])
        with capture_logs() as logs:
            async with client_for(transport) as client:
                await client.get_experiment("7")
        retries = [e for e in logs if e["event"] == "api_retry"]
        assert [e["attempt"] for e in retries] == [1, 2]
        assert all(e["method"] == "GET" and e["path"] == "/experiments/7" for e in retries)
        assert all(e["log_level"] == "warning" and "wait_s" in e for e in retries)
        assert "502" in retries[0]["error"]

    def test_policy_rejects_nonsense(self) -> None:
        """A policy with no attempt at all is refused when built."""
        with pytest.raises(ValueError, match="max_attempts"):
            RetryPolicy(max_attempts=0)
