"""What the failover tests put in front of the client: a URL nothing listens on, and a
gateway that lets the service act and then answers 502 (the lost response)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from types import TracebackType
from typing import Self

import aiohttp
import anyio
from aiohttp import web

#: Picks the requests whose answer the gateway replaces, from their method and path.
Loses = Callable[[str, str], bool]

# Hop-by-hop and length headers belong to each leg of the proxy.
_SKIP_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "content-encoding"}
)


def closed_port_url() -> str:
    """A loopback URL whose port was free a moment ago: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class LossyGateway:
    """A loopback reverse proxy to `upstream` that forwards every request, and for those
    `loses(method, path)` picks answers 502 instead of the upstream's answer: the service
    stored the write, the client sees a gateway error. `requests` lists what came through,
    as "METHOD path"; `lost` counts the answers replaced."""

    def __init__(self, upstream: str, loses: Loses) -> None:
        self.upstream = upstream.rstrip("/")
        self.loses = loses
        self.requests: list[str] = []
        self.lost = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.url = ""

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Shielded and bounded: a test that failed by cancellation still frees the port.
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            if self._runner is not None:
                await self._runner.cleanup()
            if self._session is not None:
                await self._session.close()

    async def _handle(self, request: web.Request) -> web.Response:
        assert self._session is not None  # set in __aenter__
        self.requests.append(f"{request.method} {request.path}")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _SKIP_HEADERS}
        async with self._session.request(
            request.method,
            self.upstream + request.path_qs,
            headers=headers,
            data=await request.read() or None,
            allow_redirects=False,
        ) as upstream:
            body = await upstream.read()
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in _SKIP_HEADERS}
        if self.loses(request.method, request.path):
            self.lost += 1
            return web.json_response({"message": "bad gateway", "status": 502}, status=502)
        return web.Response(status=upstream.status, body=body, headers=out)


def first_n(n: int, method: str, path_suffix: str) -> Loses:
    """Loses the answers of the first `n` requests with this method and path ending."""
    left = n

    def loses(request_method: str, path: str) -> bool:
        nonlocal left
        if left > 0 and request_method == method and path.endswith(path_suffix):
            left -= 1
            return True
        return False

    return loses


def every_nth(n: int, method: str) -> Loses:
    """Loses the answer of every `n`-th request with this method."""
    seen = 0

    def loses(request_method: str, path: str) -> bool:
        nonlocal seen
        if request_method != method:
            return False
        seen += 1
        return seen % n == 0

    return loses
