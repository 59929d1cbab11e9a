"""Projects, training runs and checkpoints of `InMemoryStore`: the contract of
`store/runs.py` on dicts."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any

from sigopt_service.errors import RecordExists, RecordNotFound
from sigopt_service.models import Experiment, Metadata, MetricEvaluation, Observation, Suggestion
from sigopt_service.run_models import Checkpoint, Project, TrainingRun
from sigopt_service.store._changes import check_update_keys, now_s, plain_changes
from sigopt_service.store._listing import id_page
from sigopt_service.store.base import BaseStore, NewObservation, Page
from sigopt_service.store.runs import (
    PROJECT_UPDATABLE,
    RUN_UPDATABLE,
    NewProject,
    NewTrainingRun,
    RunCounts,
    RunWrite,
)


class InMemoryRuns(BaseStore):
    """The AI-module part of `InMemoryStore`. Runs are kept as models; each read hands out
    a deep copy, as the rest of the store does."""

    # The store's own records, which a run's delete flags along with it.
    _suggestions: dict[int, Suggestion]
    _observations: dict[int, Observation]

    def __init__(self) -> None:
        super().__init__()  # cooperative, as the store's other parts
        self._projects: dict[str, Project] = {}
        self._runs: dict[int, TrainingRun] = {}
        self._checkpoints: dict[int, Checkpoint] = {}
        self._checkpoint_ids: dict[int, list[int]] = {}
        self._next_run_id = 1
        self._next_checkpoint_id = 1

    @abc.abstractmethod
    def _experiment(self, experiment_id: int) -> Experiment:
        """The stored experiment; RecordNotFound for an unknown id."""

    # -- projects -------------------------------------------------------------------------
    def _project(self, project_id: str) -> Project:
        found = self._projects.get(project_id)
        if found is None:
            raise RecordNotFound("project", project_id)
        return found

    def create_project(self, new: NewProject) -> Project:
        if new.id in self._projects:
            raise RecordExists("project", new.id)
        now = now_s()
        project = Project(id=new.id, name=new.name, metadata=new.metadata, created=now, updated=now)
        self._projects[new.id] = project
        return project.model_copy(deep=True)

    def get_project(self, project_id: str) -> Project:
        return self._project(project_id).model_copy(deep=True)

    def all_projects(self) -> list[Project]:
        return [p.model_copy(deep=True) for p in self._projects.values()]

    def update_project(self, project_id: str, changes: Mapping[str, Any]) -> Project:
        current = self._project(project_id)
        check_update_keys(changes, PROJECT_UPDATABLE)
        updated = Project.model_validate(
            {**current.model_dump(), **plain_changes(changes), "updated": now_s()}
        )
        self._projects[project_id] = updated
        return updated.model_copy(deep=True)

    # -- training runs --------------------------------------------------------------------
    def _run(self, run_id: int) -> TrainingRun:
        found = self._runs.get(run_id)
        if found is None:
            raise RecordNotFound("training_run", run_id)
        return found

    def _observe_for(self, run: TrainingRun, new: NewObservation | None) -> Observation | None:
        """Store the run's observation first: it raises before anything is stored, so a
        refused one leaves the run as it was (all or nothing)."""
        if new is None:
            return None
        if run.experiment is None:
            raise ValueError("a run without an experiment has no observation")
        return self.create_observations(int(run.experiment), [new])[0]

    def create_training_run(
        self, new: NewTrainingRun, observation: NewObservation | None = None
    ) -> RunWrite:
        now = now_s()
        run = TrainingRun.model_validate(
            {
                **new.document,
                "id": str(self._next_run_id),
                "project": new.project,
                "experiment": None if new.experiment is None else str(new.experiment),
                "suggestion": None if new.suggestion is None else str(new.suggestion),
                "state": new.state,
                "created": now,
                "updated": now,
                "completed": now if new.state.is_finished() else None,
            }
        )
        created = self._observe_for(run, observation)
        if created is not None:
            run = run.model_copy(update={"observation": created.id})
        self._next_run_id += 1
        self._runs[int(run.id)] = run
        return run.model_copy(deep=True), created

    def get_training_run(self, run_id: int) -> TrainingRun:
        return self._run(run_id).model_copy(deep=True)

    def update_training_run(
        self,
        run_id: int,
        changes: Mapping[str, Any],
        observation: NewObservation | None = None,
    ) -> RunWrite:
        current = self._run(run_id)
        check_update_keys(changes, RUN_UPDATABLE)
        fields = {k: v for k, v in plain_changes(changes).items() if k != "document"}
        if "suggestion" in fields and fields["suggestion"] is not None:
            fields["suggestion"] = str(fields["suggestion"])
        data = current.model_dump(exclude={"id"})
        if "document" in changes:
            data = {k: v for k, v in data.items() if k not in current.document()}
            data.update(changes["document"])
        now = now_s()
        updated = TrainingRun.model_validate({**data, **fields, "id": current.id, "updated": now})
        if updated.completed is None and updated.state.is_finished():
            updated = updated.model_copy(update={"completed": now})
        created = self._observe_for(updated, observation)
        if created is not None:
            updated = updated.model_copy(update={"observation": created.id})
        self._runs[run_id] = updated
        return updated.model_copy(deep=True), created

    def set_training_run_deleted(self, run_id: int, deleted: bool) -> TrainingRun:
        current = self._run(run_id)
        if current.suggestion is not None:
            self._flag(self._suggestions, int(current.suggestion), deleted)
        if current.observation is not None:
            self._flag(self._observations, int(current.observation), deleted)
        updated = current.model_copy(update={"deleted": deleted, "updated": now_s()})
        self._runs[run_id] = updated
        return updated.model_copy(deep=True)

    @staticmethod
    def _flag(records: dict[int, Any], record_id: int, deleted: bool) -> None:
        if record_id in records:
            records[record_id] = records[record_id].model_copy(update={"deleted": deleted})

    def all_training_runs(
        self, *, project: str | None = None, experiment: int | None = None
    ) -> list[TrainingRun]:
        named = None if experiment is None else str(experiment)
        return [
            r.model_copy(deep=True)
            for r in self._runs.values()
            if (project is None or r.project == project)
            and (named is None or r.experiment == named)
        ]

    def training_run_counts(self, experiment_id: int) -> RunCounts:
        named = str(experiment_id)
        runs = [r for r in self._runs.values() if r.experiment == named and not r.deleted]
        finished = sum(1 for r in runs if r.completed is not None)
        return RunCounts(active=len(runs) - finished, finished=finished)

    def delete_experiment_training_runs(self, experiment_id: int) -> int:
        self._experiment(experiment_id)
        named = str(experiment_id)
        deleted = 0
        for run_id, run in self._runs.items():
            if run.experiment == named and not run.deleted:
                self._runs[run_id] = run.model_copy(update={"deleted": True})
                deleted += 1
        self.delete_suggestions(experiment_id, open_only=False)
        self.delete_observations(experiment_id)
        return deleted

    # -- checkpoints ----------------------------------------------------------------------
    def create_checkpoint(
        self, run_id: int, values: Sequence[MetricEvaluation], metadata: Metadata | None
    ) -> Checkpoint:
        run = self._run(run_id)
        checkpoint = Checkpoint(
            id=str(self._next_checkpoint_id),
            training_run=run.id,
            values=list(values),
            metadata=None if metadata is None else dict(metadata),
            created=now_s(),
        )
        self._next_checkpoint_id += 1
        self._checkpoints[int(checkpoint.id)] = checkpoint
        self._checkpoint_ids.setdefault(run_id, []).append(int(checkpoint.id))
        self._runs[run_id] = run.model_copy(
            update={"checkpoint_count": run.checkpoint_count + 1, "updated": checkpoint.created}
        )
        return checkpoint.model_copy(deep=True)

    def get_checkpoint(self, run_id: int, checkpoint_id: int) -> Checkpoint:
        self._run(run_id)
        found = self._checkpoints.get(checkpoint_id)
        if found is None or found.training_run != str(run_id):
            raise RecordNotFound("checkpoint", checkpoint_id)
        return found.model_copy(deep=True)

    def list_checkpoints(
        self, run_id: int, *, limit: int = 100, cursor: int | None = None
    ) -> Page[Checkpoint]:
        self._run(run_id)
        ids = self._checkpoint_ids.get(run_id, [])
        page, has_more = id_page(ids, ascending=False, limit=limit, cursor=cursor)
        return Page([self._checkpoints[i].model_copy(deep=True) for i in page], len(ids), has_more)
