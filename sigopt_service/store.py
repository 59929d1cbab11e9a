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
- Unless `allow_duplicates` (sigopt-server's behaviour), a suggestion is observed once:
  naming one that is already closed, or the same one twice in a batch, raises `Conflict`
  and nothing of the batch is stored. The check runs in the insert's own transaction.
- `create_observations(..., dry_run=True)` checks everything a real call would and stores
  nothing (the batch endpoint's `dry_run`).
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
from enum import Enum
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from sigopt_service.errors import Conflict, InvalidRequest, NotFound
from sigopt_service.models import (
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
    {
        "name",
        "state",
        "observation_budget",
        "parallel_bandwidth",
        "metadata",
        "parameters",
        "metrics",
        "project",
    }
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


def check_observed_once(
    suggestion_id: int, experiment_id: int, named: set[int], *, closed: bool
) -> None:
    """The one-observation-per-suggestion rule, shared by the stores: `named` collects the
    batch's suggestions so far."""
    if suggestion_id in named:
        raise Conflict(f"Suggestion {suggestion_id} is observed twice in this request")
    named.add(suggestion_id)
    if closed:
        raise Conflict(
            f"Suggestion {suggestion_id} already has an observation "
            f"(experiment {experiment_id}); each suggestion is observed once"
        )


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
        self,
        *,
        state: ExperimentStateFilter = "active",
        limit: int = 100,
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
        self,
        experiment_id: int,
        *,
        open_only: bool = False,
        include_deleted: bool = False,
        ids: Sequence[int] | None = None,
        limit: int = 100,
        cursor: int | None = None,
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
        self,
        experiment_id: int,
        new: Sequence[NewObservation],
        *,
        allow_duplicates: bool = False,
        dry_run: bool = False,
    ) -> list[Observation]:
        """Store all or none, in order; each one naming a suggestion closes it. With
        `dry_run`, check as for real, store nothing and return []."""

    @abc.abstractmethod
    def get_observation(self, experiment_id: int, observation_id: int) -> Observation: ...

    @abc.abstractmethod
    def list_observations(
        self,
        experiment_id: int,
        *,
        ascending: bool = False,
        include_deleted: bool = False,
        limit: int = 100,
        cursor: int | None = None,
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
        return None

    #: Whether every call returns in microseconds (no fsync, no waiting on disk), so the
    #: service may run it on its event loop (`StoreThread.run_now_if_idle`).
    writes_are_quick: bool = True

    @property
    def maintenance_due(self) -> bool:
        """Whether `maintain()` has slow housekeeping to do (the service runs it on its
        store thread). Default: never."""
        return False

    def maintain(self) -> None:
        """Do the housekeeping `maintenance_due` announced. Default: nothing."""
        return None

    # -- convenience, written once on the core ----------------------------------------
    def observation_count(self, experiment_id: int) -> int:
        return self.list_observations(experiment_id, limit=0).count

    def open_suggestion_count(self, experiment_id: int) -> int:
        return self.list_suggestions(experiment_id, open_only=True, limit=0).count


def _page(ids: Sequence[int], *, ascending: bool, limit: int, cursor: int | None) -> Page[int]:
    """Paginate ids given in ascending order; shared by the in-memory store."""
    if limit < 0:
        raise ValueError("limit must be >= 0")
    ordered = list(ids) if ascending else list(reversed(ids))
    if cursor is not None:
        ordered = [i for i in ordered if (i > cursor if ascending else i < cursor)]
    return Page(items=ordered[:limit], count=len(ids), has_more=len(ordered) > limit)


class InMemoryStore(BaseStore):
    """A dict-backed store for tests and benchmarks; it forgets everything on exit.

    Returned objects are deep copies, so callers may mutate them freely (the frozen models
    still hold mutable dicts and lists).
    """

    def __init__(self) -> None:
        self._experiments: dict[int, Experiment] = {}
        self._suggestions: dict[int, Suggestion] = {}
        self._observations: dict[int, Observation] = {}
        self._suggestion_ids: dict[int, list[int]] = {}
        self._observation_ids: dict[int, list[int]] = {}
        # Suggestion ids some observation (deleted or not) references: the derived state.
        self._closed: set[int] = set()
        self._next_experiment_id = 1
        self._next_suggestion_id = 1
        self._next_observation_id = 1

    def __repr__(self) -> str:
        return (
            f"<InMemoryStore experiments={len(self._experiments)} "
            f"suggestions={len(self._suggestions)} observations={len(self._observations)}>"
        )

    # -- lookups ------------------------------------------------------------------------
    def _experiment(self, experiment_id: int) -> Experiment:
        experiment = self._experiments.get(experiment_id)
        if experiment is None:
            raise NotFound(f"No experiment {experiment_id}")
        return experiment

    def _suggestion(self, experiment_id: int, suggestion_id: int) -> Suggestion:
        self._experiment(experiment_id)
        suggestion = self._suggestions.get(suggestion_id)
        if suggestion is None or suggestion.experiment != str(experiment_id):
            raise NotFound(f"No suggestion {suggestion_id} for experiment {experiment_id}")
        return suggestion

    def _observation(self, experiment_id: int, observation_id: int) -> Observation:
        self._experiment(experiment_id)
        observation = self._observations.get(observation_id)
        if observation is None or observation.experiment != str(experiment_id):
            raise NotFound(f"No observation {observation_id} for experiment {experiment_id}")
        return observation

    def _is_open(self, suggestion: Suggestion) -> bool:
        return not suggestion.deleted and int(suggestion.id) not in self._closed

    def _suggestion_snapshot(self, suggestion: Suggestion) -> Suggestion:
        state = SuggestionState.CLOSED if int(suggestion.id) in self._closed else None
        update = {} if state is None else {"state": state}
        return suggestion.model_copy(update=update, deep=True)

    # -- experiments --------------------------------------------------------------------
    def create_experiment(self, new: NewExperiment) -> Experiment:
        experiment_id = self._next_experiment_id
        now = now_s()
        # Validating from a dump builds fresh containers: the caller keeps owning `new`.
        experiment = Experiment.model_validate(
            {**new.model_dump(), "id": str(experiment_id), "created": now, "updated": now}
        )
        self._next_experiment_id += 1
        self._experiments[experiment_id] = experiment
        self._suggestion_ids[experiment_id] = []
        self._observation_ids[experiment_id] = []
        return experiment.model_copy(deep=True)

    def get_experiment(self, experiment_id: int) -> Experiment:
        return self._experiment(experiment_id).model_copy(deep=True)

    def list_experiments(
        self,
        *,
        state: ExperimentStateFilter = "active",
        limit: int = 100,
        cursor: int | None = None,
    ) -> Page[Experiment]:
        ids = [
            i
            for i, e in self._experiments.items()
            if state == "all" or e.state is ExperimentState(state)
        ]
        page = _page(ids, ascending=False, limit=limit, cursor=cursor)
        items = [self._experiments[i].model_copy(deep=True) for i in page.items]
        return Page(items=items, count=page.count, has_more=page.has_more)

    def update_experiment(self, experiment_id: int, changes: Mapping[str, Any]) -> Experiment:
        current = self._experiment(experiment_id)
        check_update_keys(changes, EXPERIMENT_UPDATABLE)
        updated = Experiment.model_validate(
            {**current.model_dump(), **plain_changes(changes), "updated": now_s()}
        )
        self._experiments[experiment_id] = updated
        return updated.model_copy(deep=True)

    # -- suggestions --------------------------------------------------------------------
    def create_suggestion(
        self, experiment_id: int, assignments: Assignments, metadata: Metadata | None = None
    ) -> Suggestion:
        self._experiment(experiment_id)
        suggestion_id = self._next_suggestion_id
        suggestion = Suggestion(
            id=str(suggestion_id),
            experiment=str(experiment_id),
            assignments=dict(assignments),
            metadata=None if metadata is None else dict(metadata),
            created=now_s(),
        )
        self._next_suggestion_id += 1
        self._suggestions[suggestion_id] = suggestion
        self._suggestion_ids[experiment_id].append(suggestion_id)
        return suggestion.model_copy(deep=True)

    def get_suggestion(self, experiment_id: int, suggestion_id: int) -> Suggestion:
        return self._suggestion_snapshot(self._suggestion(experiment_id, suggestion_id))

    def list_suggestions(
        self,
        experiment_id: int,
        *,
        open_only: bool = False,
        include_deleted: bool = False,
        ids: Sequence[int] | None = None,
        limit: int = 100,
        cursor: int | None = None,
    ) -> Page[Suggestion]:
        self._experiment(experiment_id)
        wanted = None if ids is None else set(ids)
        selected = []
        for i in self._suggestion_ids[experiment_id]:
            suggestion = self._suggestions[i]
            if open_only and not self._is_open(suggestion):
                continue
            if suggestion.deleted and not include_deleted:
                continue
            if wanted is not None and i not in wanted:
                continue
            selected.append(i)
        page = _page(selected, ascending=False, limit=limit, cursor=cursor)
        items = [self._suggestion_snapshot(self._suggestions[i]) for i in page.items]
        return Page(items=items, count=page.count, has_more=page.has_more)

    def update_suggestion(
        self, experiment_id: int, suggestion_id: int, metadata: Metadata | None
    ) -> Suggestion:
        current = self._suggestion(experiment_id, suggestion_id)
        updated = current.model_copy(
            update={"metadata": None if metadata is None else dict(metadata)}
        )
        self._suggestions[suggestion_id] = updated
        return self._suggestion_snapshot(updated)

    def delete_suggestion(self, experiment_id: int, suggestion_id: int) -> None:
        current = self._suggestion(experiment_id, suggestion_id)
        self._suggestions[suggestion_id] = current.model_copy(update={"deleted": True})

    def delete_suggestions(self, experiment_id: int, *, open_only: bool) -> int:
        self._experiment(experiment_id)
        deleted = 0
        for i in self._suggestion_ids[experiment_id]:
            suggestion = self._suggestions[i]
            if suggestion.deleted or (open_only and not self._is_open(suggestion)):
                continue
            self._suggestions[i] = suggestion.model_copy(update={"deleted": True})
            deleted += 1
        return deleted

    def suggestion_count(self, experiment_id: int) -> int:
        self._experiment(experiment_id)
        return len(self._suggestion_ids[experiment_id])

    # -- observations -------------------------------------------------------------------
    def create_observations(
        self,
        experiment_id: int,
        new: Sequence[NewObservation],
        *,
        allow_duplicates: bool = False,
        dry_run: bool = False,
    ) -> list[Observation]:
        self._experiment(experiment_id)
        # Resolve every suggestion before storing anything: all or nothing.
        assignments: list[Assignments] = []
        named: set[int] = set()
        for item in new:
            if item.suggestion is None:
                assignments.append(dict(item.assignments or {}))
                continue
            suggestion = self._suggestions.get(item.suggestion)
            if (
                suggestion is None
                or suggestion.deleted
                or suggestion.experiment != str(experiment_id)
            ):
                raise InvalidRequest(
                    f"No suggestion: {item.suggestion} for experiment: {experiment_id}"
                )
            if not allow_duplicates:
                check_observed_once(
                    item.suggestion, experiment_id, named, closed=item.suggestion in self._closed
                )
            assignments.append(dict(suggestion.assignments))
        if dry_run:
            return []
        now = now_s()
        created = []
        for item, item_assignments in zip(new, assignments, strict=True):
            observation_id = self._next_observation_id
            self._next_observation_id += 1
            observation = Observation(
                id=str(observation_id),
                experiment=str(experiment_id),
                suggestion=None if item.suggestion is None else str(item.suggestion),
                assignments=item_assignments,
                values=list(item.values),
                failed=item.failed,
                metadata=None if item.metadata is None else dict(item.metadata),
                created=now,
            )
            self._observations[observation_id] = observation
            self._observation_ids[experiment_id].append(observation_id)
            if item.suggestion is not None:
                self._closed.add(item.suggestion)
            created.append(observation.model_copy(deep=True))
        return created

    def get_observation(self, experiment_id: int, observation_id: int) -> Observation:
        return self._observation(experiment_id, observation_id).model_copy(deep=True)

    def list_observations(
        self,
        experiment_id: int,
        *,
        ascending: bool = False,
        include_deleted: bool = False,
        limit: int = 100,
        cursor: int | None = None,
    ) -> Page[Observation]:
        self._experiment(experiment_id)
        selected = [
            i
            for i in self._observation_ids[experiment_id]
            if include_deleted or not self._observations[i].deleted
        ]
        page = _page(selected, ascending=ascending, limit=limit, cursor=cursor)
        items = [self._observations[i].model_copy(deep=True) for i in page.items]
        return Page(items=items, count=page.count, has_more=page.has_more)

    def update_observation(
        self, experiment_id: int, observation_id: int, changes: Mapping[str, Any]
    ) -> Observation:
        current = self._observation(experiment_id, observation_id)
        check_update_keys(changes, OBSERVATION_UPDATABLE)
        values = plain_changes(changes)
        if "values" in values and values["values"] is None:
            values["values"] = []
        updated = Observation.model_validate({**current.model_dump(), **values})
        self._observations[observation_id] = updated
        return updated.model_copy(deep=True)

    def delete_observation(self, experiment_id: int, observation_id: int) -> None:
        current = self._observation(experiment_id, observation_id)
        self._observations[observation_id] = current.model_copy(update={"deleted": True})

    def delete_observations(self, experiment_id: int) -> int:
        self._experiment(experiment_id)
        deleted = 0
        for i in self._observation_ids[experiment_id]:
            observation = self._observations[i]
            if not observation.deleted:
                self._observations[i] = observation.model_copy(update={"deleted": True})
                deleted += 1
        return deleted

    def all_observations(self, experiment_id: int) -> list[Observation]:
        self._experiment(experiment_id)
        return [
            self._observations[i].model_copy(deep=True)
            for i in self._observation_ids[experiment_id]
            if not self._observations[i].deleted
        ]

    def open_suggestions(self, experiment_id: int) -> list[Suggestion]:
        self._experiment(experiment_id)
        return [
            self._suggestions[i].model_copy(deep=True)
            for i in self._suggestion_ids[experiment_id]
            if self._is_open(self._suggestions[i])
        ]


def check_update_keys(changes: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise ValueError(f"Cannot update {', '.join(unknown)}")


def plain_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Plain data for `changes`, whose values may be models, enums or lists of models.

    Shared by both stores so an update stores the same thing whichever store runs.
    """
    return {key: _plain(value) for key, value in changes.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Enum):
        return value.value
    return value
