"""`CachingRuns`: the AI-module writes of `CachingStore` that change what it caches of an
experiment. A run's observation is one more observation (counts and best move as on
`create_observations`); a run's delete flags a suggestion and an observation, so the
experiment's views are re-read on use. Everything else passes through."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any

from sigopt_service.models import Observation
from sigopt_service.run_models import TrainingRun
from sigopt_service.store._delegating_runs import DelegatingRuns
from sigopt_service.store.base import NewObservation
from sigopt_service.store.runs import NewTrainingRun, RunWrite


class CachingRuns(DelegatingRuns):
    """The run part of `CachingStore`, which provides the two cache hooks."""

    @abc.abstractmethod
    def _observed(self, experiment_id: int, created: Sequence[Observation]) -> None:
        """New observations (each suggestion observed once) were stored: fold them in."""

    @abc.abstractmethod
    def _drop_views(self, experiment_id: int) -> None:
        """Counts and best of the experiment are re-read on use."""

    def _after_write(self, written: RunWrite) -> RunWrite:
        created = written[1]
        if created is not None:
            self._observed(int(created.experiment), [created])
        return written

    def _dropping(self, run: TrainingRun) -> TrainingRun:
        if run.experiment is not None:
            self._drop_views(int(run.experiment))
        return run

    def create_training_run(
        self, new: NewTrainingRun, observation: NewObservation | None = None
    ) -> RunWrite:
        return self._after_write(self.inner.create_training_run(new, observation))

    def update_training_run(
        self,
        run_id: int,
        changes: Mapping[str, Any],
        observation: NewObservation | None = None,
    ) -> RunWrite:
        return self._after_write(self.inner.update_training_run(run_id, changes, observation))

    def set_training_run_deleted(self, run_id: int, deleted: bool) -> TrainingRun:
        try:
            run = self.inner.set_training_run_deleted(run_id, deleted)
        except BaseException:
            # Which experiment it touched is unknown: a failed write may have done part.
            self._drop_all_views()
            raise
        return self._dropping(run)

    @abc.abstractmethod
    def _drop_all_views(self) -> None:
        """Forget every experiment's counts and best."""

    def delete_experiment_training_runs(self, experiment_id: int) -> int:
        try:
            return self.inner.delete_experiment_training_runs(experiment_id)
        finally:
            self._drop_views(experiment_id)
