"""What crosses between the orchestrator and a Dask worker: the evaluation a task runs
(`RemoteEvaluation`), what it sends back (`RemoteOutcome`), and the events a task logs on
the run's topic so the orchestrator knows where it runs and when a killed one is gone.

Both sides run the same installed package, so these dataclasses are pickled by
reference; the events are msgpack-able dicts (`Worker.log_event` requires it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from workers.base import AssignmentValue, EvaluationTask, Outcome

__all__ = [
    "EVENT_ENDED",
    "EVENT_STARTED",
    "RemoteEvaluation",
    "RemoteOutcome",
    "TaskEvent",
]

#: A task began on a worker (`worker` names it); a second one for the same key means
#: Dask re-ran the task itself after losing a worker.
EVENT_STARTED = "started"
#: A task that was released (cancelled, or its client gone) killed its evaluation.
EVENT_ENDED = "ended"

TaskEvent = Literal["started", "ended"]


@dataclass(frozen=True)
class RemoteEvaluation:
    """One evaluation as a Dask task runs it: exactly one of `command` (an argv
    template, as the subprocess kind's) and `function` ("package.module:function")."""

    #: The Dask key of the task (unique per submission), which the task watches.
    key: str
    #: The run's event topic.
    topic: str
    evaluation_id: str
    assignments: Mapping[str, AssignmentValue]
    attempt: int
    command: tuple[str, ...] | None = None
    function: str | None = None
    #: Added to the Dask worker's own environment (never the orchestrator's).
    env: Mapping[str, str] = field(default_factory=dict)
    #: The command's working directory on the worker's host (None: the worker's own).
    cwd: str | None = None
    shell: bool = False
    kill_grace_s: float = 5.0
    #: Where a `function`'s module is looked for first, as paths on the worker's host.
    import_path: tuple[str, ...] = ()
    max_output_bytes: int = 64 * 1024
    #: Multitask only: the task to evaluate on (`{task}` and `SIGOPT_TASK` for a command,
    #: `evaluation.task` for a function that declares `evaluation`); None otherwise.
    task: EvaluationTask | None = None


@dataclass(frozen=True)
class RemoteOutcome:
    """What a finished task returns: the outcome, read on the worker's host (the run
    folder need not be shared), and the files the evaluation folder keeps of it."""

    outcome: Outcome
    #: The Dask worker's address and its host name, for the logs.
    worker: str
    host: str
    #: The tails of the command's stdout and stderr (empty for a function).
    stdout: bytes = b""
    stderr: bytes = b""
    #: The command's result file, if it wrote one.
    result_file: bytes | None = None
