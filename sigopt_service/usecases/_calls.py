"""Where the use cases run: on the one store thread, or (the hot path) right on the loop.

Store and engine are synchronous. Every use case does its store and engine work in one
function handed to `StoreCalls.call`, which runs it on the one `StoreThread`: SQLite sees
a single writer, in arrival order, and the event loop never blocks on a query. The hot
path (`call_hot`: a suggestion from a model-free engine, an observation, without fsync)
runs on the loop when the thread is idle and the caches are warm, since that work takes
less time than the hand-off; anything that can take milliseconds never does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

import structlog

from sigopt_service.engine import Engine
from sigopt_service.errors import StoreError
from sigopt_service.store import CachingStore, StoreThread

log = structlog.get_logger()

P = ParamSpec("P")
R = TypeVar("R")


class StoreCalls:
    """Runs synchronous store/engine work for the async use cases; owns the store thread."""

    def __init__(self, store: CachingStore, engine: Engine) -> None:
        self._store = store
        self._engine = engine
        self.runner = StoreThread()

    def __repr__(self) -> str:
        return f"<StoreCalls {self.runner!r} store={self._store!r}>"

    def start(self) -> None:
        self.runner.start()

    async def aclose(self) -> None:
        """Run what is queued, then stop the thread (see `StoreThread.aclose`)."""
        await self.runner.aclose()

    async def call(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run store/engine work off the loop, one call at a time, in arrival order, on
        the one store thread (see `StoreThread`: a queued write always completes)."""
        result = await self.runner.call(fn, *args, **kwargs)
        await self._maintain()
        return result

    async def call_hot(
        self, experiment_id: int, work: Callable[[], R], *, asks: bool, counts: bool = False
    ) -> R:
        """`call` for the hot path (create a suggestion, report an observation): when the
        work is known to be quick and nothing is queued before it, it runs right here on
        the loop (`StoreThread.run_now_if_idle`); otherwise as `call`. `asks`: the work
        asks the engine for new assignments; `counts`: it reads the experiment's counts
        (the budget guard)."""
        if self._store.writes_are_quick:  # else every commit fsyncs
            ran, result = self.runner.run_now_if_idle(
                work, quick=lambda: self._is_warm(experiment_id, asks=asks, counts=counts)
            )
            if ran:
                await self._maintain()
                return result  # type: ignore[return-value]  # ran: `work`'s own result
        return await self.call(work)

    def _is_warm(self, experiment_id: int, *, asks: bool, counts: bool) -> bool:
        """Whether the work on this experiment reads nothing cold: the experiment (and,
        if it reads them, its counts) cached, and when it asks, a model-free engine warm.
        Asked by `run_now_if_idle` while it holds the store, so reading it is safe."""
        # When it asks, it serves a queued suggestion first: warm only if none waits.
        if not self._store.is_warm(experiment_id, counts=counts, queue=asks):
            return False
        if counts and self._store.peek_experiment(experiment_id).tasks:
            return False  # a multitask budget check reads the history (`Core.check_budget`)
        return not asks or self._engine.ask_is_quick(self._store.peek_experiment(experiment_id))

    async def _maintain(self) -> None:
        """Slow housekeeping (a WAL checkpoint that syncs the file), on the thread. The
        caller's write is committed already: a failed checkpoint is logged, not raised
        (the WAL still holds every commit; the next one tries again)."""
        if self._store.maintenance_due:
            try:
                await self.runner.call(self._store.maintain)
            except StoreError as exc:
                log.warning("checkpoint_failed", error=str(exc))
