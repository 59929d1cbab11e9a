"""The client's lower layer: one HTTP request to the service, with no SigOpt knowledge.

A transport sends one request and returns the status, the parsed JSON body and the headers.
It never retries and never interprets the status; `client.ServiceClient` does both. Network
failures are translated here, once, into `errors.TransientServiceError` (httpx's
`map_httpcore_exceptions`), so nothing above this module sees an aiohttp exception.

Usage sketch:
```python
async with AiohttpTransport("http://127.0.0.1:8080", token="T") as transport:
    response = await transport.request("GET", "/experiments/1")   # GET .../v1/experiments/1
```
`MockTransport(handler)` is the test double (httpx `MockTransport`): it calls
`handler(method, path, params, json)` instead of the network.
"""

from __future__ import annotations

import inspect
import json as jsonlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, Self

import aiohttp
import anyio

from orchestrator.errors import ServiceError, TransientServiceError

__all__ = [
    "AiohttpTransport",
    "MockHandler",
    "MockTransport",
    "RecordedRequest",
    "Transport",
    "TransportResponse",
    "parse_body",
    "request_headers",
]

#: How long closing the session may take during shutdown before we give up on it.
_CLOSE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class TransportResponse:
    """One HTTP answer: `body` is the parsed JSON, `{"message": text}` for a non-JSON body
    (as the official client reads it), or None when the body is empty."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


class Transport(Protocol):
    """Sends one request; `path` is below `/v1` (e.g. "/experiments/1/suggestions").

    Raises `TransientServiceError` when no answer arrived (connect failure, timeout,
    disconnect) and never raises for an HTTP status. Safe to cancel at every await.
    """

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> TransportResponse: ...


def parse_body(text: str) -> Any:
    """A response body as `TransportResponse.body` holds it (shared by every transport)."""
    if not text:
        return None
    try:
        return jsonlib.loads(text)
    except ValueError:
        return {"message": text}


def request_headers(token: str | None) -> dict[str, str]:
    """The headers of every request (shared by every transport): JSON both ways, and the
    token as the official client sends it, HTTP Basic with the token as the username and
    an empty password (aiohttp deprecates `auth=`; the header is the same)."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token is not None:
        headers["Authorization"] = aiohttp.encode_basic_auth(token, "")
    return headers


class AiohttpTransport:
    """The real transport: one `aiohttp.ClientSession` reused for every request.

    The session is created lazily on the first request (it must be created inside the
    running event loop) and closed by `aclose()`. Auth is HTTP Basic with the token as the
    username and an empty password, exactly as the official client sends it.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        connect_timeout_s: float = 10.0,
        request_timeout_s: float = 60.0,
    ) -> None:
        # The official client appends /v1 itself; stripping the slash avoids its `//v1`.
        self.base_url = base_url.rstrip("/")
        self._headers = request_headers(token)
        self._timeout = aiohttp.ClientTimeout(
            total=request_timeout_s, sock_connect=connect_timeout_s
        )
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._session else "idle"
        return f"AiohttpTransport({self.base_url!r}, {state})"

    async def __aenter__(self) -> Self:
        self._ensure_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("AiohttpTransport is closed")
        # No await between the check and the assignment, so concurrent first requests
        # cannot create two sessions.
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout, headers=self._headers)
        return self._session

    async def aclose(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is None:
            return
        # Shielded so a cancelled shutdown still releases the sockets, bounded so a stuck
        # close cannot hang it.
        with anyio.CancelScope(shield=True), anyio.move_on_after(_CLOSE_TIMEOUT_S):
            await session.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> TransportResponse:
        session = self._ensure_session()
        url = f"{self.base_url}/v1{path}"
        data = None if json is None else jsonlib.dumps(json, allow_nan=False)
        try:
            async with session.request(
                method, url, params=dict(params) if params else None, data=data
            ) as resp:
                text = await resp.text()
                return TransportResponse(
                    status=resp.status, body=parse_body(text), headers=dict(resp.headers)
                )
        except aiohttp.ConnectionTimeoutError as exc:
            # Checked before its ServerTimeoutError base: the request was never sent.
            raise TransientServiceError(
                "connect timeout", method=method, path=path, ambiguous=False
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            # Refused, unreachable or DNS failure: nothing reached the service.
            raise TransientServiceError(
                f"cannot connect: {exc.os_error}", method=method, path=path, ambiguous=False
            ) from exc
        except aiohttp.ServerDisconnectedError as exc:
            raise TransientServiceError("server disconnected", method=method, path=path) from exc
        except (aiohttp.ServerTimeoutError, TimeoutError) as exc:
            # Read timeout (SocketTimeoutError) or the total request timeout: the service
            # may still be working on the request.
            raise TransientServiceError("request timeout", method=method, path=path) from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            # Resets and OS errors after connecting, truncated bodies.
            raise TransientServiceError(
                f"connection error: {exc!r}", method=method, path=path
            ) from exc
        except aiohttp.ClientError as exc:
            # Invalid URL and the like: retrying cannot help.
            raise ServiceError(f"request failed: {exc!r}", method=method, path=path) from exc


@dataclass(frozen=True)
class RecordedRequest:
    """A request `MockTransport` received, for assertions."""

    method: str
    path: str
    params: Mapping[str, str] | None
    json: Any


MockHandler = Callable[
    [str, str, Mapping[str, str] | None, Any],
    TransportResponse | Awaitable[TransportResponse],
]


class MockTransport:
    """Test double: answers with `handler(method, path, params, json)`, sync or async.

    The handler may raise (e.g. `TransientServiceError`) to simulate network failures.
    Every request is appended to `requests` before the handler runs, so a request the
    handler "loses" still counts as sent.
    """

    def __init__(self, handler: MockHandler) -> None:
        self.handler = handler
        self.requests: list[RecordedRequest] = []

    def __repr__(self) -> str:
        return f"MockTransport(requests={len(self.requests)})"

    def count(self, method: str, path: str | None = None) -> int:
        """How many requests with this method (and exact path, if given) were sent."""
        return sum(
            1 for r in self.requests if r.method == method and (path is None or r.path == path)
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> TransportResponse:
        self.requests.append(RecordedRequest(method, path, dict(params) if params else None, json))
        result = self.handler(method, path, params, json)
        if inspect.isawaitable(result):
            return await result
        return result
