"""Fixtures shared by the API, hostile-input and engine tests: a client, an experiment, a store."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from sigopt_service.store import InMemoryStore
from tests.sigopt_service.api_cases import PARAMS, call


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


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
