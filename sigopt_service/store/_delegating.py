"""`DelegatingStore`: a store that hands every call to the store it wraps, so a wrapper
(`CachingStore`) overrides only what it changes, and a method added to the contract is
forwarded once, here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from sigopt_service.models import (
    Assignments,
    Experiment,
    Metadata,
    Observation,
    QueuedSuggestion,
    Suggestion,
    Task,
)
from sigopt_service.store._delegating_runs import DelegatingRuns
from sigopt_service.store._delegating_tokens import DelegatingTokens
from sigopt_service.store._listing import NEWEST_FIRST, ExperimentListing, ObservationOrder
from sigopt_service.store.base import (
    BaseStore,
    ExperimentStateFilter,
    NewExperiment,
    NewObservation,
    Page,
)


class DelegatingStore(DelegatingTokens, DelegatingRuns, BaseStore):
    """Every method, the conveniences included (the inner store may answer them faster
    than the base's versions), is the `inner` store's."""

    def __init__(self, inner: BaseStore) -> None:
        self.inner = inner

    # -- experiments ----------------------------------------------------------------------
    def create_experiment(self, new: NewExperiment) -> Experiment:
        return self.inner.create_experiment(new)

    def get_experiment(self, experiment_id: int) -> Experiment:
        return self.inner.get_experiment(experiment_id)

    def list_experiments(
        self,
        *,
        state: ExperimentStateFilter = "active",
        limit: int = 100,
        cursor: int | None = None,
        listing: ExperimentListing = NEWEST_FIRST,
    ) -> Page[Experiment]:
        return self.inner.list_experiments(state=state, limit=limit, cursor=cursor, listing=listing)

    def update_experiment(self, experiment_id: int, changes: Mapping[str, Any]) -> Experiment:
        return self.inner.update_experiment(experiment_id, changes)

    # -- suggestions ----------------------------------------------------------------------
    def create_suggestion(
        self,
        experiment_id: int,
        assignments: Assignments,
        metadata: Metadata | None = None,
        *,
        task: Task | None = None,
    ) -> Suggestion:
        return self.inner.create_suggestion(experiment_id, assignments, metadata, task=task)

    def get_suggestion(self, experiment_id: int, suggestion_id: int) -> Suggestion:
        return self.inner.get_suggestion(experiment_id, suggestion_id)

    def list_suggestions(
        self,
        experiment_id: int,
        *,
        open_only: bool = False,
        include_deleted: bool = False,
        deleted_only: bool = False,
        ids: Sequence[int] | None = None,
        limit: int = 100,
        cursor: int | None = None,
    ) -> Page[Suggestion]:
        return self.inner.list_suggestions(
            experiment_id,
            open_only=open_only,
            include_deleted=include_deleted,
            deleted_only=deleted_only,
            ids=ids,
            limit=limit,
            cursor=cursor,
        )

    def update_suggestion(
        self, experiment_id: int, suggestion_id: int, metadata: Metadata | None
    ) -> Suggestion:
        return self.inner.update_suggestion(experiment_id, suggestion_id, metadata)

    def delete_suggestion(self, experiment_id: int, suggestion_id: int) -> None:
        self.inner.delete_suggestion(experiment_id, suggestion_id)

    def delete_suggestions(self, experiment_id: int, *, open_only: bool) -> int:
        return self.inner.delete_suggestions(experiment_id, open_only=open_only)

    def suggestion_count(self, experiment_id: int) -> int:
        return self.inner.suggestion_count(experiment_id)

    # -- observations ---------------------------------------------------------------------
    def create_observations(
        self,
        experiment_id: int,
        new: Sequence[NewObservation],
        *,
        allow_duplicates: bool = False,
        dry_run: bool = False,
    ) -> list[Observation]:
        return self.inner.create_observations(
            experiment_id, new, allow_duplicates=allow_duplicates, dry_run=dry_run
        )

    def get_observation(self, experiment_id: int, observation_id: int) -> Observation:
        return self.inner.get_observation(experiment_id, observation_id)

    def list_observations(
        self,
        experiment_id: int,
        *,
        ascending: bool = False,
        include_deleted: bool = False,
        deleted_only: bool = False,
        limit: int = 100,
        cursor: int | None = None,
    ) -> Page[Observation]:
        return self.inner.list_observations(
            experiment_id,
            ascending=ascending,
            include_deleted=include_deleted,
            deleted_only=deleted_only,
            limit=limit,
            cursor=cursor,
        )

    def update_observation(
        self,
        experiment_id: int,
        observation_id: int,
        changes: Mapping[str, Any],
        *,
        allow_duplicates: bool = False,
    ) -> Observation:
        return self.inner.update_observation(
            experiment_id, observation_id, changes, allow_duplicates=allow_duplicates
        )

    def delete_observation(self, experiment_id: int, observation_id: int) -> None:
        self.inner.delete_observation(experiment_id, observation_id)

    def delete_observations(self, experiment_id: int) -> int:
        return self.inner.delete_observations(experiment_id)

    def all_observations(self, experiment_id: int) -> list[Observation]:
        return self.inner.all_observations(experiment_id)

    def open_suggestions(self, experiment_id: int) -> list[Suggestion]:
        return self.inner.open_suggestions(experiment_id)

    # -- queued suggestions ---------------------------------------------------------------
    def create_queued_suggestion(
        self, experiment_id: int, assignments: Assignments, *, task: Task | None = None
    ) -> QueuedSuggestion:
        return self.inner.create_queued_suggestion(experiment_id, assignments, task=task)

    def get_queued_suggestion(self, experiment_id: int, queued_id: int) -> QueuedSuggestion:
        return self.inner.get_queued_suggestion(experiment_id, queued_id)

    def list_queued_suggestions(
        self,
        experiment_id: int,
        *,
        ascending: bool = False,
        limit: int = 100,
        cursor: int | None = None,
    ) -> Page[QueuedSuggestion]:
        return self.inner.list_queued_suggestions(
            experiment_id, ascending=ascending, limit=limit, cursor=cursor
        )

    def delete_queued_suggestion(self, experiment_id: int, queued_id: int) -> None:
        self.inner.delete_queued_suggestion(experiment_id, queued_id)

    def serve_queued_suggestion(
        self, experiment_id: int, queued_id: int, metadata: Metadata | None = None
    ) -> Suggestion:
        return self.inner.serve_queued_suggestion(experiment_id, queued_id, metadata)

    # -- conveniences and housekeeping ----------------------------------------------------
    def observation_count(self, experiment_id: int) -> int:
        return self.inner.observation_count(experiment_id)

    def open_suggestion_count(self, experiment_id: int) -> int:
        return self.inner.open_suggestion_count(experiment_id)

    def best_observation(self, experiment_id: int) -> Observation | None:
        return self.inner.best_observation(experiment_id)

    def list_sorted_observations(
        self,
        experiment_id: int,
        order: ObservationOrder,
        *,
        deleted_only: bool = False,
        limit: int = 100,
        cursor: int | None = None,
    ) -> Page[Observation]:
        return self.inner.list_sorted_observations(
            experiment_id, order, deleted_only=deleted_only, limit=limit, cursor=cursor
        )

    def queued_suggestion_count(self, experiment_id: int) -> int:
        return self.inner.queued_suggestion_count(experiment_id)

    def oldest_queued_suggestion(self, experiment_id: int) -> QueuedSuggestion | None:
        return self.inner.oldest_queued_suggestion(experiment_id)

    @property
    def writes_are_quick(self) -> bool:
        """The inner store's: a wrapper adds no waiting."""
        return self.inner.writes_are_quick

    @writes_are_quick.setter
    def writes_are_quick(self, quick: bool) -> None:
        self.inner.writes_are_quick = quick

    @property
    def is_shared(self) -> bool:
        return self.inner.is_shared

    @is_shared.setter
    def is_shared(self, shared: bool) -> None:
        self.inner.is_shared = shared

    def experiment_transaction(self, experiment_id: int) -> AbstractContextManager[None]:
        return self.inner.experiment_transaction(experiment_id)

    def history_rewrites(self, experiment_id: int) -> int:
        return self.inner.history_rewrites(experiment_id)

    @property
    def maintenance_due(self) -> bool:
        return self.inner.maintenance_due

    def maintain(self) -> None:
        self.inner.maintain()

    def close(self) -> None:
        self.inner.close()
