"""An in-process transport: the service's own aiohttp application answers each request,
with no socket, no HTTP parsing and no event-loop hop.

```python
async with InProcessTransport(ServiceConfig(db=None, seed=1), token="T") as transport:
    async with ServiceClient("in-process", transport=transport) as client:
        experiment = await client.create_experiment(body)
```
Same one-method protocol as `orchestrator.transport` (`request(method, path, params=,
json=)` -> `TransportResponse`), so the real `ServiceClient` runs on top of it unchanged.
Each request goes through the application as the server would route it: the route is
resolved with `app.router.resolve`, then the app's middlewares (errors, auth, rate limit)
wrap the handler, so error bodies and auth are the service's own. The application is
started on `__aenter__` (its `cleanup_ctx`: the store and its thread) and cleaned up on
`aclose()`.

What it does not simulate: network failures and latency (use `MockTransport` or the fault
proxy for those), and the `Expect` header. A handler runs to its end even when the caller
is cancelled, as on the real server (which does not cancel handlers when a client gives
up); a cancelled request therefore may have acted, like an ambiguous network failure.

Every reliance on aiohttp's internals is in this module and commented as such.
"""

from __future__ import annotations

import asyncio
import functools
import json as jsonlib
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Self, cast

import aiohttp
import anyio
import structlog
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from yarl import URL

from orchestrator.transport import TransportResponse, parse_body, request_headers
from sigopt_service import ServiceConfig, create_app

__all__ = ["InProcessTransport"]

log = structlog.get_logger()

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: Bound on the application's cleanup (queued writes, then the store's close).
_CLOSE_TIMEOUT_S = 30.0


class _NoFlowControl:
    """The protocol a `StreamReader` pauses when its buffer passes twice its limit. Our
    buffer is one body fed at once, with the limit set above it, so nothing pauses."""

    def pause_reading(self) -> None:
        return None

    def resume_reading(self, resume_parser: bool = True) -> None:
        return None


class _Socketless:
    """Stands in for the connection's transport, protocol and writer, which
    `make_mocked_request` would otherwise build from `unittest.mock` objects on every
    request (most of its cost). aiohttp internals: a request reads the peer and TLS
    context from the protocol and keeps the writer; nothing is ever written through it,
    since the response is taken from the handler, not sent."""

    max_field_size = 8190
    max_line_length = 8190
    max_headers = 128
    peername = ("127.0.0.1", 0)
    sockname = ("127.0.0.1", 0)
    ssl_context = None

    def __init__(self) -> None:
        self.transport = self
        self.writer = self

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": self.peername, "sockname": self.sockname}.get(name, default)

    def is_closing(self) -> bool:
        return False


