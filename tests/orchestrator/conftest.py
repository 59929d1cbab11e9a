"""Coordinator fixtures: a client on the real loopback service and experiment helpers."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from orchestrator.client import RetryPolicy, ServiceClient

FAST_RETRY = RetryPolicy(
    max_attempts=20, max_total_s=30, initial_backoff_s=0.001, max_backoff_s=0.02
)


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
