"""The run's live counters, and how one reported outcome changes them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Literal

from orchestrator.coordinator._ledger import BudgetLedger
from sigopt_service.models import Experiment, MetricEvaluation, Objective, Suggestion
from workers.base import Completed, Failed, MetricValue, Outcome

#: What the run is doing: evaluating; draining after a stop (no new suggestions, running
#: evaluations may finish); cancelling what still runs (second signal, drain over, breaker).
Phase = Literal["running", "draining", "cancelling"]


@dataclass(frozen=True)
class FailureNote:
    """One failed evaluation, as the display shows it: why, what the worker said, where
    its files are (`folder` is None for kinds that keep no evaluation folder)."""

    suggestion_id: str
    reason: str
    message: str
    #: The end of the command's stderr, "" when none.
    stderr_tail: str
    folder: Path | None
    exit_code: int | None = None
    #: The end of the command's stdout, "" when none.
    stdout_tail: str = ""
    #: The end of the objective's Python traceback (async and process kinds), "" when none.
    traceback: str = ""

    @classmethod
    def of(cls, suggestion_id: str, outcome: Failed, folder: Path | None) -> FailureNote:
        details = outcome.details
        code = details.get("exit_code")
        return cls(
            suggestion_id=suggestion_id,
            reason=outcome.reason,
            message=str(details.get("message", "")),
            stderr_tail=str(details.get("stderr_tail", "")),
            folder=folder,
            exit_code=code if isinstance(code, int) and not isinstance(code, bool) else None,
            stdout_tail=str(details.get("stdout_tail", "")),
            traceback=str(details.get("traceback", "")),
        )


@dataclass(frozen=True)
class RunningEvaluation:
    """An evaluation running now: in which slot, of which suggestion, holding which GPUs
    and cores (empty when the run shares none out)."""

    slot: int
    suggestion_id: str
    gpus: tuple[int, ...] = ()
    cpus: tuple[int, ...] = ()


@dataclass
class RunStats:
    """Live counters of this run; the progress display reads them.

    `observed` counts the experiment's observations (earlier runs' included); `completed`,
    `failed` and `failure_reasons` count this run's. `adopted` and `replayed` say what
    the run took over from an earlier run of its folder: open suggestions it evaluates,
    and results the earlier run computed but could not send (reported from the journal).
    `best_value` and `best_assignments` are the experiment's best (one optimized metric
    only): seeded at the start from its `progress.best_observation` (`seed_best`), then
    kept up to date as this run finds better ones. In a multitask experiment `budget` is
    spent in task cost, not in observations: `consumed` says how much is.
    """

    budget: int = 0
    observed_at_start: int = 0
    completed: int = 0
    failed: int = 0
    infrastructure_errors: int = 0
    adopted: int = 0
    replayed: int = 0
    rejected: int = 0
    running: int = 0
    consecutive_failures: int = 0
    best_value: float | None = None
    best_assignments: dict[str, int | float | str] | None = None
    started_at: float = 0.0
    phase: Phase = "running"
    #: This run's failed evaluations by `failure_reason`, in the order first seen.
    failure_reasons: dict[str, int] = field(default_factory=dict)
    last_failure: FailureNote | None = None
    #: What runs now, by slot.
    running_by_slot: dict[int, RunningEvaluation] = field(default_factory=dict)
    #: Multitask only (None otherwise): the run's budget ledger, read by `consumed`; set
    #: at the start, with `consumed_at_start`, what had been consumed by then.
    ledger: BudgetLedger | None = field(default=None, repr=False, compare=False)
    consumed_at_start: Decimal = Decimal(0)

    @property
    def finished(self) -> int:
        return self.completed + self.failed

    @property
    def observed(self) -> int:
        return self.observed_at_start + self.finished

    @property
    def consumed(self) -> Decimal | None:
        """Multitask only (None otherwise): how much of `budget` the experiment's
        observations (earlier runs' included) consumed, in task cost: the ledger's
        `observed`, as the service counts it."""
        return None if self.ledger is None else self.ledger.observed

    @property
    def is_resumed(self) -> bool:
        return self.adopted > 0 or self.replayed > 0

    def __repr__(self) -> str:
        return (
            f"RunStats(observed={self.observed}/{self.budget}, completed={self.completed}, "
            f"failed={self.failed}, running={self.running}, best={self.best_value})"
        )


def count_stored(
    stats: RunStats,
    suggestion: Suggestion,
    outcome: Outcome,
    experiment: Experiment,
    folder: Path | None = None,
) -> None:
    """Count an outcome the service stored: completed or failed (with its reason and, as
    the last failure, its note), streak, best value. `folder`: the evaluation's folder."""
    if isinstance(outcome, Failed):
        stats.failed += 1
        stats.consecutive_failures += 1
        stats.failure_reasons[outcome.reason] = stats.failure_reasons.get(outcome.reason, 0) + 1
        stats.last_failure = FailureNote.of(suggestion.id, outcome, folder)
        return
    stats.completed += 1
    stats.consecutive_failures = 0
    _track_best(stats, suggestion, outcome, experiment)


def seed_best(stats: RunStats, experiment: Experiment) -> None:
    """Start from the experiment's best so far (earlier runs' included), as the service
    reports it in `progress.best_observation` (one optimized metric only)."""
    best = experiment.progress.best_observation if experiment.progress else None
    if best is not None:
        _offer_best(stats, best.values, best.assignments, experiment)


def _track_best(
    stats: RunStats, suggestion: Suggestion, outcome: Completed, experiment: Experiment
) -> None:
    _offer_best(stats, outcome.values, suggestion.assignments, experiment)


def _offer_best(
    stats: RunStats,
    values: Sequence[MetricValue | MetricEvaluation],
    assignments: Mapping[str, int | float | str],
    experiment: Experiment,
) -> None:
    """Keep `values` as the best if its optimized metric beats the best so far."""
    optimized = experiment.optimized_metrics()
    if len(optimized) != 1:
        return
    metric = optimized[0]
    value = next((v.value for v in values if v.name == metric.name), None)
    if value is None and len(values) == 1 and len(experiment.metrics) == 1:
        value = values[0].value  # the one metric, unnamed
    if value is None:
        return
    sign = 1.0 if metric.objective is Objective.MAXIMIZE else -1.0
    best = stats.best_value
    if best is None or sign * value > sign * best:
        stats.best_value = value
        stats.best_assignments = dict(assignments)
