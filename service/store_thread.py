"""The one thread that runs every store and engine call, in arrival order.

```python
runner = StoreThread()
runner.start()
result = await runner.call(store.get_experiment, 7)   # from the event loop
await runner.aclose()                                   # drains, then joins the thread
```
Why not `anyio.to_thread.run_sync` with a `CapacityLimiter(1)`: that pays a thread
hand-off and a loop wake-up for every call (~75 us, measured), which was the largest single
cost of a suggest+observe cycle. Here calls queued while the thread is busy run in the same
wake-up and their results come back to the loop in one callback, so under load the
hand-off is paid per batch. One thread keeps SQLite's single writer and the engine's
single caller, as the limiter did.

A call whose awaiting task is cancelled still runs to completion in the thread (its result
is dropped): a write that was queued is never half done, so what the store holds and what
the engine believes never diverge.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import anyio
import anyio.to_thread

P = ParamSpec("P")
R = TypeVar("R")

_Job = tuple[Callable[[], Any], "asyncio.Future[Any]", asyncio.AbstractEventLoop]
_Done = tuple["asyncio.Future[Any]", bool, Any]


def _deliver(done: list[_Done]) -> None:
    """Runs on the event loop: hand each result to its (possibly cancelled) future."""
    for future, ok, value in done:
        if future.cancelled():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


class StoreThread:
    def __init__(self, name: str = "store") -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)

    def __repr__(self) -> str:
        state = "running" if self._thread.is_alive() else "stopped"
        return f"<StoreThread {self._thread.name} {state}>"

    def start(self) -> None:
        self._thread.start()

    async def call(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._jobs.put((lambda: fn(*args, **kwargs), future, loop))
        return await future

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            batch: list[_Job] = []
            while job is not None:
                batch.append(job)
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
            by_loop: dict[asyncio.AbstractEventLoop, list[_Done]] = {}
            for fn, future, loop in batch:
                try:
                    done: _Done = (future, True, fn())
                except BaseException as exc:  # handed to the awaiting task, raised there
                    done = (future, False, exc)
                by_loop.setdefault(loop, []).append(done)
            for loop, results in by_loop.items():
                # The loop may be gone if its service stopped uncleanly; nothing awaits then.
                if not loop.is_closed():
                    loop.call_soon_threadsafe(_deliver, results)
            if job is None:
                return

    async def aclose(self) -> None:
        """Run what is queued, then stop the thread (waited for off the loop)."""
        if self._thread.is_alive():
            self._jobs.put(None)
            await anyio.to_thread.run_sync(self._thread.join)
