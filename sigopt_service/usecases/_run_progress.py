"""An AI experiment's `progress`: its training runs, counted by the store, against its
budget (sigopt-server's `ExperimentRunProgress`). A module of its own so both the
experiment views (`_experiments.with_progress`) and the AI use cases read it."""

from __future__ import annotations

from sigopt_service.models import Experiment, RunsProgress
from sigopt_service.store import BaseStore


def runs_progress(store: BaseStore, experiment: Experiment) -> RunsProgress:
    """Active and finished non-deleted runs; `remaining_budget` is the budget less both
    (so `loop()`, which stops at 0, never starts more runs than the budget)."""
    counts = store.training_run_counts(int(experiment.id))
    budget = experiment.observation_budget
    return RunsProgress(
        active_run_count=counts.active,
        finished_run_count=counts.finished,
        total_run_count=counts.total,
        remaining_budget=None if budget is None else budget - counts.total,
    )
