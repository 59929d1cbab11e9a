"""The run's live counters, and how one reported outcome changes them."""

from __future__ import annotations

from dataclasses import dataclass

from sigopt_service.models import Experiment, Objective, Suggestion
from workers.base import Completed, Failed, Outcome


@dataclass
class RunStats:
    """Live counters of this run; the progress display reads them."""

    budget: int = 0
    observed_at_start: int = 0
    completed: int = 0
    failed: int = 0
    infrastructure_errors: int = 0
    adopted: int = 0
    rejected: int = 0
    running: int = 0
    consecutive_failures: int = 0
    best_value: float | None = None
    best_assignments: dict[str, int | float | str] | None = None
    started_at: float = 0.0

    @property
    def finished(self) -> int:
        return self.completed + self.failed

    @property
    def observed(self) -> int:
        return self.observed_at_start + self.finished

    def __repr__(self) -> str:
        return (
            f"RunStats(observed={self.observed}/{self.budget}, completed={self.completed}, "
            f"failed={self.failed}, running={self.running}, best={self.best_value})"
        )


def count_stored(
    stats: RunStats, suggestion: Suggestion, outcome: Outcome, experiment: Experiment
) -> None:
    """Count an outcome the service stored: completed or failed, streak, best value."""
    if isinstance(outcome, Failed):
        stats.failed += 1
        stats.consecutive_failures += 1
        return
    stats.completed += 1
    stats.consecutive_failures = 0
    _track_best(stats, suggestion, outcome, experiment)


def _track_best(
    stats: RunStats, suggestion: Suggestion, outcome: Completed, experiment: Experiment
) -> None:
    optimized = experiment.optimized_metrics()
    if len(optimized) != 1:
        return
    metric = optimized[0]
    value = next((v.value for v in outcome.values if v.name == metric.name), None)
    if value is None:
        return
    sign = 1.0 if metric.objective is Objective.MAXIMIZE else -1.0
    best = stats.best_value
    if best is None or sign * value > sign * best:
        stats.best_value = value
        stats.best_assignments = dict(suggestion.assignments)
