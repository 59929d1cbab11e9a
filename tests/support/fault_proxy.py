"""A reverse proxy for tests that injects the network faults a real deployment sees.

`FaultProxy(upstream_url, plan=...)` listens on 127.0.0.1 (port 0) and forwards every
request to the upstream unless its plan picks a fault for it:

| fault          | what the client sees                                  | upstream acted? |
|----------------|-------------------------------------------------------|-----------------|
| `error_500`    | 500 (also 502, 503 via `error_502`, `error_503`)     | no              |
| `throttle_429` | 429 with `Retry-After: <retry_after>`                 | no              |
| `drop_before`  | the connection closes before any answer               | no              |
| `drop_after`   | the connection closes; the upstream's answer is lost  | **yes**         |
| `latency`      | the normal answer, `latency_s` late                   | yes             |

`drop_after` is the ambiguous case exactly-once logic must survive. Plans: any callable
`(method, path_qs) -> FaultKind | None`; `RandomFaults` (seeded rates per kind); or
`ScriptedFaults` (a list of faults for the next N requests matching a method and path regex).
`injected` counts the faults really injected, so tests can assert they happened.

```python
async with FaultProxy(server_url, plan=RandomFaults({"drop_after": 0.1}, seed=1)) as proxy:
    client = ServiceClient(proxy.url, ...)
    ...
assert proxy.injected["drop_after"] > 0
```
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal, Self, get_args

import aiohttp
import anyio
from aiohttp import web

FaultKind = Literal[
    "error_500",
    "error_502",
    "error_503",
    "throttle_429",
    "drop_before",
    "drop_after",
    "latency",
]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)

#: Decides the fault for one request from its method and path with query string.
Plan = Callable[[str, str], "FaultKind | None"]

_ERROR_STATUS: dict[str, int] = {"error_500": 500, "error_502": 502, "error_503": 503}
# Hop-by-hop and length headers are the proxy's own business on each leg.
_SKIP_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "content-encoding"}
)


class RandomFaults:
    """Picks each request's fault at random with per-kind rates (their sum must be <= 1).

    Seeded, so a failing run replays exactly as long as the requests arrive in the same order.
    `match` (a regex on "METHOD path") limits faults to some requests.
    """

    def __init__(
        self, rates: Mapping[FaultKind, float], *, seed: int = 0, match: str | None = None
    ) -> None:
        unknown = set(rates) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        if sum(rates.values()) > 1.0:
            raise ValueError("fault rates must sum to at most 1")
        self.rates = dict(rates)
        self._random = random.Random(seed)
        self._match = re.compile(match) if match else None

    def __call__(self, method: str, path: str) -> FaultKind | None:
        if self._match is not None and not self._match.search(f"{method} {path}"):
            return None
        roll = self._random.random()
        for kind, rate in self.rates.items():
            if roll < rate:
                return kind
            roll -= rate
        return None


@dataclass
class ScriptRule:
    """The next requests matching `method` and `path` (regexes, searched) get `faults` in
    order, one each; None lets a request through untouched."""

    method: str
    path: str
    faults: list[FaultKind | None] = field(default_factory=list)

    def matches(self, method: str, path: str) -> bool:
        return bool(re.fullmatch(self.method, method) and re.search(self.path, path))


class ScriptedFaults:
    """Deterministic plan: the first rule matching a request with faults left supplies them."""

    def __init__(self, *rules: tuple[str, str, Sequence[FaultKind | None]]) -> None:
        self.rules = [ScriptRule(m, p, list(f)) for m, p, f in rules]

    def __call__(self, method: str, path: str) -> FaultKind | None:
        for rule in self.rules:
            if rule.faults and rule.matches(method, path):
                return rule.faults.pop(0)
        return None

    @property
    def is_exhausted(self) -> bool:
        return all(not rule.faults for rule in self.rules)


@dataclass(frozen=True)
class ProxiedRequest:
    method: str
    path: str
    fault: FaultKind | None


class FaultProxy:
    """A loopback reverse proxy in front of `upstream_url` that injects faults per `plan`."""

    def __init__(
        self,
        upstream_url: str,
        *,
        plan: Plan | None = None,
        latency_s: float = 0.05,
        retry_after: str = "0",
    ) -> None:
        self.upstream_url = upstream_url.rstrip("/")
        self.plan: Plan = plan if plan is not None else (lambda method, path: None)
        self.latency_s = latency_s
        self.retry_after = retry_after
        self.injected: Counter[str] = Counter()
        self.forwarded = 0
        self.requests: list[ProxiedRequest] = []
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._port: int | None = None

    def __repr__(self) -> str:
        return (
            f"FaultProxy({self.upstream_url!r}, url={self._port and self.url!r}, "
            f"forwarded={self.forwarded}, injected={dict(self.injected)})"
        )

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("FaultProxy is not started")
        return f"http://127.0.0.1:{self._port}"

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        # Shielded and bounded: a test that failed by cancellation still frees the port.
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            if self._runner is not None:
                await self._runner.cleanup()
                self._runner = None
            if self._session is not None:
                await self._session.close()
                self._session = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        fault = self.plan(request.method, request.path_qs)
        self.requests.append(ProxiedRequest(request.method, request.path_qs, fault))
        if fault is not None:
            self.injected[fault] += 1
        if fault is not None and fault in _ERROR_STATUS:
            status = _ERROR_STATUS[fault]
            body = {"message": f"injected {fault}", "status": status}
            return web.json_response(body, status=status)
        if fault == "throttle_429":
            return web.json_response(
                {"message": "injected throttle", "status": 429},
                status=429,
                headers={"Retry-After": self.retry_after},
            )
        if fault == "drop_before":
            return self._drop(request)
        if fault == "latency":
            await anyio.sleep(self.latency_s)
        upstream = await self._forward(request)
        if fault == "drop_after":
            return self._drop(request)
        return upstream

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None  # set in __aenter__
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _SKIP_HEADERS}
        async with self._session.request(
            request.method,
            self.upstream_url + request.path_qs,
            headers=headers,
            data=body or None,
            allow_redirects=False,
        ) as upstream:
            payload = await upstream.read()
            out_headers = {
                k: v for k, v in upstream.headers.items() if k.lower() not in _SKIP_HEADERS
            }
            self.forwarded += 1
            return web.Response(status=upstream.status, body=payload, headers=out_headers)

    @staticmethod
    def _drop(request: web.Request) -> web.StreamResponse:
        # Closing the socket makes the client see a disconnect with no answer; aiohttp then
        # fails to write the placeholder response and treats it as a premature disconnect.
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=599)
