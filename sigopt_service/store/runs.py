"""The AI-module part of the store contract: `RunStore`, mixed into `BaseStore`, and the
records it takes (`NewProject`, `NewTrainingRun`): projects, training runs, checkpoints.

Contract, for every store (checked by `tests/sigopt_service/store/test_contract_runs.py`):

- A project's id is its creator's reference id (a string); creating one that exists,
  deleted or not, raises `RecordExists`; an unknown one raises `RecordNotFound`
  ("No project x"). Deleting a project is `update_project(..., {"deleted": True})`, soft.
- Training run and checkpoint ids are positive ints, increasing, never reused. An unknown
  run raises `RecordNotFound` ("No training run 5"), deleted ones are still found; a
  checkpoint of another run counts as missing.
- A run keeps its `document()` (name, assignments, values, metadata, logs, ...) as given:
  the store stores the document it is handed and merges nothing (merging is the use
  case's). `state`, `project`, `suggestion` and the document are what an update changes
  (`RUN_UPDATABLE`); `completed` is set by the store the first time the state becomes
  final (`completed` or `failed`) and never cleared; `updated` moves on every update.
- A run's observation: `create_training_run` and `update_training_run` take an optional
  `NewObservation`, stored in the run's experiment and linked as the run's `observation`
  in the same transaction, with every rule of `create_observations` (`UnknownSuggestion`,
  `AlreadyObserved`: then nothing of the call is stored). A run that has one keeps it.
- `set_training_run_deleted` flags the run and, in the same transaction, its suggestion
  and observation (sigopt-server's `set_deleted`); un-deleting un-deletes all three.
  `delete_experiment_training_runs` flags every run of the experiment, and every
  suggestion and observation of the experiment, deleted.
- `create_checkpoint` appends to a run (its `checkpoint_count` grows in the same
  transaction); checkpoints list newest first, paged as `BaseStore`'s listings.
- Results are frozen snapshots. A run's `project`, `experiment` and `suggestion` are
  stored as given: the use cases check that they exist.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from sigopt_service.models import Metadata, MetricEvaluation, Observation
from sigopt_service.run_models import Checkpoint, Project, RunState, TrainingRun

if TYPE_CHECKING:  # `base.py` imports this module: the types only, no cycle
    from sigopt_service.store.base import NewObservation, Page

__all__ = [
    "PROJECT_UPDATABLE",
    "RUN_UPDATABLE",
    "NewProject",
    "NewTrainingRun",
    "RunCounts",
    "RunStore",
]

#: Keys `update_project` accepts.
PROJECT_UPDATABLE = frozenset({"name", "metadata", "deleted"})
#: Keys `update_training_run` accepts; `document` replaces the whole document.
RUN_UPDATABLE = frozenset({"document", "state", "project", "suggestion"})


class NewProject(BaseModel):
    """A validated project, with the id its creator chose."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    metadata: Metadata | None = None


class NewTrainingRun(BaseModel):
    """A validated run: where it belongs and its document (`TrainingRun.document()`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    project: str | None = None
    experiment: int | None = None
    suggestion: int | None = None
    state: RunState = RunState.ACTIVE
    document: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class RunCounts:
    """An experiment's non-deleted runs: still active, and finished (completed or failed)."""

    active: int
    finished: int

    @property
    def total(self) -> int:
        return self.active + self.finished


RunWrite = tuple[TrainingRun, Observation | None]


class RunStore(abc.ABC):
    """The project, run and checkpoint methods every store has (the module docstring is
    the contract)."""

    # -- projects -------------------------------------------------------------------------
    @abc.abstractmethod
    def create_project(self, new: NewProject) -> Project:
        """Store a project; `RecordExists` if its id is taken."""

    @abc.abstractmethod
    def get_project(self, project_id: str) -> Project:
        """The project, deleted ones included."""

    @abc.abstractmethod
    def all_projects(self) -> list[Project]:
        """Every project, deleted ones included, oldest first."""

    @abc.abstractmethod
    def update_project(self, project_id: str, changes: Mapping[str, Any]) -> Project:
        """Replace the given fields (keys in `PROJECT_UPDATABLE`), bump `updated`."""

    # -- training runs --------------------------------------------------------------------
    @abc.abstractmethod
    def create_training_run(
        self, new: NewTrainingRun, observation: NewObservation | None = None
    ) -> RunWrite:
        """Store a run (and its observation, in its experiment, linked); both returned."""

    @abc.abstractmethod
    def get_training_run(self, run_id: int) -> TrainingRun: ...

    @abc.abstractmethod
    def update_training_run(
        self,
        run_id: int,
        changes: Mapping[str, Any],
        observation: NewObservation | None = None,
    ) -> RunWrite:
        """Replace the given fields (keys in `RUN_UPDATABLE`), bump `updated`, set
        `completed` on the first final state; store and link `observation` if given."""

    @abc.abstractmethod
    def set_training_run_deleted(self, run_id: int, deleted: bool) -> TrainingRun:
        """Flag the run, its suggestion and its observation deleted (or not)."""

    @abc.abstractmethod
    def all_training_runs(
        self, *, project: str | None = None, experiment: int | None = None
    ) -> list[TrainingRun]:
        """Every run of the project and/or experiment (every run when neither is given),
        deleted ones included, oldest first."""

    @abc.abstractmethod
    def training_run_counts(self, experiment_id: int) -> RunCounts:
        """The experiment's non-deleted runs, active and finished."""

    @abc.abstractmethod
    def delete_experiment_training_runs(self, experiment_id: int) -> int:
        """Flag every run, suggestion and observation of the experiment deleted; returns
        how many runs were not deleted before."""

    # -- checkpoints ----------------------------------------------------------------------
    @abc.abstractmethod
    def create_checkpoint(
        self, run_id: int, values: Sequence[MetricEvaluation], metadata: Metadata | None
    ) -> Checkpoint:
        """Append a checkpoint to the run; RecordNotFound for an unknown run."""

    @abc.abstractmethod
    def get_checkpoint(self, run_id: int, checkpoint_id: int) -> Checkpoint: ...

    @abc.abstractmethod
    def list_checkpoints(
        self, run_id: int, *, limit: int = 100, cursor: int | None = None
    ) -> Page[Checkpoint]:
        """One page of the run's checkpoints, newest first; `count` over all pages."""
