"""Fixtures shared by the API, hostile-input, engine and fidelity tests: clients (aiohttp and
the official `sigopt` one), an experiment, a store, and the `both_stores` marker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sigopt import Connection

from sigopt_service.config import ServiceConfig
from sigopt_service.store import InMemoryStore
from tests.sigopt_service.api_cases import PARAMS, call
from tests.sigopt_service.tokens_helpers import Api


def pytest_configure(config: pytest.Config) -> None:
    """`both_stores` marks a module or class whose tests that start a service run once on a
    SQLite file and once on the in-memory store (the others run once)."""
    config.addinivalue_line(
        "markers", "both_stores: run the service on a SQLite file and on the in-memory store"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if (
        metafunc.definition.get_closest_marker("both_stores")
        and "service_config" in metafunc.fixturenames
    ):
        metafunc.parametrize("service_config", ["sqlite", "memory"], indirect=True)


@pytest.fixture
def service_config(request: pytest.FixtureRequest, tmp_path: Path) -> ServiceConfig:
    """A SQLite file, or the in-memory store where `both_stores` asks for it."""
    store = getattr(request, "param", "sqlite")
    db = tmp_path / "service.db" if store == "sqlite" else None
    return ServiceConfig(port=0, db=db, seed=1)


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
