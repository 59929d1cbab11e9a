"""`DelegatingRuns`: the project, run and checkpoint methods of `DelegatingStore`, each
handed to the store it wraps (a module of its own, as the token part's)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sigopt_service.models import Metadata, MetricEvaluation
from sigopt_service.run_models import Checkpoint, Project, TrainingRun
from sigopt_service.store.base import BaseStore, NewObservation, Page
from sigopt_service.store.runs import NewProject, NewTrainingRun, RunCounts, RunStore, RunWrite


class DelegatingRuns(RunStore):
    """Every AI-module method is the `inner` store's; a wrapper that caches views of an
    experiment overrides the writes that change them (`CachingStore`)."""

    inner: BaseStore

    def create_project(self, new: NewProject) -> Project:
        return self.inner.create_project(new)

    def get_project(self, project_id: str) -> Project:
        return self.inner.get_project(project_id)

    def all_projects(self) -> list[Project]:
        return self.inner.all_projects()

    def update_project(self, project_id: str, changes: Mapping[str, Any]) -> Project:
        return self.inner.update_project(project_id, changes)

    def create_training_run(
        self, new: NewTrainingRun, observation: NewObservation | None = None
    ) -> RunWrite:
        return self.inner.create_training_run(new, observation)

    def get_training_run(self, run_id: int) -> TrainingRun:
        return self.inner.get_training_run(run_id)

    def update_training_run(
        self,
        run_id: int,
        changes: Mapping[str, Any],
        observation: NewObservation | None = None,
    ) -> RunWrite:
        return self.inner.update_training_run(run_id, changes, observation)

    def set_training_run_deleted(self, run_id: int, deleted: bool) -> TrainingRun:
        return self.inner.set_training_run_deleted(run_id, deleted)

    def all_training_runs(
        self, *, project: str | None = None, experiment: int | None = None
    ) -> list[TrainingRun]:
        return self.inner.all_training_runs(project=project, experiment=experiment)

    def training_run_counts(self, experiment_id: int) -> RunCounts:
        return self.inner.training_run_counts(experiment_id)

    def delete_experiment_training_runs(self, experiment_id: int) -> int:
        return self.inner.delete_experiment_training_runs(experiment_id)

    def create_checkpoint(
        self, run_id: int, values: Sequence[MetricEvaluation], metadata: Metadata | None
    ) -> Checkpoint:
        return self.inner.create_checkpoint(run_id, values, metadata)

    def get_checkpoint(self, run_id: int, checkpoint_id: int) -> Checkpoint:
        return self.inner.get_checkpoint(run_id, checkpoint_id)

    def list_checkpoints(
        self, run_id: int, *, limit: int = 100, cursor: int | None = None
    ) -> Page[Checkpoint]:
        return self.inner.list_checkpoints(run_id, limit=limit, cursor=cursor)
