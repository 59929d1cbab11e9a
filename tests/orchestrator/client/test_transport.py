"""Cancelled calls leave the client usable; the aiohttp transport's wire conventions and errors."""

from __future__ import annotations

import base64
import socket
from typing import Any

import anyio
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from orchestrator.client import RetryPolicy, ServiceClient
from orchestrator.errors import (
    ServiceRejected,
    TransientServiceError,
)
from orchestrator.transport import AiohttpTransport, MockTransport, TransportResponse
from tests.orchestrator.client.fake_sigopt import (
    EXPERIMENT,
    TOKEN,
    client_for,
    ok,
)


class TestCancellation:
    """A call cancelled mid-request leaves the client usable."""

    async def test_mock_slow_request_cancelled_then_next_call_succeeds(self) -> None:
        """Cancel a hanging request via move_on_after; the next call on the client works."""
        slow = True

        async def handler(method: str, path: str, params: Any, json: Any) -> TransportResponse:
            if slow:
                await anyio.sleep(30)
            return ok(EXPERIMENT)

        async with client_for(MockTransport(handler)) as client:
            with anyio.fail_after(5):
                with anyio.move_on_after(0.05) as scope:
                    await client.get_experiment("7")
                assert scope.cancelled_caught
                slow = False
                assert (await client.get_experiment("7")).id == "7"

    async def test_real_transport_cancelled_then_next_call_succeeds(self) -> None:
        """The aiohttp session survives a cancelled in-flight request."""
        release = anyio.Event()

        async def handler(request: web.Request) -> web.Response:
            if request.query.get("slow"):
                await release.wait()
            return web.json_response(EXPERIMENT)

        app = web.Application()
        app.router.add_get("/v1/experiments/7", handler)
        async with TestServer(app, host="127.0.0.1", port=0) as server:
            base = str(server.make_url("")).rstrip("/")
            async with AiohttpTransport(base, token=TOKEN, request_timeout_s=10) as transport:
                with anyio.fail_after(5):
                    with anyio.move_on_after(0.1) as scope:
                        await transport.request("GET", "/experiments/7", params={"slow": "1"})
                    assert scope.cancelled_caught
                    release.set()
                    response = await transport.request("GET", "/experiments/7")
        assert response.status == 200 and response.body["id"] == "7"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: connecting to it is refused


class TestAiohttpTransport:
    """The aiohttp transport speaks SigOpt's wire conventions and maps network errors."""

    async def test_refused_connection_is_transient_and_unambiguous(self) -> None:
        """Connecting to a closed port raises TransientServiceError(ambiguous=False)."""
        url = f"http://127.0.0.1:{free_port()}"
        with anyio.fail_after(10):
            async with AiohttpTransport(url, token=TOKEN, connect_timeout_s=2) as transport:
                with pytest.raises(TransientServiceError) as caught:
                    await transport.request("GET", "/experiments/1")
        assert caught.value.ambiguous is False and caught.value.status is None
        assert caught.value.method == "GET" and caught.value.path == "/experiments/1"
        assert caught.value.__cause__ is not None

    async def test_client_retries_refused_then_raises(self) -> None:
        """ServiceClient gives up on a refused port after max_attempts with the transient error."""
        policy = RetryPolicy(max_attempts=2, initial_backoff_s=0.001, max_backoff_s=0.001)
        with anyio.fail_after(10):
            async with ServiceClient(
                f"http://127.0.0.1:{free_port()}", token=TOKEN, retry=policy, connect_timeout_s=2
            ) as client:
                with pytest.raises(TransientServiceError):
                    await client.get_experiment("1")

    async def test_wire_conventions(self) -> None:
        """Requests go to /v1 with Basic auth (token, empty password) and a JSON body."""
        seen: list[web.Request] = []
        bodies: list[Any] = []

        async def handler(request: web.Request) -> web.Response:
            seen.append(request)
            bodies.append(await request.json())
            return web.json_response(EXPERIMENT)

        app = web.Application()
        app.router.add_post("/v1/experiments", handler)
        with anyio.fail_after(5):
            async with TestServer(app, host="127.0.0.1", port=0) as server:
                client = ServiceClient(str(server.make_url("/")), token=TOKEN)
                async with client:
                    await client.create_experiment({"name": "e", "parameters": []})
        auth = seen[0].headers["Authorization"]
        assert base64.b64decode(auth.removeprefix("Basic ")) == f"{TOKEN}:".encode()
        assert seen[0].headers["Content-Type"] == "application/json"
        assert bodies == [{"name": "e", "parameters": []}]

    async def test_non_json_error_body_becomes_the_message(self) -> None:
        """A plain-text error body is read as {"message": text}, as the official client does."""

        async def handler(request: web.Request) -> web.Response:
            return web.Response(status=418, text="teapot")

        app = web.Application()
        app.router.add_get("/v1/experiments/1", handler)
        with anyio.fail_after(5):
            async with TestServer(app, host="127.0.0.1", port=0) as server:
                client = ServiceClient(str(server.make_url("")), token=TOKEN)
                async with client:
                    with pytest.raises(ServiceRejected) as caught:
                        await client.get_experiment("1")
        assert (caught.value.status, caught.value.message) == (418, "teapot")

    async def test_read_timeout_is_transient_and_ambiguous(self) -> None:
        """A request that outlives request_timeout_s may have been processed: ambiguous."""

        async def handler(request: web.Request) -> web.Response:
            await anyio.sleep(5)
            return web.json_response({})

        app = web.Application()
        app.router.add_post("/v1/experiments", handler)
        async with TestServer(app, host="127.0.0.1", port=0) as server:
            base = str(server.make_url(""))
            async with AiohttpTransport(base, token=TOKEN, request_timeout_s=0.2) as transport:
                with anyio.fail_after(5), pytest.raises(TransientServiceError) as caught:
                    await transport.request("POST", "/experiments", json={})
        assert caught.value.ambiguous is True
