"""`DaskWorker`: the orchestrator's side of the dask kind. Each evaluation is one Dask
task (`_remote.run_evaluation`) submitted through an asynchronous client on the
orchestrator's event loop; the package docstring has the contract.

The client is made at the first `prepare` (a connection, or a cluster started), not at
construction: building a worker is synchronous, and the cluster must live on the loop
that runs the evaluations.
"""

from __future__ import annotations

import itertools
import json
import os
import uuid
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import structlog
from distributed import Future, KilledWorker
from distributed.client import FutureCancelledError

from workers.base import ClosesOnExit, Evaluation, Outcome, WorkerSettings
from workers.dask._cluster import Connection, connect
from workers.dask._events import WORKER_LOST, ClusterEvents
from workers.dask._remote import run_evaluation
from workers.dask._wire import RemoteEvaluation, RemoteOutcome
from workers.errors import BrokenWorker
from workers.subprocess import (
    ASSIGNMENTS_FILE,
    RESULT_FILE,
    STDERR_FILE,
    STDOUT_FILE,
)

__all__ = ["DaskWorker"]

log = structlog.get_logger()

#: After a stop, how long past the kill grace to wait for the task to say its
#: evaluation's processes are gone (a SIGKILL and a reap, then an event's trip back).
ENDED_MARGIN_S = 5.0
#: The Dask key prefix of the run's tasks (what the dashboard groups them by).
KEY_PREFIX = "sigopt-evaluation"


