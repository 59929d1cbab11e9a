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

What an evaluation holds (`Evaluation.gpus`, `Evaluation.cpus`) is set in the pool process
before any code of the user's runs for it, at the warm-up's import as at the call: every
thread of the process is pinned to the cores, and `CUDA_VISIBLE_DEVICES`, `SIGOPT_GPUS`
and the thread counts (`workers.resources.evaluation_env`) go in its environment. CUDA
reads `CUDA_VISIBLE_DEVICES` once, when it starts in a process, and a framework keeps its
GPU memory cached as long as the process lives: so a process runs *one* evaluation that
holds GPUs, then ends (the outcome goes through a file, `_ends_after`), and the next
evaluation gets a fresh process from `prepare`. anyio hands a call whichever idle process
it used last, which with several slots may be one another slot warmed for its own GPUs:
such a process runs nothing of the evaluation's and ends (`_warmed_for_other_gpus`), and
the call goes to the next one (at worst a fresh process, importing within the deadline).
An objective declaring a parameter named `evaluation` gets the `Evaluation` as that
keyword (both kinds of Python function).
"""

from __future__ import annotations

import contextlib
import functools
import os
import pickle
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import anyio.to_process
import structlog
from anyio import BrokenWorkerProcess, CapacityLimiter

from workers.async_function import (
    accepts_evaluation,
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
from workers.resources import CUDA_ENV, THREAD_VARS, evaluation_env, pin_process

__all__ = ["PROCESS_KIND", "ProcessPoolWorker"]

log = structlog.get_logger()


@dataclass(frozen=True)
class _Call:
    """What the child needs for one warm-up or evaluation (picklable: it crosses the pipe)."""

    target: str
    search_path: tuple[Path, ...]
    #: Set in the child's environment before the user's code runs (`_hold`).
    env: Mapping[str, str]
    cpus: tuple[int, ...] = ()
    #: Given to the objective as `evaluation=` when it declares that parameter.
    evaluation: Evaluation | None = None
    #: An evaluation holding GPUs: its outcome goes to this file and the process ends.
    outcome_file: str | None = None


@dataclass(frozen=True)
class _WarmedForOtherGpus:
    """Left in a GPU evaluation's outcome file by a process that must not run it."""


#: How long a child that ended its GPU evaluation waits for anyio's kill (`_ends_after`).
_KILL_WAIT_S = 30.0
#: The child's mask before any evaluation pinned it, to go back to for one that holds none.
_UNPINNED = os.sched_getaffinity(0)
_pinned = False
#: In the child: the `CUDA_VISIBLE_DEVICES` the target was first imported under (as a
#: 1-tuple: it may be None), or None before. A module may start CUDA when imported.
_imported_under: tuple[str | None] | None = None


def _import_target(call: _Call) -> Any:
    """`import_target`, noting the GPUs of the first import (after `_hold`)."""
    global _imported_under
    if _imported_under is None:
        _imported_under = (os.environ.get(CUDA_ENV),)
    return import_target(call.target, call.search_path)


def _warmed_for_other_gpus(call: _Call) -> bool:
    """Whether this process imported the target under GPUs other than those of `call`, an
    evaluation holding GPUs: it was warmed for another slot's evaluation."""
    return (
        call.outcome_file is not None
        and _imported_under is not None
        and _imported_under != (call.env.get(CUDA_ENV),)
    )


def _hold(call: _Call) -> None:
    """Runs in the child: make what the evaluation holds this process's, before any code
    of the user's runs for it (see the module docstring)."""
    global _pinned
    os.environ.update(call.env)
    if call.cpus or _pinned:
        pin_process(call.cpus or _UNPINNED)
        _pinned = bool(call.cpus)


