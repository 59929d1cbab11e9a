"""Durable state of the service: the abstract store contract and the in-memory store.

Contract, for every implementation (`InMemoryStore` here, `SqliteStore` in
`sqlite_store.py`), checked by one contract suite in `tests/service/test_store.py`:

- Ids are positive ints, assigned by the store, increasing in creation order, and never
  reused (a deleted row keeps its id). The wire models carry them as strings.
- Every method returns snapshots (frozen pydantic models): later writes never mutate an
  object already returned. Callers own what they get back.
- A method that returns without raising has committed its write: a crash after the return
  loses nothing. A method that raises has written nothing (all-or-nothing, also for
  `create_observations` with many observations).
- A missing id raises `NotFound` with SigOpt's message: "No experiment 7",
  "No suggestion 5 for experiment 7", "No observation 9 for experiment 7". A suggestion or
  observation of another experiment counts as missing.
- An observation whose `suggestion` is unknown, of another experiment or deleted raises
  `InvalidRequest("No suggestion: 5 for experiment: 7")` (spec section 4), and nothing
  of the batch is stored.
- Suggestion state is derived, never stored: a suggestion is `closed` iff some observation
  (deleted or not) references it. Deleting that observation does not reopen it. Deleted
  suggestions are never in `open_suggestions` nor in `open_only` lists.
- Deletes of experiments, suggestions and observations are soft: rows stay, flagged.
- Database failures raise `StoreError`, chained to the driver's exception.
- Stores are synchronous and not thread-safe; the service serializes every call (one
  `anyio.CapacityLimiter(1)`), so an implementation needs no locking of its own.

Pagination: `list_*` return a `Page` ordered newest first (descending id) unless
`ascending`; `cursor` continues after that id in the listing's own order (ids below it
when descending, above it when ascending); `count` is the total over all pages.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from service.errors import InvalidRequest, NotFound
from service.models import (
    Assignments,
    Experiment,
    ExperimentState,
    ExperimentType,
    Metadata,
    Metric,
    MetricEvaluation,
    Observation,
    Parameter,
    Suggestion,
    SuggestionState,
)

T = TypeVar("T")

ExperimentStateFilter = Literal["active", "deleted", "all"]

#: Keys `update_experiment` accepts; the app validates values before calling.
EXPERIMENT_UPDATABLE = frozenset(
    {"name", "state", "observation_budget", "parallel_bandwidth", "metadata", "parameters",
     "metrics", "project"}
)
#: Keys `update_observation` accepts.
OBSERVATION_UPDATABLE = frozenset({"values", "failed", "metadata"})


class NewExperiment(BaseModel):
    """A validated experiment definition, before the store gives it an id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: ExperimentType = ExperimentType.OFFLINE
    parameters: list[Parameter]
    metrics: list[Metric]
    observation_budget: int | None = None
    parallel_bandwidth: int | None = 1
    num_solutions: int | None = 1
    conditionals: list[dict[str, Any]] = Field(default_factory=list)
    linear_constraints: list[dict[str, Any]] = Field(default_factory=list)
    metadata: Metadata | None = None
    project: str | None = None


class NewObservation(BaseModel):
    """A validated observation. With `suggestion` set, the store copies its assignments."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    suggestion: int | None = None
    assignments: Assignments | None = None
    values: list[MetricEvaluation] = Field(default_factory=list)
    failed: bool = False
    metadata: Metadata | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    count: int
    has_more: bool


def now_s() -> int:
    return int(time.time())


class BaseStore(abc.ABC):
    """The abstract core. Convenience queries at the bottom are written once, on the core."""

    # -- experiments ------------------------------------------------------------------
    @abc.abstractmethod
    def create_experiment(self, new: NewExperiment) -> Experiment:
        """Store a new active experiment; `progress` of the result is None."""

    @abc.abstractmethod
    def get_experiment(self, experiment_id: int) -> Experiment:
        """The experiment, deleted ones included (state `deleted`); `progress` is None."""

    @abc.abstractmethod
    def list_experiments(
        self, *, state: ExperimentStateFilter = "active", limit: int = 100,
        cursor: int | None = None,
    ) -> Page[Experiment]: ...

    @abc.abstractmethod
    def update_experiment(self, experiment_id: int, changes: Mapping[str, Any]) -> Experiment:
        """Replace the given fields (keys in `EXPERIMENT_UPDATABLE`), bump `updated`."""

    # -- suggestions ------------------------------------------------------------------
    @abc.abstractmethod
    def create_suggestion(
        self, experiment_id: int, assignments: Assignments, metadata: Metadata | None = None
    ) -> Suggestion:
        """Store an open suggestion. Raises NotFound for an unknown experiment."""

    @abc.abstractmethod
    def get_suggestion(self, experiment_id: int, suggestion_id: int) -> Suggestion:
        """The suggestion, deleted ones included."""

    @abc.abstractmethod
    def list_suggestions(
        self, experiment_id: int, *, open_only: bool = False, include_deleted: bool = False,
        ids: Sequence[int] | None = None, limit: int = 100, cursor: int | None = None,
    ) -> Page[Suggestion]: ...

    @abc.abstractmethod
    def update_suggestion(
        self, experiment_id: int, suggestion_id: int, metadata: Metadata | None
    ) -> Suggestion:
        """Replace the metadata (None clears it)."""

    @abc.abstractmethod
    def delete_suggestion(self, experiment_id: int, suggestion_id: int) -> None:
        """Soft-delete one suggestion (idempotent on an already deleted one)."""

    @abc.abstractmethod
    def delete_suggestions(self, experiment_id: int, *, open_only: bool) -> int:
        """Soft-delete all (or all open) suggestions; returns how many were deleted."""

    @abc.abstractmethod
    def suggestion_count(self, experiment_id: int) -> int:
        """How many suggestions were ever created in the experiment, deleted ones included."""

    # -- observations -----------------------------------------------------------------
    @abc.abstractmethod
    def create_observations(
        self, experiment_id: int, new: Sequence[NewObservation]
    ) -> list[Observation]:
        """Store all or none, in order; each one naming a suggestion closes it."""

    @abc.abstractmethod
    def get_observation(self, experiment_id: int, observation_id: int) -> Observation: ...

    @abc.abstractmethod
    def list_observations(
        self, experiment_id: int, *, ascending: bool = False, include_deleted: bool = False,
        limit: int = 100, cursor: int | None = None,
    ) -> Page[Observation]: ...

    @abc.abstractmethod
    def update_observation(
        self, experiment_id: int, observation_id: int, changes: Mapping[str, Any]
    ) -> Observation:
        """Replace the given fields (keys in `OBSERVATION_UPDATABLE`)."""

    @abc.abstractmethod
    def delete_observation(self, experiment_id: int, observation_id: int) -> None: ...

    @abc.abstractmethod
    def delete_observations(self, experiment_id: int) -> int:
        """Soft-delete every observation of the experiment; returns how many."""

    @abc.abstractmethod
    def all_observations(self, experiment_id: int) -> list[Observation]:
        """Every non-deleted observation, oldest first (the optimizer's history)."""

    @abc.abstractmethod
    def open_suggestions(self, experiment_id: int) -> list[Suggestion]:
        """Every open, non-deleted suggestion, oldest first (the optimizer's pending set)."""

    def close(self) -> None:
        """Release the backing resources. Default: nothing to release."""

    # -- convenience, written once on the core ----------------------------------------
    def observation_count(self, experiment_id: int) -> int:
        return self.list_observations(experiment_id, limit=0).count

    def open_suggestion_count(self, experiment_id: int) -> int:
        return self.list_suggestions(experiment_id, open_only=True, limit=0).count
