"""The one thread that runs every store and engine call, in arrival order.

```python
runner = StoreThread()
runner.start()
result = await runner.call(store.get_experiment, 7)   # from the event loop
await runner.aclose()                                   # drains, then stops the thread
```
Why not `anyio.to_thread.run_sync` with a `CapacityLimiter(1)`: that pays a thread
hand-off and a loop wake-up for every call, which was the largest single cost of a
suggest+observe cycle. Here calls queued while the thread is busy run in the same
wake-up and their results go back to the loop together, so under load the hand-off is paid
per batch; results are flushed after any job once the batch has run for `FLUSH_AFTER_S`,
so a quick call waits behind at most one slow job (an optimizer ask), not a whole batch.
One thread keeps SQLite's single writer and the engine's single caller, as the limiter did.

A call whose awaiting task is cancelled still runs to completion in the thread (its result
is dropped): a write that was queued is never half done, so what the store holds and what
the engine believes never diverge.

`run_now_if_idle` is the hot path's shortcut: when nothing is queued or running, a call the
caller knows to be quick (a SQLite write without fsync, a random ask) runs right here on
the loop. The hand-off and the two wake-ups cost more than such a call (the figures are
in docs/benchmark-results.md), and a request then runs to completion in arrival order
instead of every handler waiting for the thread's batch, which kept parallel workers in
lock-step. The order of calls is kept:
the shortcut is refused while any earlier call is unfinished.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import anyio
import anyio.to_thread

P = ParamSpec("P")
R = TypeVar("R")

#: Hand results back once a batch has run this long, instead of at its end.
FLUSH_AFTER_S = 0.001

_Job = tuple[Callable[[], Any], "asyncio.Future[Any]", asyncio.AbstractEventLoop]
_Done = tuple["asyncio.Future[Any]", bool, Any]


class StoreThreadStopped(RuntimeError):
    """A call arrived after the store thread stopped (the service is shutting down)."""


def _deliver(done: list[_Done]) -> None:
    """Runs on the event loop: hand each result to its (possibly cancelled) future."""
    for future, ok, value in done:
        if future.cancelled():
            continue
        if ok:
            future.set_result(value)
        elif isinstance(value, StopIteration):
            # A future refuses StopIteration (it would end a generator); keep its meaning.
            future.set_exception(RuntimeError(f"StopIteration: {value}"))
        else:
            future.set_exception(value)


class StoreThread:
    """One daemon thread that runs the calls handed to it in order (see the module
    docstring); `start()` it, `call()` from the event loop, `aclose()` at shutdown."""

    def __init__(self, name: str = "store") -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._stopped = False
        # Calls queued and not yet finished, guarded by the (briefly held) `_count_lock`.
        # `_running` is held by whoever runs a call, the thread or an inline caller, so the
        # two never overlap; it is taken before `_count_lock`, never after.
        self._unfinished = 0
        self._count_lock = threading.Lock()
        self._running = threading.Lock()

    def __repr__(self) -> str:
        state = "running" if self._thread.is_alive() else "stopped"
        return f"<StoreThread {self._thread.name} {state}>"

    def start(self) -> None:
        self._thread.start()

    async def call(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        if self._stopped or not self._thread.is_alive():
            raise StoreThreadStopped("the store thread is not running")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        with self._count_lock:
            self._unfinished += 1
        self._jobs.put((lambda: fn(*args, **kwargs), future, loop))
        return await future

    def run_now_if_idle(
        self, fn: Callable[[], R], *, quick: Callable[[], bool]
    ) -> tuple[bool, R | None]:
        """Run `fn` in the calling thread if no earlier call is queued or running and
        `quick()` (asked then, so no call can change its answer before `fn` runs) says
        it takes microseconds: `(True, result)`; otherwise `(False, None)` and the caller
        should `call` it. It blocks the caller's event loop while it runs."""
        if self._stopped or not self._thread.is_alive():
            raise StoreThreadStopped("the store thread is not running")
        if not self._running.acquire(blocking=False):
            return False, None
        try:
            with self._count_lock:
                if self._unfinished:
                    return False, None
            if not quick():
                return False, None
            return True, fn()
        finally:
            self._running.release()

    def _work(self) -> None:
        stop = False
        while not stop:
            job = self._jobs.get()
            pending: dict[asyncio.AbstractEventLoop, list[_Done]] = {}
            started = time.perf_counter()
            while job is not None:
                fn, future, loop = job
                with self._running:
                    try:
                        done: _Done = (future, True, fn())
                    except BaseException as exc:  # handed to the awaiting task, raised there
                        done = (future, False, exc)
                    with self._count_lock:
                        self._unfinished -= 1
                pending.setdefault(loop, []).append(done)
                if time.perf_counter() - started > FLUSH_AFTER_S:
                    self._flush(pending)
                    started = time.perf_counter()
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
            else:
                stop = True
            self._flush(pending)

    @staticmethod
    def _flush(pending: dict[asyncio.AbstractEventLoop, list[_Done]]) -> None:
        for loop, results in pending.items():
            # A loop closed meanwhile has nobody awaiting these results.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_deliver, results)
        pending.clear()

    async def aclose(self) -> None:
        """Run what is queued, then stop the thread; the wait for it is abandoned (not
        the thread) if the caller is cancelled, so a bounded shutdown stays bounded."""
        self._stopped = True
        if self._thread.is_alive():
            self._jobs.put(None)
            await anyio.to_thread.run_sync(self._thread.join, abandon_on_cancel=True)
