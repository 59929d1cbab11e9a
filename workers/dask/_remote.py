"""The Dask task: one evaluation, run on a Dask worker, that stops itself when released.

`run_evaluation` is a coroutine function, so Dask runs it on the worker's event loop
(still one at a time per worker thread). It gives the evaluation a folder of its own on
the worker's host and runs it there:

- a `command` through `SubprocessWorker`, so with the subprocess kind's contract to the
  letter: the argv template (`{python}` is the Dask worker's interpreter), the Dask
  worker's environment plus `workers.env` and the `SIGOPT_*` variables, the result file,
  stdout and stderr in the folder, its own process group, SIGTERM, grace, SIGKILL;
- a `function` in a warm child process of the worker (`_child`), killed on a stop.

Dask cannot interrupt a running task: when the task is released (the orchestrator
cancelled it, or its client is gone, which ends the run's tasks) the task carries on
unless it notices. So it watches its own state in the worker every `RELEASE_POLL_S`
(a dict lookup, no message), and once released it kills its evaluation, logs `ended` on
the run's topic, and returns. A Dask worker closing cancels its async tasks, which kills
their evaluations the same way. A worker killed with -9 can do none of that: its reaper
does (`_reaper`).

The outcome is read on the worker's host, since the run folder need not be shared, and
sent back with the tails of the command's output (`RemoteOutcome`).
"""

from __future__ import annotations

import functools
import logging
import shutil
import signal
import socket
import sys
from pathlib import Path
from uuid import uuid4

import anyio
import anyio.to_process
import anyio.to_thread
import distributed
import structlog
from anyio import BrokenWorkerProcess

from workers.base import Evaluation, Failed, Outcome
from workers.dask._child import BROKEN_WORKER_REASON, call_objective
from workers.dask._reaper import worker_host
from workers.dask._wire import EVENT_ENDED, EVENT_STARTED, RemoteEvaluation, RemoteOutcome
from workers.errors import BrokenWorker
from workers.subprocess import (
    GROUP_FILE,
    RESULT_FILE,
    STDERR_FILE,
    STDERR_TAIL_BYTES,
    STDOUT_FILE,
    SubprocessWorker,
    read_result,
    read_tail,
    signal_group,
)

__all__ = ["RELEASE_POLL_S", "run_evaluation"]

#: How often a running task looks whether it was released: the delay before a stop
#: reaches the evaluation's processes.
RELEASE_POLL_S = 0.1
#: The states of a task the scheduler still wants run ("resumed": released, then asked
#: for again before it noticed).
_WANTED_STATES = frozenset({"executing", "long-running", "resumed"})


async def run_evaluation(spec: RemoteEvaluation) -> RemoteOutcome | None:
    """Run one evaluation on this Dask worker; None when it was released meanwhile
    (nobody waits for that result). Raises `BrokenWorker` when this worker cannot run
    it (no such executable, the function does not import here, its process died)."""
    worker = distributed.get_worker()
    _configure_logs()
    host = await anyio.to_thread.run_sync(worker_host)
    name = f"{spec.evaluation_id}-{spec.attempt}-{uuid4().hex[:8]}"
    folder = await anyio.to_thread.run_sync(host.evaluation_folder, name)
    worker.log_event(
        spec.topic, {"key": spec.key, "event": EVENT_STARTED, "worker": worker.address}
    )
    released = False
    remote: RemoteOutcome | BrokenWorker | None = None
    try:
        async with anyio.create_task_group() as tg:

            async def watch_release() -> None:
                nonlocal released
                # Polled: the worker's state machine has no event a task could await.
                while _is_wanted(worker, spec.key):  # noqa: ASYNC110
                    await anyio.sleep(RELEASE_POLL_S)
                released = True
                tg.cancel_scope.cancel()

            tg.start_soon(watch_release)
            # Caught here: raised through the task group it would come out wrapped in
            # an exception group, which the orchestrator would not know as ours.
            try:
                remote = await _evaluate(spec, folder, worker.address)
            except BrokenWorker as exc:
                remote = exc
            tg.cancel_scope.cancel()
    finally:
        # Shielded: also after a cancellation (the worker closing), the folder goes.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(shutil.rmtree, folder, True)
    # Also when the release came just as the evaluation ended on its own: the canceller
    # waits for this either way.
    if released or not _is_wanted(worker, spec.key):
        worker.log_event(spec.topic, {"key": spec.key, "event": EVENT_ENDED})
    if released:
        return None
    if isinstance(remote, BrokenWorker):
        raise remote
    return remote


