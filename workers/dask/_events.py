"""What the run hears from the cluster, as Dask events: where each of its tasks runs,
that a worker running one was lost, and that a killed task's evaluation is gone.

Dask tells a client nothing when a worker holding its task dies: the scheduler either
fails the task (`KilledWorker`, once `allowed-failures` is exceeded) or quietly runs it
again elsewhere. The coordinator must hear of the loss at once, as an infrastructure
fault, and be the only one to re-run. So:

- each task logs `started` on the run's topic, with its worker's address; the run then
  subscribes to that worker's own topic, where the scheduler logs `remove-worker` with
  the tasks it was processing: those tasks are lost;
- a second `started` for one key is Dask re-running a task after a loss it did not tell
  (a worker lost before the run had subscribed to it): lost too.

A lost task's future is cancelled with the reason `WORKER_LOST`, which `DaskWorker`
turns into `BrokenWorker`; the cancel also stops a Dask re-run. A task that was released
(cancelled) logs `ended` once it has killed its evaluation, which a cancelled
`evaluate` waits for (bounded).
"""

from __future__ import annotations

import functools
from typing import Any

import anyio
import structlog
from distributed import Client, Future

from workers.dask._wire import EVENT_ENDED, EVENT_STARTED

__all__ = ["WORKER_LOST", "ClusterEvents"]

log = structlog.get_logger()

#: The cancel reason of a future whose worker was lost.
WORKER_LOST = "sigopt-worker-lost"


class ClusterEvents:
    """The run's tasks as the cluster's events tell of them; see the module docstring.

    `track` a future before its task can start, `forget` it once its outcome is in.
    """

    def __init__(self, client: Client, topic: str) -> None:
        self._client = client
        self._topic = topic
        self._futures: dict[str, Future[Any]] = {}
        self._workers: dict[str, str] = {}  # key -> the worker it started on
        self._ended: dict[str, anyio.Event] = {}
        self._lost: dict[str, str] = {}  # key -> why
        self._watched: set[str] = set()
        client.subscribe_topic(topic, self._on_task_event)

    def __repr__(self) -> str:
        running = len(self._workers)
        return (
            f"<ClusterEvents {self._topic} tracked={len(self._futures)} running={running} "
            f"workers_watched={len(self._watched)} lost={len(self._lost)}>"
        )

    def track(self, key: str, future: Future[Any]) -> None:
        self._futures[key] = future
        self._ended[key] = anyio.Event()

    def forget(self, key: str) -> None:
        for table in (self._futures, self._workers, self._ended, self._lost):
            table.pop(key, None)

    def worker_of(self, key: str) -> str | None:
        """The worker the task started on, once its `started` event came."""
        return self._workers.get(key)

    def lost_because(self, key: str) -> str | None:
        """Why the task's worker counts as lost, if it does."""
        return self._lost.get(key)

    async def wait_ended(self, key: str, timeout_s: float) -> bool:
        """Whether the task said, within `timeout_s`, that it killed its evaluation. At
        once False for a task that never said it started (nothing ran, or nothing will
        tell) or whose worker is lost."""
        ended = self._ended.get(key)
        if ended is None or key not in self._workers or key in self._lost:
            return False
        with anyio.move_on_after(timeout_s):
            await ended.wait()
        return ended.is_set()

    async def _on_task_event(self, event: tuple[float, dict[str, Any]]) -> None:
        _, message = event
        key = message.get("key")
        if not isinstance(key, str) or key not in self._futures:
            return  # a task of an evaluation already over
        worker = str(message.get("worker"))
        if message.get("event") == EVENT_ENDED:
            self._ended[key].set()
        elif message.get("event") == EVENT_STARTED:
            first = self._workers.setdefault(key, worker)
            if first != worker or key in self._lost:
                await self._lose([key], f"Dask ran the task again, on {worker}, after {first}")
            elif worker not in self._watched:
                self._watched.add(worker)
                self._client.subscribe_topic(
                    worker, functools.partial(self._on_worker_event, worker)
                )

    async def _on_worker_event(self, worker: str, event: tuple[float, dict[str, Any]]) -> None:
        _, message = event
        if message.get("action") != "remove-worker":
            return
        self._watched.discard(worker)
        self._client.unsubscribe_topic(worker)
        processing = set(message.get("processing-tasks", ()))
        # A worker that died takes with it the results it held, too; one retired on
        # purpose hands them over first, so only what it was running is lost.
        died = not message.get("expected", False)
        lost = [
            key
            for key, where in self._workers.items()
            if where == worker and (died or key in processing)
        ]
        await self._lose(lost, f"Dask worker {worker} was lost")

    async def _lose(self, keys: list[str], why: str) -> None:
        keys = [key for key in keys if key not in self._lost]
        if not keys:
            return
        log.warning("dask_worker_lost", why=why, evaluations=len(keys))
        for key in keys:
            self._lost[key] = why
        # Sent on the batched stream, and the futures marked cancelled at once: their
        # `evaluate` wakes with the reason. This also stops a re-run Dask started.
        await self._client.cancel([self._futures[key] for key in keys], reason=WORKER_LOST, msg=why)
