"""End to end through FaultProxy: the proxy's faults, and exactly-once writes under chaos."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from orchestrator.client import RetryPolicy, ServiceClient
from orchestrator.errors import (
    TransientServiceError,
)
from orchestrator.transport import AiohttpTransport
from sigopt_service.models import MetricEvaluation
from tests.orchestrator.client.fake_sigopt import (
    EXPERIMENT_BODY,
    TOKEN,
    FakeSigOpt,
)
from tests.orchestrator.conftest import StoresDuplicateObservations
from tests.support.fault_proxy import FAULT_KINDS, FaultProxy, RandomFaults, ScriptedFaults

CHAOS_RETRY = RetryPolicy(
    max_attempts=30, max_total_s=20, initial_backoff_s=0.001, max_backoff_s=0.01
)
#: About 30% of requests fail, spread over every kind of fault.
CHAOS_RATES: dict[Any, float] = {
    "error_500": 0.04,
    "error_502": 0.04,
    "error_503": 0.04,
    "throttle_429": 0.04,
    "drop_before": 0.05,
    "drop_after": 0.06,
    "latency": 0.03,
}


class TestFaultProxy:
    """The proxy injects each fault kind as scripted and counts it."""

    async def test_scripted_faults_hit_matching_requests_in_order(
        self, fake_server: tuple[FakeSigOpt, str]
    ) -> None:
        """1. drop_after: the fake acts, the client gets a disconnect.
        2. drop_before: the fake does not act, the client gets a disconnect.
        3. error_503 / throttle_429: status answers without forwarding.
        4. latency: the normal answer. Unmatched requests pass untouched."""
        fake, url = fake_server
        plan = ScriptedFaults(
            ("POST", r"/experiments$", ["drop_after", "drop_before", "error_503", "throttle_429"]),
            ("POST", r"/experiments$", ["latency"]),
        )
        async with FaultProxy(url, plan=plan, latency_s=0.01) as proxy:
            transport = AiohttpTransport(proxy.url, token=TOKEN, request_timeout_s=5)
            async with transport:
                with anyio.fail_after(10):
                    outcomes: list[int | str] = []
                    for _ in range(6):
                        try:
                            resp = await transport.request(
                                "POST", "/experiments", json=EXPERIMENT_BODY
                            )
                            outcomes.append(resp.status)
                        except TransientServiceError as exc:
                            outcomes.append(type(exc).__name__)
                    await transport.request("GET", "/experiments/1")
        assert outcomes == [
            "TransientServiceError",
            "TransientServiceError",
            503,
            429,
            200,
            200,
        ]
        assert len(fake.experiments) == 3  # drop_after, latency and the untouched one
        assert plan.is_exhausted
        assert proxy.injected == Counter(
            {"drop_after": 1, "drop_before": 1, "error_503": 1, "throttle_429": 1, "latency": 1}
        )
        assert proxy.requests[-1].fault is None

    def test_random_plan_is_seeded_and_validated(self) -> None:
        """The same seed yields the same faults; unknown kinds and rates over 1 are refused."""
        a = RandomFaults(CHAOS_RATES, seed=3)
        b = RandomFaults(CHAOS_RATES, seed=3)
        assert [a("GET", "/") for _ in range(50)] == [b("GET", "/") for _ in range(50)]
        with pytest.raises(ValueError):
            RandomFaults({"meteor": 0.1})  # type: ignore[dict-item]
        with pytest.raises(ValueError):
            RandomFaults({"error_500": 0.7, "drop_after": 0.7})


@asynccontextmanager
async def chaos_client(url: str, *, seed: int) -> AsyncIterator[tuple[FaultProxy, ServiceClient]]:
    plan = RandomFaults(CHAOS_RATES, seed=seed)
    async with FaultProxy(url, plan=plan, latency_s=0.01) as proxy:
        client = ServiceClient(proxy.url, token=TOKEN, retry=CHAOS_RETRY, request_timeout_s=5)
        async with client:
            yield proxy, client


async def suggest_observe_cycles(client: ServiceClient, eid: str, n: int) -> None:
    for i in range(n):
        suggestion = await client.suggest(eid, metadata={"cycle": i})
        await client.observe(eid, suggestion.id, values=[MetricEvaluation(value=float(i))])


def assert_exactly_once(fake: FakeSigOpt, expected: int) -> None:
    per_suggestion = fake.observations_per_suggestion()
    assert len(fake.observations) == expected
    assert max(per_suggestion.values()) == 1, "a suggestion got two observations"
    assert len(fake.suggestions) == expected, "a retried suggest created an extra suggestion"
    open_left = [s for s in fake.suggestions if str(s) not in per_suggestion]
    assert open_left == [], "orphan open suggestions remain"


@pytest.mark.slow
class TestChaos:
    """Under ~30% injected faults of every kind, writes stay exactly-once end to end."""

    async def test_fifty_cycles_through_faults(self, fake_server: tuple[FakeSigOpt, str]) -> None:
        """50 sequential suggest+observe cycles give 50 observations, one per suggestion."""
        fake, url = fake_server
        with anyio.fail_after(25), capture_logs() as logs:
            async with chaos_client(url, seed=7) as (proxy, client):
                eid = (await client.create_experiment(EXPERIMENT_BODY)).id
                await suggest_observe_cycles(client, eid, 50)
                assert await client.open_suggestions(eid) == []
        assert_exactly_once(fake, 50)
        # The ambiguous paths really ran: lost answers were adopted, not re-sent.
        events = Counter(e["event"] for e in logs)
        assert events["suggestion_adopted"] > 0 and events["observation_adopted"] > 0, events
        assert set(proxy.injected) == set(FAULT_KINDS), proxy.injected
        assert sum(proxy.injected.values()) >= 30

    async def test_concurrent_slots_through_faults(
        self, fake_server: tuple[FakeSigOpt, str]
    ) -> None:
        """Five concurrent slots of 10 cycles each keep the same exactly-once guarantees."""
        fake, url = fake_server
        with anyio.fail_after(25):
            async with chaos_client(url, seed=11) as (proxy, client):
                eid = (await client.create_experiment(EXPERIMENT_BODY)).id
                async with anyio.create_task_group() as tg:
                    for _ in range(5):
                        tg.start_soon(suggest_observe_cycles, client, eid, 10)
        assert_exactly_once(fake, 50)
        assert proxy.injected["drop_after"] > 0


class TestAgainstTheProjectService(StoresDuplicateObservations):
    """The client drives the project's own service (sigopt_service.http) through faults,
    exactly-once."""

    async def test_concurrent_cycles_through_faults(self, service_url: str) -> None:
        """Five slots of 8 cycles (some failed) leave 40 observations, one per suggestion."""
        body = {
            "name": "chaos",
            "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
            "metrics": [{"name": "y", "objective": "maximize"}],
            "observation_budget": 40,
            "parallel_bandwidth": 5,
        }

        async def slot(client: ServiceClient, eid: str) -> None:
            for i in range(8):
                suggestion = await client.suggest(eid, metadata={"slot_cycle": i})
                if i % 4 == 3:
                    await client.observe(eid, suggestion.id, failed=True)
                else:
                    value = float(suggestion.assignments["x"])
                    await client.observe(
                        eid, suggestion.id, values=[MetricEvaluation(name="y", value=value)]
                    )

        with anyio.fail_after(25):
            async with chaos_client(service_url, seed=5) as (proxy, client):
                eid = (await client.create_experiment(body)).id
                async with anyio.create_task_group() as tg:
                    for _ in range(5):
                        tg.start_soon(slot, client, eid)
                observations = await client.observations(eid)
                assert await client.open_suggestions(eid) == []
                experiment = await client.get_experiment(eid)
                best = await client.best_assignments(eid)
        per_suggestion = Counter(o.suggestion for o in observations)
        assert len(observations) == 40 and max(per_suggestion.values()) == 1
        assert experiment.progress is not None and experiment.progress.observation_count == 40
        assert len(best) == 1
        assert proxy.injected["drop_after"] > 0