@functools.cache
def _configure_logs() -> None:
    """Warnings and errors only, to stderr, unless the Dask worker's own set-up (a
    preload) configured structlog: a LocalCluster's workers share the user's terminal
    with the live panel, and structlog's default prints every debug event to stdout."""
    if not structlog.is_configured():
        structlog.configure(
            wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
            logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        )


def _is_wanted(worker: distributed.Worker, key: str) -> bool:
    task = worker.state.tasks.get(key)
    return task is not None and task.state in _WANTED_STATES


async def _evaluate(spec: RemoteEvaluation, folder: Path, address: str) -> RemoteOutcome:
    if spec.command is not None:
        return await _run_command(spec, folder, address)
    return await _run_function(spec, folder, address)


async def _run_command(spec: RemoteEvaluation, folder: Path, address: str) -> RemoteOutcome:
    assert spec.command is not None
    async with SubprocessWorker(
        spec.command,
        env=spec.env,
        cwd=Path(spec.cwd) if spec.cwd is not None else None,
        kill_grace_s=spec.kill_grace_s,
        shell=spec.shell,
        max_output_bytes=spec.max_output_bytes,
    ) as runner:
        outcome = await runner.evaluate(_evaluation(spec, folder))
    stdout, stderr, result = await anyio.to_thread.run_sync(
        _read_outputs, folder, spec.max_output_bytes
    )
    return RemoteOutcome(
        outcome,
        worker=address,
        host=socket.gethostname(),
        stdout=stdout,
        stderr=stderr,
        result_file=result,
    )


def _evaluation(spec: RemoteEvaluation, folder: Path) -> Evaluation:
    """The evaluation as this worker's host runs it, in `folder`."""
    return Evaluation(
        id=spec.evaluation_id,
        assignments=dict(spec.assignments),
        workdir=folder,
        attempt=spec.attempt,
        task=spec.task,
    )


def _read_outputs(folder: Path, max_bytes: int) -> tuple[bytes, bytes, bytes | None]:
    result = read_result(folder / RESULT_FILE, max_bytes)
    return (
        read_tail(folder / STDOUT_FILE, max_bytes)[0],
        read_tail(folder / STDERR_FILE, STDERR_TAIL_BYTES)[0],
        None if result is None else result[0],
    )


async def _run_function(spec: RemoteEvaluation, folder: Path, address: str) -> RemoteOutcome:
    assert spec.function is not None
    finished = False
    try:
        outcome: Outcome = await anyio.to_process.run_sync(
            call_objective,
            spec.function,
            spec.import_path,
            _evaluation(spec, folder),
            cancellable=True,
        )
        finished = True
    except BrokenWorkerProcess as exc:
        raise BrokenWorker(
            f"the process evaluating {spec.function!r} on Dask worker {address} died"
        ) from exc
    finally:
        if not finished:
            # anyio killed the child (a stop) or it died: what it started lives on in its
            # process group, unless killed too.
            _kill_recorded_group(folder)
    if isinstance(outcome, Failed) and outcome.reason == BROKEN_WORKER_REASON:
        raise BrokenWorker(str(outcome.details.get("message", spec.function)))
    return RemoteOutcome(outcome, worker=address, host=socket.gethostname())


def _kill_recorded_group(folder: Path) -> None:
    """SIGKILL the group a function's child recorded (`call_objective`); a small read of
    a file the child wrote, done on the loop because this runs on cancellation."""
    try:
        pgid = int((folder / GROUP_FILE).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return  # the child never got as far as recording it: nothing it started
    signal_group(pgid, signal.SIGKILL)
