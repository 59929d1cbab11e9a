"""Coordinator fixtures: a client on the real loopback service and experiment helpers."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from orchestrator.client import RetryPolicy, ServiceClient
from orchestrator.coordinator import Coordinator, CoordinatorSettings, RunSummary
from sigopt_service.config import ServiceConfig
from tests.support.fault_proxy import FaultProxy, ScriptedFaults
from workers.base import Worker

FAST_RETRY = RetryPolicy(
    max_attempts=20, max_total_s=30, initial_backoff_s=0.001, max_backoff_s=0.02
)


@asynccontextmanager
async def late_first_request(service_url: str, path_pattern: str) -> AsyncIterator[ServiceClient]:
    """A client whose first POST to `path_pattern` reaches the service 1 s late, after
    the client gave up on it (0.3 s timeout) and retried: the late-request cases."""
    plan = ScriptedFaults(("POST", path_pattern, ["latency"]))
    retry = RetryPolicy(max_attempts=10, max_total_s=30, initial_backoff_s=0.01, max_backoff_s=0.05)
    async with (
        FaultProxy(service_url, plan=plan, latency_s=1.0) as proxy,
        ServiceClient(proxy.url, retry=retry, request_timeout_s=0.3) as client,
    ):
        yield client


@pytest.fixture
async def client(service_url: str) -> AsyncIterator[ServiceClient]:
    async with ServiceClient(service_url, retry=FAST_RETRY) as c:
        yield c


def experiment_body(
    budget: int,
    *,
    kind: list[str] | None = None,
    metrics: list[Any] | None = None,
    type_: str = "random",
) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}
    ]
    if kind:
        parameters.append({"name": "kind", "type": "categorical", "categorical_values": kind})
    return {
        "name": "coordinator test",
        "type": type_,
        "parameters": parameters,
        "metrics": metrics or [{"name": "value", "objective": "maximize"}],
        "observation_budget": budget,
    }


async def assert_exactly_budget(client: ServiceClient, experiment_id: str, budget: int) -> None:
    """Exactly `budget` observations, one per suggestion, nothing left open."""
    observations = await client.observations(experiment_id)
    assert len(observations) == budget
    per_suggestion = Counter(o.suggestion for o in observations)
    assert None not in per_suggestion
    assert max(per_suggestion.values()) == 1, "a suggestion was observed twice"
    assert await client.open_suggestions(experiment_id) == []


async def run(
    client: ServiceClient,
    worker: Worker,
    eid: str,
    *,
    workers: int = 4,
    stop: anyio.Event | None = None,
    force: anyio.Event | None = None,
    **settings: Any,
) -> RunSummary:
    """One `Coordinator.run` with these settings (run_id "test-run" unless given),
    bounded at 60 s."""
    settings.setdefault("run_id", "test-run")
    coordinator = Coordinator(
        client, worker, experiment_id=eid, settings=CoordinatorSettings(workers=workers, **settings)
    )
    with anyio.fail_after(60):
        return await coordinator.run(stop=stop, force=force)


class StoresDuplicateObservations:
    """Base of test classes whose `service_url` stores a second observation of a
    suggestion, as sigopt-server does: "nothing observed twice" then rests on the client
    alone, not on our 409."""

    @pytest.fixture
    def service_config(self, tmp_path: Path) -> ServiceConfig:
        return ServiceConfig(
            port=0, db=tmp_path / "service.db", seed=1, allow_duplicate_observations=True
        )
