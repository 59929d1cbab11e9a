"""The HTTP floor: what two loopback round trips cost with nothing behind them.

A bare aiohttp server answers every request with `{}`; the client posts a small JSON
body through one reused `aiohttp.ClientSession`, reads and parses the answer, exactly
the work a suggest or observe needs from the network stack. Server and client share
one event loop, as the embedded service and the coordinator do, so the floor is the
cost the orchestrator could never go below.

```python
async with bare_server() as url:
    per_cycle_s = await floor_cycles(url, cycles=2000)        # sequential, 2 trips each
    per_s = await floor_throughput(url, concurrency=16, cycles=2000)
```
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import anyio
from aiohttp import web

ROUND_TRIPS_PER_CYCLE = 2
_BODY = json.dumps({"metadata": {"run_id": "bench", "worker_slot": 0}})
HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


async def _empty(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(text="{}", content_type="application/json")


@asynccontextmanager
async def bare_server() -> AsyncIterator[str]:
    """A loopback server on a free port answering `{}` to any POST; yields its base URL."""
    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", _empty)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(10):
            await runner.cleanup()


async def _round_trip(session: aiohttp.ClientSession, url: str) -> None:
    async with session.post(url, data=_BODY) as resp:
        json.loads(await resp.text())


async def cycle(session: aiohttp.ClientSession, url: str) -> None:
    """Two sequential round trips: the network share of one suggest + observe."""
    for _ in range(ROUND_TRIPS_PER_CYCLE):
        await _round_trip(session, url)


async def floor_cycles(url: str, *, cycles: int, warmup: int = 200) -> list[float]:
    """Seconds per cycle (two sequential round trips), one sample per cycle."""
    target = f"{url}/v1/floor"
    samples: list[float] = []
    async with aiohttp.ClientSession(headers=HEADERS) as session:
        for _ in range(warmup):
            await cycle(session, target)
        for _ in range(cycles):
            start = time.perf_counter()
            await cycle(session, target)
            samples.append(time.perf_counter() - start)
    return samples


async def floor_throughput(url: str, *, concurrency: int, cycles: int) -> float:
    """Cycles per second with `concurrency` tasks sharing one session, `cycles` in all."""
    target = f"{url}/v1/floor"
    remaining = cycles

    async def loop(session: aiohttp.ClientSession) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1  # decided before the await, as the coordinator reserves budget
            await cycle(session, target)

    async with aiohttp.ClientSession(headers=HEADERS) as session:
        for _ in range(min(200, cycles)):  # open the connections, warm the paths
            await cycle(session, target)
        start = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(loop, session)
        elapsed = time.perf_counter() - start
    return cycles / elapsed
