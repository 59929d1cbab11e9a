"""Fixtures shared by every test package: a real service on loopback, a real PostgreSQL
server, clean structlog."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import structlog
from anyio.from_thread import start_blocking_portal

from sigopt_service.config import ServiceConfig
from sigopt_service.http import running_service
from tests.support.postgres import PostgresCluster


@pytest.fixture(autouse=True)
def _clean_structlog() -> Iterator[None]:
    """A clean slate: a test that ran a CLI entry point configured structlog to write to
    that test's captured stderr, which is closed once the test ends."""
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()


#: The stores a marked test's service runs on (`pytest_generate_tests`).
STORES_OF_MARKER = {
    "both_stores": ("sqlite", "memory", "postgres"),
    "postgres_too": ("sqlite", "postgres"),
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "both_stores: a test that starts a service runs it on a SQLite file, on the "
        "in-memory store and on PostgreSQL (the others run once, on SQLite)",
    )
    config.addinivalue_line(
        "markers",
        "postgres_too: a test that starts a service runs it on a SQLite file and on "
        "PostgreSQL (the official client's and the coordinator's end-to-end tests)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "service_config" not in metafunc.fixturenames:
        return
    for marker, stores in STORES_OF_MARKER.items():
        if metafunc.definition.get_closest_marker(marker):
            metafunc.parametrize("service_config", stores, indirect=True)
            return


@pytest.fixture
def service_config(request: pytest.FixtureRequest, tmp_path: Path) -> ServiceConfig:
    """A SQLite file; where a marker asks (`STORES_OF_MARKER`), the in-memory store or a
    fresh PostgreSQL database of the test's throwaway server."""
    store = getattr(request, "param", "sqlite")
    if store == "postgres":
        return ServiceConfig(port=0, db=request.getfixturevalue("postgres_url"), seed=1)
    db = tmp_path / "service.db" if store == "sqlite" else None
    return ServiceConfig(port=0, db=db, seed=1)


@pytest.fixture
async def service_url(service_config: ServiceConfig) -> AsyncIterator[str]:
    """The real service with a real SQLite file, in this test's event loop."""
    async with running_service(service_config) as url:
        yield url


@pytest.fixture
def threaded_service_url(service_config: ServiceConfig) -> Iterator[str]:
    """The real service in its own thread and loop, for blocking clients (the official one)."""
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(running_service(service_config)) as url,
    ):
        yield url


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL server per xdist worker process, started the first time a test
    asks for it (a run that never does starts none) and stopped at the session's end."""
    with PostgresCluster.start() as cluster:
        yield cluster


_database_numbers = itertools.count(1)


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """The URL of a fresh, empty database for this test alone, dropped afterwards (open
    sessions included)."""
    name = f"pg_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{next(_database_numbers)}"
    yield postgres_cluster.create_database(name)
    postgres_cluster.drop_database(name)


@pytest.fixture
def durable_postgres_cluster() -> Iterator[PostgresCluster]:
    """A server of this test's own with PostgreSQL's crash-safe defaults, for tests that
    crash it with `restart_immediate()` (the shared one trades durability for speed)."""
    with PostgresCluster.start(durable=True) as cluster:
        yield cluster