class DaskWorker(ClosesOnExit):
    """Runs evaluations as Dask tasks: `settings.command` or `settings.function` on
    the cluster `settings` names (`scheduler`, `cluster_*`, else a LocalCluster of
    `count` processes), each task holding `settings.resources` of its worker.

    `evaluate` raises `BrokenWorker` for an infrastructure fault: the Dask worker running
    it was lost, the scheduler is gone (then every later call raises it too), or the
    worker cannot run the target. Cancelling `evaluate` cancels the task, which kills the
    evaluation's processes on its worker; the cancel waits (bounded) until it has.
    """

    def __init__(self, settings: WorkerSettings) -> None:
        if (settings.command is None) == (settings.function is None):
            raise ValueError("exactly one of settings.command and settings.function is needed")
        self._settings = settings
        # In every key: runs sharing a scheduler have suggestions of the same ids, and
        # Dask takes a second task of the same key for the first.
        self._token = uuid.uuid4().hex[:12]
        self._topic = f"{KEY_PREFIX}-{self._token}"
        self._keys = itertools.count(1)
        self._lock = anyio.Lock()
        self._connection: Connection | None = None
        self._events: ClusterEvents | None = None
        #: Why the worker is unusable for good (the scheduler was lost), once it is.
        self._broken: str | None = None
        self._closed = False
        self._running = 0

    def __repr__(self) -> str:
        target = self._settings.function or " ".join(self._settings.command or ())
        where = self._connection.address if self._connection else "not connected"
        state = "closed" if self._closed else ("broken" if self._broken else "open")
        return f"<DaskWorker {target!r} on {where} running={self._running} {state}>"

    async def prepare(self, evaluation: Evaluation) -> None:
        """Connect (or start the cluster) on first use; raises `BrokenWorker` when that
        fails, or when the worker is broken or closed."""
        await self._events_ready()

    async def evaluate(self, evaluation: Evaluation) -> Outcome:
        """Run the evaluation as one Dask task and return its outcome; see the class."""
        events = await self._events_ready()
        assert self._connection is not None
        key = f"{KEY_PREFIX}-{evaluation.id}-{evaluation.attempt}-{self._token}-{next(self._keys)}"
        future = self._connection.client.submit(
            run_evaluation,
            self._remote(evaluation, key),
            key=key,
            pure=False,
            # The coordinator re-runs after an infrastructure fault, counting each
            # (`workers.max_retries`); a retry of Dask's own would be one it does not see.
            retries=0,
            resources=dict(self._settings.resources) or None,
        )
        events.track(key, future)
        self._running += 1
        try:
            remote = await self._result(key, future, evaluation, events)
        except BrokenWorker:
            raise  # the task is over already, or its loss cancelled it
        except BaseException:
            # A stop or a deadline: the task kills the evaluation once released.
            with anyio.CancelScope(shield=True):
                await self._cancel(key, future, events)
            raise
        finally:
            self._running -= 1
            events.forget(key)
            future.release()
        if evaluation.workdir is not None:
            await anyio.to_thread.run_sync(_keep_files, evaluation, remote)
        log.debug("dask_evaluation_done", worker=remote.worker, host=remote.host)
        return remote.outcome

    async def _result(
        self, key: str, future: Future[Any], evaluation: Evaluation, events: ClusterEvents
    ) -> RemoteOutcome:
        """The task's result, its failures mapped to `BrokenWorker`."""
        try:
            remote = await future
        except FutureCancelledError as exc:
            if exc.reason == WORKER_LOST:
                raise BrokenWorker(
                    f"{events.lost_because(key) or 'its Dask worker was lost'} "
                    f"during evaluation {evaluation.id}"
                ) from exc
            # Nobody else cancels our tasks: the client lost the scheduler.
            self._broken = f"lost the Dask scheduler at {self._address()} ({exc.reason})"
            raise BrokenWorker(self._broken) from exc
        except KilledWorker as exc:
            raise BrokenWorker(
                f"the Dask worker running evaluation {evaluation.id} died: {exc}"
            ) from exc
        except BrokenWorker:
            raise
        except (OSError, TimeoutError) as exc:  # the result could not be fetched
            raise BrokenWorker(f"evaluation {evaluation.id}: {type(exc).__name__}: {exc}") from exc
        if not isinstance(remote, RemoteOutcome):  # None: the task says it was released
            raise BrokenWorker(f"the Dask task of evaluation {evaluation.id} was released")
        return remote

    async def _cancel(self, key: str, future: Future[Any], events: ClusterEvents) -> None:
        """Cancel the task and wait, bounded, for it to say its processes are gone."""
        assert self._connection is not None
        if self._connection.client.status != "running":
            return  # no scheduler to tell; the workers end what they run without one
        with anyio.move_on_after(self._settings.kill_grace_s + ENDED_MARGIN_S):
            await self._connection.client.cancel([future], reason="sigopt-stopped")
        ended = await events.wait_ended(key, timeout_s=self._settings.kill_grace_s + ENDED_MARGIN_S)
        if not ended and events.worker_of(key) is not None:
            log.warning("dask_stop_unconfirmed", key=key, worker=events.worker_of(key))

    def _remote(self, evaluation: Evaluation, key: str) -> RemoteEvaluation:
        settings = self._settings
        return RemoteEvaluation(
            key=key,
            topic=self._topic,
            evaluation_id=evaluation.id,
            assignments=dict(evaluation.assignments),
            attempt=evaluation.attempt,
            command=tuple(settings.command) if settings.command is not None else None,
            function=settings.function,
            env=dict(settings.env),
            cwd=str(settings.cwd) if settings.cwd is not None else None,
            shell=settings.shell,
            kill_grace_s=settings.kill_grace_s,
            import_path=tuple(os.fspath(p) for p in settings.import_path),
            task=evaluation.task,
        )

    async def _events_ready(self) -> ClusterEvents:
        if self._closed:
            raise BrokenWorker(f"{self!r} is closed")
        if self._broken is not None:
            raise BrokenWorker(self._broken)
        if self._events is None:
            async with self._lock:
                if self._events is None and not self._closed:
                    await self._connect()
        if self._events is None:
            raise BrokenWorker(f"{self!r} was closed while connecting")
        if self._connection is not None and self._connection.client.status != "running":
            self._broken = f"lost the Dask scheduler at {self._address()}"
            raise BrokenWorker(self._broken)
        return self._events

    async def _connect(self) -> None:
        # The client's tasks (event handlers among them) copy the context they start
        # in, which is the slot's that happens to connect first: without its bindings,
        # a worker's loss is not logged as that slot's evaluation.
        bound = structlog.contextvars.get_contextvars()
        structlog.contextvars.clear_contextvars()
        try:
            self._connection = await connect(self._settings)
            self._events = ClusterEvents(self._connection.client, self._topic)
        finally:
            structlog.contextvars.bind_contextvars(**bound)

    def _address(self) -> str:
        return self._connection.address if self._connection else "(not connected)"

    async def aclose(self) -> None:
        """Refuse further evaluations; close the client (the scheduler then releases
        what still runs, whose tasks kill it) and the cluster this run started.
        Idempotent. Bounded by Dask's close timeouts; callers shield it."""
        if self._closed:
            return
        self._closed = True
        async with self._lock:  # not while a connection is being made
            connection, self._connection = self._connection, None
        if connection is not None:
            with anyio.CancelScope(shield=True):
                await connection.aclose()


def _keep_files(evaluation: Evaluation, remote: RemoteOutcome) -> None:
    """What the evaluation folder keeps of a remote run: its assignments, the tails of
    the command's stdout and stderr, and the result file it wrote. Blocking."""
    assert evaluation.workdir is not None
    folder = evaluation.workdir
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    files: dict[str, bytes | None] = {
        ASSIGNMENTS_FILE: json.dumps(dict(evaluation.assignments)).encode(),
        STDOUT_FILE: remote.stdout or None,
        STDERR_FILE: remote.stderr or None,
        RESULT_FILE: remote.result_file,
    }
    for name, data in files.items():
        if data is not None:
            _write_private(folder / name, data)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
