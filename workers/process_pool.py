"""Run a CPU-bound Python objective in a pool of worker processes.

```python
worker = ProcessPoolWorker("examples.objectives:rosenbrock_cpu", max_workers=4)
outcome = await worker.evaluate(Evaluation(id="7", assignments={"x": 0.5}))
```

Processes come from anyio's process pool (`anyio.to_process`), which starts a fresh
interpreter per process, so the target is given by name and imported in the child, with
the same search path (and then the current working directory) first on `sys.path` there
as here (`import_target`). At
most `max_workers` evaluations of this worker run at once; further calls wait for a free
process. Cancelling `evaluate` (the caller's deadline, shutdown) kills the child with
SIGKILL; the next evaluation starts a new one. A child that dies on its own (`os._exit`,
segfault, OOM killer) raises `BrokenWorker`: that is the machine's fault, not the
parameters'. anyio owns the processes and stops idle ones when the event loop ends.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio.to_process
import structlog
from anyio import BrokenWorkerProcess, CapacityLimiter

from workers.async_function import (
    check_function_importable,
    check_function_settings,
    describe_exception,
    import_target,
)
from workers.base import (
    ClosesOnExit,
    Evaluation,
    Failed,
    Outcome,
    Worker,
    WorkerKind,
    WorkerSettings,
    outcome_from_result,
)
from workers.errors import BrokenWorker

__all__ = ["PROCESS_KIND", "ProcessPoolWorker"]

log = structlog.get_logger()


def _call_target(
    target: str, search_path: tuple[Path, ...], assignments: dict[str, Any]
) -> Outcome:
    """Runs in the child: import the target, call it, and return an `Outcome`.

    The result is turned into an `Outcome` here, not in the parent, so only our own small
    frozen dataclasses cross the pipe: an objective returning an unpicklable object, or
    raising an unpicklable exception, still yields a clean `Failed`.
    """
    # The child shares the orchestrator's process group, so Ctrl-C reaches it too. The
    # parent owns signals: it cancels the evaluation, which kills this process. Left to
    # default, SIGINT would turn into a KeyboardInterrupt "failure" of the parameters.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        fn = import_target(target, search_path)
    except BrokenWorker as exc:
        # Importable in the parent but not here (a changed file, a different sys.path):
        # still a broken worker, signalled back as data and re-raised in the parent.
        return Failed(reason="broken_worker", details={"message": str(exc)})
    try:
        result = fn(assignments)
    # BaseException: SystemExit or KeyboardInterrupt from the objective must not travel
    # back to the parent, where anyio would re-raise them in the orchestrator.
    except BaseException as exc:
        return Failed(reason="exception", details=describe_exception(exc))
    return outcome_from_result(result)


def _warm_up(target: str, search_path: tuple[Path, ...]) -> None:
    """Runs in the child: import the target so the evaluation's call finds it loaded."""
    # A failing import is reported by `evaluate`, as a BrokenWorker with the reason.
    with contextlib.suppress(BrokenWorker):
        import_target(target, search_path)


class ProcessPoolWorker(ClosesOnExit):
    """Evaluates a `"package.module:function"` objective in child processes.

    `target` is imported once here to fail early (`BrokenWorker` if it cannot be imported
    or is not callable) and again in each child, both looking in `search_path` first.
    `max_workers` (>= 1) bounds how many of this worker's evaluations run at once.
    """

    def __init__(self, target: str, *, max_workers: int, search_path: Sequence[Path] = ()) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers}")
        # Absolute now: a child resolves a relative folder against its own working directory.
        self._search_path = tuple(Path(os.path.abspath(folder)) for folder in search_path)
        import_target(target, self._search_path)
        self._target = target
        self._max_workers = max_workers
        self._limiter = CapacityLimiter(max_workers)
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        busy = self._limiter.borrowed_tokens
        return f"<ProcessPoolWorker {self._target} busy={busy}/{self._max_workers} {state}>"

    async def prepare(self, evaluation: Evaluation) -> None:
        """Leave a warm child (interpreter started, target imported) in anyio's idle pool.

        anyio hands out the most recently idle child first, so the `evaluate` that follows
        finds it; a child killed by a timeout is replaced here, outside the next deadline.
        """
        if self._closed:
            raise BrokenWorker(f"{self!r} is closed")
        try:
            await anyio.to_process.run_sync(
                _warm_up,
                self._target,
                self._search_path,
                cancellable=True,
                limiter=self._limiter,
            )
        except BrokenWorkerProcess as exc:
            raise BrokenWorker(f"worker process for {self._target!r} died starting") from exc

    async def evaluate(self, evaluation: Evaluation) -> Outcome:
        """Run the objective in a child process. Cancelling kills that child.

        Raises `BrokenWorker` if the child died mid-evaluation or the worker is closed.
        """
        if self._closed:
            raise BrokenWorker(f"{self!r} is closed")
        try:
            outcome = await anyio.to_process.run_sync(
                _call_target,
                self._target,
                self._search_path,
                dict(evaluation.assignments),
                cancellable=True,
                limiter=self._limiter,
            )
        except BrokenWorkerProcess as exc:
            raise BrokenWorker(
                f"worker process for {self._target!r} died during evaluation {evaluation.id}"
            ) from exc
        if isinstance(outcome, Failed) and outcome.reason == "broken_worker":
            raise BrokenWorker(str(outcome.details.get("message", self._target)))
        return outcome

    async def aclose(self) -> None:
        """Refuse further evaluations. Idempotent. The processes belong to anyio's pool
        (shared within the event loop) and are stopped when the loop ends; in-flight
        evaluations are the caller's to cancel, which kills their processes.
        """
        self._closed = True


def _build(settings: WorkerSettings) -> Worker:
    assert settings.function is not None  # `check_function_settings` passed
    return ProcessPoolWorker(
        settings.function, max_workers=settings.count, search_path=settings.import_path
    )


PROCESS_KIND = WorkerKind(
    name="process",
    target_field="function",
    check_settings=functools.partial(check_function_settings, "process"),
    check_runnable=check_function_importable,
    build=_build,
)