class InProcessTransport:
    """Serves requests through `create_app(config)` in this event loop.

    `token` is sent as the real transport sends it (HTTP Basic, token as the username), so
    the service's auth applies. Not usable before `__aenter__` nor after `aclose()`.
    """

    def __init__(self, config: ServiceConfig, *, token: str | None = None) -> None:
        self.config = config
        self._app = create_app(config)
        self._headers = request_headers(token)
        self._connection = _Socketless()
        self._state: str = "idle"
        self.requests = 0

    def __repr__(self) -> str:
        return f"InProcessTransport({self._state}, requests={self.requests})"

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Run the application's startup (`on_startup`, then its `cleanup_ctx` up to the
        yield) in the order `web.AppRunner` does: freeze the startup signal, start, then
        freeze the application, whose startup may still set its keys."""
        if self._state != "idle":
            raise RuntimeError(f"InProcessTransport is {self._state}")
        for middleware in self._app.middlewares:
            # aiohttp marks `@web.middleware` functions so; old-style ones (a factory of
            # handlers, deprecated) would need another call convention.
            if getattr(middleware, "__middleware_version__", None) != 1:
                raise TypeError(f"old-style middleware not supported: {middleware!r}")
        self._app.on_startup.freeze()
        await self._app.startup()
        self._app.freeze()
        self._state = "open"

    async def aclose(self) -> None:
        """Shut the application down as `web.AppRunner.cleanup` does: `on_shutdown`, then
        `on_cleanup` (the rest of `cleanup_ctx`). Shielded so a cancelled shutdown still
        closes the store, bounded so a stuck close cannot hang it."""
        if self._state != "open":
            self._state = "closed"
            return
        self._state = "closed"
        with anyio.CancelScope(shield=True), anyio.move_on_after(_CLOSE_TIMEOUT_S):
            await self._app.shutdown()
            await self._app.cleanup()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> TransportResponse:
        if self._state != "open":
            raise RuntimeError(f"InProcessTransport is {self._state}")
        self.requests += 1
        url = URL(f"/v1{path}")
        if params:
            url = url.with_query(dict(params))
        body = None if json is None else jsonlib.dumps(json, allow_nan=False).encode()
        request = self._make_request(method, str(url), body)
        # Shielded: the service handles a request to its end once it has it, as the real
        # server does; a caller's cancel lands after the handler returns.
        with anyio.CancelScope(shield=True):
            response = await self._handle(request)
        return TransportResponse(
            status=response.status,
            body=_body_of(response),
            headers=dict(response.headers),
        )

    def _make_request(self, method: str, path_qs: str, body: bytes | None) -> web.Request:
        """A `web.Request` as the server would build it, from aiohttp's test helper."""
        payload: Any = aiohttp.streams.EMPTY_PAYLOAD
        if body is not None:
            # aiohttp internals: the request reads its body from a `StreamReader`; fed
            # once and closed, with a limit above the body so it never asks the protocol
            # to pause.
            reader = aiohttp.StreamReader(
                cast(Any, _NoFlowControl()), max(len(body), 2**16), loop=asyncio.get_running_loop()
            )
            reader.feed_data(body)
            reader.feed_eof()
            payload = reader
        return make_mocked_request(
            method,
            path_qs,
            headers=self._headers,
            app=self._app,
            payload=payload,
            protocol=self._connection,
            transport=self._connection,
            writer=self._connection,
            client_max_size=self.config.max_body_bytes,
        )

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        """Route, then run the app's middlewares around the handler, as
        `web.Application._handle` does (minus `Expect`, which no client of ours sends)."""
        match_info = await self._app.router.resolve(request)
        match_info.add_app(self._app)
        match_info.freeze()
        # aiohttp internals: the server sets the resolved match info on the request this
        # way (`Application._handle`); `make_mocked_request` set a placeholder.
        request._match_info = match_info
        handler: _Handler = match_info.handler
        # Each middleware takes the request and the next handler (the service's are all
        # `@web.middleware`, checked on start); the first listed is outermost, as in aiohttp.
        for middleware in reversed(self._app.middlewares):
            handler = functools.partial(middleware, handler=handler)
        try:
            return await handler(request)
        except web.HTTPException as exc:
            # Only what escapes the service's own error middleware: rendered as
            # aiohttp's server renders it.
            return exc
        except Exception:
            # The real server answers 500 to an unhandled exception; so does this.
            log.exception("in_process_unhandled_error", method=request.method, path=request.path)
            body = {
                "message": "An unexpected server error has occurred.",
                "status": 500,
                "field": None,
                "code": "internal_error",
            }
            return web.json_response(body, status=500)


def _body_of(response: web.StreamResponse) -> Any:
    """The response's JSON body; `{"message": text}` for text, None for no body (the
    handlers return `web.Response`, whose body is bytes)."""
    if not isinstance(response, web.Response) or response.body is None:
        return None
    raw = response.body
    if not isinstance(raw, bytes | bytearray):
        raise TypeError(f"in-process response body is {type(raw).__name__}, not bytes")
    return parse_body(bytes(raw).decode(response.charset or "utf-8"))
