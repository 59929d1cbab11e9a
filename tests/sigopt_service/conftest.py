"""Fixtures shared by the API, hostile-input, engine and fidelity tests: clients (aiohttp and
the official `sigopt` one), an experiment, a store. (The `both_stores` and `postgres_too`
markers, which run a test's service on several stores, are in `tests/conftest.py`.)"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from sigopt import Connection

from sigopt_service.store import InMemoryStore
from tests.sigopt_service.api_cases import PARAMS, call
from tests.sigopt_service.tokens_helpers import Api


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def api(http: aiohttp.ClientSession, service_url: str) -> Api:
    """Requests to the service under any token (`tokens_helpers.Api`)."""
    return Api(http, service_url)


@pytest.fixture
async def exp(http: aiohttp.ClientSession, service_url: str) -> str:
    status, body = await call(
        http,
        "POST",
        f"{service_url}/v1/experiments",
        {"name": "e", "parameters": PARAMS, "observation_budget": 10},
    )
    assert status == 200, body
    return f"{service_url}/v1/experiments/{body['id']}"


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


#: The experiment the fidelity tests observe into: one double, one maximized metric.
EXPERIMENT = dict(
    name="fidelity",
    parameters=[dict(name="x", type="double", bounds=dict(min=0.0, max=1.0))],
    metrics=[dict(name="y", objective="maximize")],
    observation_budget=10,
)


@pytest.fixture
def conn(threaded_service_url: str) -> Connection:
    """The official client on a service running in a thread of this process."""
    return Connection(client_token="any-token", api_url=threaded_service_url)


@pytest.fixture
def eid(conn: Connection) -> str:
    """A new `EXPERIMENT`'s id."""
    return str(conn.experiments().create(**EXPERIMENT).id)
