"""Fixtures for the ServiceClient tests: the SigOpt fake behind a mock transport or a server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer

from orchestrator.client import ServiceClient
from orchestrator.transport import MockTransport
from tests.orchestrator.client.fake_sigopt import (
    EXPERIMENT_BODY,
    FakeSigOpt,
    client_for,
)


@pytest.fixture
async def fake_client() -> AsyncIterator[tuple[FakeSigOpt, MockTransport, ServiceClient, str]]:
    fake = FakeSigOpt()
    transport = MockTransport(fake.mock_handler)
    async with client_for(transport) as client:
        experiment = await client.create_experiment(EXPERIMENT_BODY)
        transport.requests.clear()
        yield fake, transport, client, experiment.id


@pytest.fixture
async def fake_server() -> AsyncIterator[tuple[FakeSigOpt, str]]:
    fake = FakeSigOpt(page_size=4)
    async with TestServer(fake.app(), host="127.0.0.1", port=0) as server:
        yield fake, str(server.make_url("")).rstrip("/")
