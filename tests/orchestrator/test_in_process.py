"""The in-process transport: the service's own application answers, with no socket, and
its answers are the ones the real server gives over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from orchestrator.client import ServiceClient
from orchestrator.errors import ServiceRejected
from orchestrator.in_process import InProcessTransport
from orchestrator.transport import AiohttpTransport, Transport, TransportResponse
from sigopt_service import ServiceConfig, running_service
from sigopt_service.models import MetricEvaluation
from tests.orchestrator.conftest import experiment_body

TOKEN = "s3cret"


@pytest.fixture
def config(tmp_path: Path) -> ServiceConfig:
    return ServiceConfig(port=0, db=None, seed=1, tokens=(TOKEN,), max_body_bytes=4096)


@pytest.fixture
async def transport(config: ServiceConfig) -> AsyncIterator[InProcessTransport]:
    async with InProcessTransport(config, token=TOKEN) as t:
        yield t


class TestRoundTrips:
    """The real client runs on the transport unchanged."""

    async def test_create_suggest_observe_best(self, transport: InProcessTransport) -> None:
        """A whole cycle stores what it says, and `best_assignments` finds it."""
        async with ServiceClient("in-process", transport=transport) as client:
            eid = (await client.create_experiment(experiment_body(3))).id
            suggestion = await client.suggest(eid, metadata={"k": "v"})
            assert suggestion.metadata is not None and suggestion.metadata["k"] == "v"
            values = [MetricEvaluation(name="value", value=0.5)]
            observation = await client.observe(eid, suggestion.id, values=values)
            assert observation.suggestion == suggestion.id and observation.value == 0.5
            assert [b.value for b in await client.best_assignments(eid)] == [0.5]
            assert await client.open_suggestions(eid) == []
        assert repr(transport) == f"InProcessTransport(open, requests={transport.requests})"

    async def test_query_parameters_reach_the_handler(self, transport: InProcessTransport) -> None:
        """`params` become the query string (`state=open` filters the list)."""
        async with ServiceClient("in-process", transport=transport) as client:
            eid = (await client.create_experiment(experiment_body(5))).id
            first = await client.suggest(eid)
            await client.observe(eid, first.id, values=[MetricEvaluation(value=1.0)])
            second = await client.suggest(eid)
            assert [s.id for s in await client.open_suggestions(eid)] == [second.id]

    async def test_error_bodies_become_service_rejected(
        self, transport: InProcessTransport
    ) -> None:
        """Refusals from the service's error middleware reach the client as data:
        status, code and field."""
        async with ServiceClient("in-process", transport=transport) as client:
            with pytest.raises(ServiceRejected) as missing:
                await client.get_experiment("999")
            with pytest.raises(ServiceRejected) as invalid:
                await client.create_experiment({**experiment_body(3), "name": 1})
        assert (missing.value.status, missing.value.code, missing.value.field) == (
            404,
            "not_found",
            None,
        )
        assert (invalid.value.status, invalid.value.code, invalid.value.field) == (
            400,
            "invalid_value",
            "name",
        )


class TestSameAnswersAsHttp:
    """Status, body and the headers that matter equal the real server's, request by request."""

    REQUESTS: tuple[tuple[str, str, dict[str, str] | None, Any], ...] = (
        ("GET", "/experiments/999", None, None),
        ("GET", "/no/such/route", None, None),
        ("PATCH", "/experiments", None, {}),
        ("POST", "/experiments", None, {"name": 1}),
        ("POST", "/experiments", None, {"name": "x", "parameters": [], "unknown": 1}),
        ("POST", "/experiments", None, {"name": "x" * 5000}),
        ("GET", "/experiments", {"limit": "-1"}, None),
    )

    async def answers(self, transport: Transport) -> list[TransportResponse]:
        return [
            await transport.request(method, path, params=params, json=json)
            for method, path, params, json in self.REQUESTS
        ]

    @pytest.mark.parametrize("token", [TOKEN, None, "wrong"])
    async def test_every_request(self, config: ServiceConfig, token: str | None) -> None:
        """Errors (404, 405, 400, 413) and auth (401) are the real server's own."""
        async with InProcessTransport(config, token=token) as in_process:
            ours = await self.answers(in_process)
        async with (
            running_service(config) as url,
            AiohttpTransport(url, token=token) as http,
        ):
            theirs = await self.answers(http)
        for request, mine, real in zip(self.REQUESTS, ours, theirs, strict=True):
            assert (mine.status, mine.body) == (real.status, real.body), request
            assert mine.headers.get("WWW-Authenticate") == real.headers.get("WWW-Authenticate")
        assert {r.status for r in ours} <= {400, 401, 404, 405, 413}


class TestLifecycle:
    """Started on enter, cleaned up on `aclose`; unusable outside that window."""

    async def test_unusable_before_and_after(self, config: ServiceConfig) -> None:
        transport = InProcessTransport(config, token=TOKEN)
        with pytest.raises(RuntimeError, match="idle"):
            await transport.request("GET", "/experiments")
        async with transport:
            assert (await transport.request("GET", "/experiments")).status == 200
        assert repr(transport).startswith("InProcessTransport(closed")
        with pytest.raises(RuntimeError, match="closed"):
            await transport.request("GET", "/experiments")
        await transport.aclose()  # twice is fine

    async def test_a_cancelled_request_still_acts(self, transport: InProcessTransport) -> None:
        """1. A suggest is sent inside an already-cancelled scope.
        2. The service handles it to its end, as the real server does.
        3. The suggestion exists: a cancelled request may have acted."""
        async with ServiceClient("in-process", transport=transport) as client:
            eid = (await client.create_experiment(experiment_body(5))).id
            with anyio.CancelScope() as scope:
                scope.cancel()
                await transport.request("POST", f"/experiments/{eid}/suggestions", json={})
                await anyio.lowlevel.checkpoint()  # the cancel lands here
            assert len(await client.open_suggestions(eid)) == 1