def _ends_after(outcome: Outcome | _WarmedForOtherGpus, outcome_file: str) -> None:
    """Runs in the child: write `outcome` to `outcome_file` (whole or not at all), then
    end. The broken pipe makes anyio drop the process from its pool and kill it, so
    nothing else runs where CUDA saw this evaluation's GPUs; the parent then finds the
    outcome in the file (`ProcessPoolWorker._outcome_left_in`).

    The pipe is closed and the process waits for that kill rather than exit first: a
    process found exited is reaped by the kill itself (CPython's `Popen.send_signal`
    polls first), and asyncio's child watcher then warns "Unknown child process" on
    stderr, once per GPU evaluation. The wait is bounded should no kill come."""
    partial = f"{outcome_file}.partial"
    with open(partial, "wb") as out:
        pickle.dump(outcome, out, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(partial, outcome_file)
    # anyio's worker answers on the original stdout (it points `sys.stdout` elsewhere).
    os.close(sys.__stdout__.fileno() if sys.__stdout__ is not None else 1)
    time.sleep(_KILL_WAIT_S)
    os._exit(0)


def _call_target(call: _Call, assignments: dict[str, Any]) -> Outcome:
    """Runs in the child: import the target, call it, and return an `Outcome`.

    The result is turned into an `Outcome` here, not in the parent, so only our own small
    frozen dataclasses cross the pipe: an objective returning an unpicklable object, or
    raising an unpicklable exception, still yields a clean `Failed`.
    """
    # The child shares the orchestrator's process group, so Ctrl-C reaches it too. The
    # parent owns signals: it cancels the evaluation, which kills this process. Left to
    # default, SIGINT would turn into a KeyboardInterrupt "failure" of the parameters.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if _warmed_for_other_gpus(call):
        assert call.outcome_file is not None  # it holds GPUs
        _ends_after(_WarmedForOtherGpus(), call.outcome_file)
    _hold(call)
    try:
        fn = _import_target(call)
    except BrokenWorker as exc:
        # Importable in the parent but not here (a changed file, a different sys.path):
        # still a broken worker, signalled back as data and re-raised in the parent.
        return Failed(reason="broken_worker", details={"message": str(exc)})
    try:
        if call.evaluation is not None:
            result = fn(assignments, evaluation=call.evaluation)
        else:
            result = fn(assignments)
    # BaseException: SystemExit or KeyboardInterrupt from the objective must not travel
    # back to the parent, where anyio would re-raise them in the orchestrator.
    except BaseException as exc:
        outcome: Outcome = Failed(reason="exception", details=describe_exception(exc))
    else:
        outcome = outcome_from_result(result)
    if call.outcome_file is not None:
        _ends_after(outcome, call.outcome_file)
    return outcome


def _warm_up(call: _Call) -> None:
    """Runs in the child: import the target so the evaluation's call finds it loaded,
    with what the evaluation holds already set (a module may start CUDA on import)."""
    _hold(call)
    # A failing import is reported by `evaluate`, as a BrokenWorker with the reason.
    with contextlib.suppress(BrokenWorker):
        _import_target(call)


class ProcessPoolWorker(ClosesOnExit):
    """Evaluates a `"package.module:function"` objective in child processes.

    `target` is imported once here to fail early (`BrokenWorker` if it cannot be imported
    or is not callable) and again in each child, both looking in `search_path` first.
    `max_workers` (>= 1) bounds how many of this worker's evaluations run at once. `env`
    (`workers.env`) may set the thread counts a pinned evaluation gets (`THREAD_VARS`).
    """

    def __init__(
        self,
        target: str,
        *,
        max_workers: int,
        search_path: Sequence[Path] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers}")
        # Absolute now: a child resolves a relative folder against its own working directory.
        self._search_path = tuple(Path(os.path.abspath(folder)) for folder in search_path)
        self._wants_evaluation = accepts_evaluation(import_target(target, self._search_path))
        self._target = target
        self._user_threads = {var: v for var, v in (env or {}).items() if var in THREAD_VARS}
        self._max_workers = max_workers
        self._limiter = CapacityLimiter(max_workers)
        self._closed = False
        # Where the outcomes of evaluations holding GPUs are left (made on first use).
        self._outcomes: Path | None = None

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        busy = self._limiter.borrowed_tokens
        return f"<ProcessPoolWorker {self._target} busy={busy}/{self._max_workers} {state}>"

    def _call(self, evaluation: Evaluation, outcome_file: Path | None = None) -> _Call:
        env = evaluation_env(evaluation.gpus, evaluation.cpus, self._user_threads)
        if evaluation.cpus:
            env.update(self._user_threads)
        return _Call(
            target=self._target,
            search_path=self._search_path,
            env=env,
            cpus=evaluation.cpus,
            evaluation=(
                replace(evaluation, assignments=dict(evaluation.assignments))
                if self._wants_evaluation
                else None
            ),
            outcome_file=None if outcome_file is None else str(outcome_file),
        )

    async def prepare(self, evaluation: Evaluation) -> None:
        """Leave a warm child (interpreter started, target imported) in anyio's idle pool.

        anyio hands out the most recently idle child first, so the `evaluate` that follows
        finds it; a child killed by a timeout, or ended after an evaluation that held
        GPUs, is replaced here, outside the next deadline.
        """
        if self._closed:
            raise BrokenWorker(f"{self!r} is closed")
        try:
            await anyio.to_process.run_sync(
                _warm_up, self._call(evaluation), cancellable=True, limiter=self._limiter
            )
        except BrokenWorkerProcess as exc:
            raise BrokenWorker(f"worker process for {self._target!r} died starting") from exc

    async def evaluate(self, evaluation: Evaluation) -> Outcome:
        """Run the objective in a child process. Cancelling kills that child.

        Raises `BrokenWorker` if the child died mid-evaluation or the worker is closed.
        """
        if self._closed:
            raise BrokenWorker(f"{self!r} is closed")
        # Each refusal ends one idle process, and a fresh one is never refused: the loop
        # ends, within the caller's deadline.
        while isinstance(outcome := await self._run(evaluation), _WarmedForOtherGpus):
            log.debug("process_warmed_for_other_gpus", suggestion_id=evaluation.id)
        if isinstance(outcome, Failed) and outcome.reason == "broken_worker":
            raise BrokenWorker(str(outcome.details.get("message", self._target)))
        return outcome

    async def _run(self, evaluation: Evaluation) -> Outcome | _WarmedForOtherGpus:
        """One call in a child: its outcome, or the refusal of a process warmed for other
        GPUs. Raises `BrokenWorker` if the child died."""
        outcome_file = await self._outcome_file() if evaluation.gpus else None
        outcome: Outcome | _WarmedForOtherGpus
        try:
            outcome = await anyio.to_process.run_sync(
                _call_target,
                self._call(evaluation, outcome_file),
                dict(evaluation.assignments),
                cancellable=True,
                limiter=self._limiter,
            )
        except BrokenWorkerProcess as exc:
            left = await self._outcome_left_in(outcome_file)
            if left is None:
                raise BrokenWorker(
                    f"worker process for {self._target!r} died during evaluation {evaluation.id}"
                ) from exc
            outcome = left
        finally:
            if outcome_file is not None:
                # Shielded: a cancelled evaluation's file (if the child wrote it) goes too.
                with anyio.CancelScope(shield=True):
                    await anyio.Path(outcome_file).unlink(missing_ok=True)
        return outcome

    async def _outcome_file(self) -> Path:
        """A new name in this worker's private folder (made on first use, mode 0o700)."""
        if self._outcomes is None:
            self._outcomes = Path(await anyio.to_thread.run_sync(tempfile.mkdtemp))
        return self._outcomes / f"{uuid.uuid4().hex}.outcome"

    @staticmethod
    async def _outcome_left_in(outcome_file: Path | None) -> Outcome | _WarmedForOtherGpus | None:
        """The outcome a child that ended after its evaluation left (`_ends_after`);
        None when there is none: the child died."""
        if outcome_file is None:
            return None
        try:
            data = await anyio.Path(outcome_file).read_bytes()
        except FileNotFoundError:
            return None
        # Written by our own child, whole (an atomic rename): trusted like the pipe.
        outcome: Outcome | _WarmedForOtherGpus = pickle.loads(data)
        return outcome

    async def aclose(self) -> None:
        """Refuse further evaluations. Idempotent. The processes belong to anyio's pool
        (shared within the event loop) and are stopped when the loop ends; in-flight
        evaluations are the caller's to cancel, which kills their processes.
        """
        self._closed = True
        if self._outcomes is not None:
            folder, self._outcomes = self._outcomes, None
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(functools.partial(shutil.rmtree, folder, True))


def _build(settings: WorkerSettings) -> Worker:
    assert settings.function is not None  # `check_function_settings` passed
    return ProcessPoolWorker(
        settings.function,
        max_workers=settings.count,
        search_path=settings.import_path,
        env=settings.env,
    )


PROCESS_KIND = WorkerKind(
    name="process",
    target_field="function",
    check_settings=functools.partial(check_function_settings, "process"),
    check_runnable=check_function_importable,
    build=_build,
)
