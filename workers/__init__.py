"""Where evaluations run: the worker protocol and outcomes (`base`), one module or package
per kind of worker, and the registry of kinds (`kinds`)."""

from __future__ import annotations

from workers.base import (
    Completed,
    Evaluation,
    EvaluationTask,
    Failed,
    InvalidSetting,
    MetricValue,
    Outcome,
    Worker,
    WorkerKind,
    WorkerSettings,
)
from workers.errors import BrokenWorker, WorkerError

__all__ = [
    "BrokenWorker",
    "Completed",
    "Evaluation",
    "EvaluationTask",
    "Failed",
    "InvalidSetting",
    "MetricValue",
    "Outcome",
    "Worker",
    "WorkerError",
    "WorkerKind",
    "WorkerSettings",
]
