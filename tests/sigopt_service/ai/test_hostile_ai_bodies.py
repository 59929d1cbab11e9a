"""Every AI-module route answers malformed bodies and queries with a 4xx that names what
is wrong, never a 500: each route of `AI_ROUTES`, with every body below."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from sigopt_service.http.ai_routes import AI_ROUTES
from tests.sigopt_service.ai.conftest import AI_EXPERIMENT
from tests.sigopt_service.api_cases import call

BODIES: list[Any] = [
    None,
    [],
    "text",
    7,
    {"name": None},
    {"name": {"x": 1}, "state": 3},
    {"values": {"m": None}, "metadata": [1]},
    {"values": {"": {"value": 1e308 * 10}}},
    {"assignments": {"k" * 200: 1}},
    {"logs": {"o": {"content": None}}, "datasets": {"d": None}, "model": None},
    {"runs": [None, 1, "x"], "fields": 3},
    {"id": "ok-id", "name": "  ", "metadata": {"k": {"deep": [1]}}},
    {"budget": -1, "parameters": "x", "metrics": [None]},
    {"values": [{"name": None, "value": "1"}], "metadata": "m"},
    {"deleted": "yes", "project": 5},
    {"include_runs": "maybe"},
    {"a": {"b": {"c": {"d": {"e": {"f": [[[[[]]]]]}}}}}},
]
QUERIES = [
    "",
    "?limit=-1",
    "?filters=%5B1%5D",
    "?filters=%5B%7B%22field%22%3A%22values.a.value%22%2C%22operator%22%3A%22%3C%22%2C%22value%22%3Anull%7D%5D",
    "?sort=assignments.x&ascending=maybe",
    "?before=%%%",
    "?include_runs=TRUE&deleted=2",
]


@pytest.fixture
async def paths(http: aiohttp.ClientSession, service_url: str) -> dict[str, str]:
    """Real ids for every path parameter: a project, an AI experiment, a run, a
    checkpoint."""
    await call(http, "POST", f"{service_url}/v1/clients/1/projects", {"id": "p", "name": "P"})
    status, experiment = await call(
        http, "POST", f"{service_url}/v1/clients/1/projects/p/aiexperiments", AI_EXPERIMENT
    )
    assert status == 200, experiment
    status, run = await call(
        http,
        "POST",
        f"{service_url}/v1/aiexperiments/{experiment['id']}/training_runs",
        {"name": "r"},
    )
    assert status == 200, run
    status, checkpoint = await call(
        http,
        "POST",
        f"{service_url}/v1/training_runs/{run['id']}/checkpoints",
        {"values": [{"name": "accuracy", "value": 0.5}]},
    )
    assert status == 200, checkpoint
    return {
        "client_id": "1",
        "organization_id": "1",
        "project_id": "p",
        "experiment_id": experiment["id"],
        "training_run_id": run["id"],
        "checkpoint_id": checkpoint["id"],
    }


async def test_no_route_answers_a_500(
    http: aiohttp.ClientSession, service_url: str, paths: dict[str, str]
) -> None:
    answered = 0
    for method, template, _, _ in AI_ROUTES:
        path = template.format(**paths)
        for body in BODIES if method in ("POST", "PUT", "MERGE") else [None]:
            for query in QUERIES if method in ("GET", "DELETE") else [""]:
                status, got = await call(http, method, f"{service_url}{path}{query}", body)
                assert status < 500, (method, path, query, body, got)
                if status >= 400:
                    assert got["message"] and got["code"], got
                answered += 1
    assert answered > 150
