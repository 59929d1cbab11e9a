"""Runs in a child process of a Dask worker: one `function` evaluation.

The child comes from anyio's process pool on the Dask worker's event loop, so it stays
warm between evaluations (the interpreter started, the objective's module imported once,
which for a training script importing torch is seconds saved per evaluation). Why a child
and not the Dask worker's own thread: a thread cannot be killed, so an evaluation past its
deadline would keep the worker's only thread busy, and the next evaluation sent there
would wait behind it. A child is killed, and the next one starts fresh.

This module imports nothing of Dask: the child loads it to unpickle `call_objective`.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from workers.async_function import accepts_evaluation, describe_exception, import_target
from workers.base import Evaluation, Failed, Outcome, outcome_from_result
from workers.errors import BrokenWorker
from workers.subprocess import record_group

__all__ = ["BROKEN_WORKER_REASON", "call_objective"]

#: The reason of a `Failed` that is really a broken worker (the target does not import
#: on this host): turned back into `BrokenWorker` by the orchestrator.
BROKEN_WORKER_REASON = "broken_worker"


def call_objective(target: str, search_path: tuple[str, ...], evaluation: Evaluation) -> Outcome:
    """Import `target` and call it with the assignments (and `evaluation=`, when it
    declares that parameter, as the process kind does); an `Outcome`, never an exception.

    First the child leads a process group of its own and records it in the evaluation's
    folder (`workdir`), as a command's evaluation does: what the objective starts belongs
    to that group, which a stop kills as a whole, and which the worker host's reaper
    kills if the Dask worker dies meanwhile (`_reaper`).
    """
    # The Dask worker owns signals: a Ctrl-C in its terminal stops it, and it stops this.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if os.getsid(0) != os.getpid():  # a warm child has its own session already
        os.setsid()
    assert evaluation.workdir is not None  # the task always gives it a folder
    record_group(evaluation.workdir, os.getpid())
    try:
        fn = import_target(target, tuple(Path(p) for p in search_path))
    except BrokenWorker as exc:
        return Failed(reason=BROKEN_WORKER_REASON, details={"message": str(exc)})
    assignments = dict(evaluation.assignments)
    try:
        result = (
            fn(assignments, evaluation=evaluation) if accepts_evaluation(fn) else fn(assignments)
        )
    # BaseException: SystemExit or KeyboardInterrupt from the objective must not travel
    # back to the Dask worker, where anyio would re-raise them.
    except BaseException as exc:
        return Failed(reason="exception", details=describe_exception(exc))
    return outcome_from_result(result)
