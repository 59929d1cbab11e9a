"""The store contract: `BaseStore`, the records it takes, and helpers every store shares.

Contract, for every implementation (`InMemoryStore`, `SqliteStore`, `CachingStore` around
either), checked by one contract suite in `tests/sigopt_service/store/test_contract.py`:

- Ids are positive ints, assigned by the store, increasing in creation order, and never
  reused (a deleted row keeps its id). The wire models carry them as strings.
- Every method returns snapshots (frozen pydantic models): later writes never mutate an
  object already returned. Callers own what they get back.
- A method that returns without raising has committed its write: a crash after the return
  loses nothing. A method that raises has written nothing (all-or-nothing, also for
  `create_observations` with many observations).
- A missing id raises `RecordNotFound` with SigOpt's message: "No experiment 7",
  "No suggestion 5 for experiment 7", "No observation 9 for experiment 7". A suggestion or
  observation of another experiment counts as missing.
- An observation whose `suggestion` is unknown, of another experiment or deleted raises
  `UnknownSuggestion` ("No suggestion: 5 for experiment: 7", spec section 4), and nothing
  of the batch is stored.
- Unless `allow_duplicates` (sigopt-server's behaviour), a suggestion is observed once:
  naming one that is already closed, or the same one twice in a batch, raises
  `AlreadyObserved` (`in_batch` tells which) and nothing of the batch is stored. The check
  runs in the insert's own transaction.
- `create_observations(..., dry_run=True)` checks everything a real call would and stores
  nothing (the batch endpoint's `dry_run`).
- Suggestion state is derived, never stored: a suggestion is `closed` iff some observation
  (deleted or not) references it. Deleting that observation does not reopen it; moving it
  away does, when no other observation references the suggestion (see below). Deleted
  suggestions are never in `open_suggestions` nor in `open_only` lists.
- `update_observation` may move an observation (sigopt-server's observation update):
  `{"suggestion": S}` makes it reference suggestion S of the same experiment and copies
  S's assignments and task (S unknown, of another experiment or deleted:
  `UnknownSuggestion`; S referenced by another observation: `AlreadyObserved` unless
  `allow_duplicates`; S already its own suggestion: nothing to check). `{"assignments":
  {...}}` replaces the assignments and drops the suggestion reference (`task` may come
  with it, or alone on an observation without a suggestion). Both keys at once is a `ValueError`.
  The suggestion it left follows from what references it: open again iff no other
  observation references it (and it is not deleted). All in one transaction.
- Deletes of experiments, suggestions and observations are soft: rows stay, flagged.
- Queued suggestions (sigopt-server's `suggestions_queued`) hold assignments for a later
  suggestion. `serve_queued_suggestion` stores an open suggestion with a queued entry's
  assignments and consumes the entry in one transaction; a consumed or deleted entry is
  gone: `get_queued_suggestion` and `delete_queued_suggestion` raise `RecordNotFound`
  ("No QueuedSuggestion 3 for experiment 7"), lists leave it out. Which entry to serve
  (the oldest) is the caller's choice. Deleting an experiment leaves its queue as it is.
- API tokens (stored as the hashes of their secrets, revoked softly) keep the contract
  of `store/tokens.py`, whose `TokenStore` every store is.
- Projects, training runs and checkpoints (the AI module) keep the contract of
  `store/runs.py`, whose `RunStore` every store is.
- Database failures raise `DatabaseError`, chained to the driver's exception.
- Every error a store raises on purpose is a `StoreError` (`sigopt_service.errors`); none
  carries an HTTP status: the API boundary chooses it. A key outside `*_UPDATABLE` is a
  programming error (`ValueError`).
- Stores are synchronous and not thread-safe; the service serializes every call (one
  store thread), so an implementation needs no locking of its own. A store several
  processes share (`is_shared`, PostgreSQL) keeps the contract across processes: each
  write's checks see every other process's commits, and `experiment_transaction` makes
  a check that spans calls (the budget) atomic with the write it guards.

Pagination: `list_*` return a `Page` ordered newest first (descending id) unless
`ascending`; `cursor` continues after that id in the listing's own order (ids below it
when descending, above it when ascending); `count` is the total over all pages.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Literal

from sigopt_service.best import best_observations
from sigopt_service.models import (
    Assignments,
    Experiment,
    Metadata,
    Observation,
    QueuedSuggestion,
    Suggestion,
    Task,
)
from sigopt_service.store._listing import (
    NEWEST_FIRST,
    ExperimentListing,
    ObservationOrder,
)
from sigopt_service.store._listing import Page as Page  # re-exported: the contract's type
from sigopt_service.store._records import NewExperiment as NewExperiment
from sigopt_service.store._records import NewObservation as NewObservation
from sigopt_service.store.runs import RunStore
from sigopt_service.store.tokens import TokenStore

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
#: Keys `update_observation` accepts; `suggestion` (an id) and `assignments` move the
#: observation (one of them at most, see the contract).
OBSERVATION_UPDATABLE = frozenset(
    {"values", "failed", "metadata", "suggestion", "assignments", "task"}
)


class BaseStore(TokenStore, RunStore, abc.ABC):
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
        listing: ExperimentListing = NEWEST_FIRST,
    ) -> Page[Experiment]:
        """One page of the experiments in `state` that `listing` matches, in its order;
        `count` is over all pages. A `cursor` is the previous page's last id."""

    @abc.abstractmethod
    def update_experiment(self, experiment_id: int, changes: Mapping[str, Any]) -> Experiment:
        """Replace the given fields (keys in `EXPERIMENT_UPDATABLE`), bump `updated`."""

    # -- suggestions ------------------------------------------------------------------
    @abc.abstractmethod
    def create_suggestion(
        self,
        experiment_id: int,
        assignments: Assignments,
        metadata: Metadata | None = None,
        *,
        task: Task | None = None,
    ) -> Suggestion:
        """Store an open suggestion (of `task`, multitask). RecordNotFound for an unknown
        experiment."""

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
        deleted_only: bool = False,
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
        deleted_only: bool = False,
        limit: int = 100,
        cursor: int | None = None,
    ) -> Page[Observation]: ...

    @abc.abstractmethod
    def update_observation(
        self,
        experiment_id: int,
        observation_id: int,
        changes: Mapping[str, Any],
        *,
        allow_duplicates: bool = False,
    ) -> Observation:
        """Replace the given fields (keys in `OBSERVATION_UPDATABLE`); `suggestion` or
        `assignments` move the observation as the contract says (`allow_duplicates` as in
        `create_observations`)."""

    @abc.abstractmethod
    def delete_observation(self, experiment_id: int, observation_id: int) -> None: ...

    @abc.abstractmethod
    def delete_observations(self, experiment_id: int) -> int:
        """Soft-delete every observation of the experiment; returns how many."""

    # -- queued suggestions -------------------------------------------------------------
    @abc.abstractmethod
    def create_queued_suggestion(
        self, experiment_id: int, assignments: Assignments, *, task: Task | None = None
    ) -> QueuedSuggestion:
        """Queue validated assignments (and task). RecordNotFound for an unknown experiment."""

    @abc.abstractmethod
    def get_queued_suggestion(self, experiment_id: int, queued_id: int) -> QueuedSuggestion:
        """A queued entry not yet served nor deleted."""

    @abc.abstractmethod
    def list_queued_suggestions(
        self,
        experiment_id: int,
        *,
        ascending: bool = False,
        limit: int = 100,
        cursor: int | None = None,
    ) -> Page[QueuedSuggestion]:
        """The entries not yet served nor deleted, newest first unless `ascending`."""

    @abc.abstractmethod
    def delete_queued_suggestion(self, experiment_id: int, queued_id: int) -> None:
        """Soft-delete an entry not yet served nor deleted."""

    @abc.abstractmethod
    def serve_queued_suggestion(
        self, experiment_id: int, queued_id: int, metadata: Metadata | None = None
    ) -> Suggestion:
        """In one transaction: store an open suggestion with the entry's assignments, task
        and `metadata`, and consume the entry. RecordNotFound if the entry is gone."""

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

    #: Whether other processes write the same database (PostgreSQL): then nothing read may
    #: be kept for later (`CachingStore` passes every read through), and a check that
    #: spans several calls runs inside `experiment_transaction`.
    is_shared: bool = False

    def history_rewrites(self, experiment_id: int) -> int:
        """How many times the experiment's history was rewritten (not merely added to:
        a delete, an update, a move; the experiment updated). What service processes that
        share a database compare to know another one rewrote it. Default: 0, for a store
        no other process writes (`is_shared` False)."""
        return 0

    def experiment_transaction(self, experiment_id: int) -> AbstractContextManager[None]:
        """Run the enclosed calls about one experiment as one unit: a check (the budget)
        and the write it guards commit together, with no other writer of the experiment in
        between. Default: nothing to do, since a store of one process is only ever called
        from the service's one store thread, one use case at a time."""
        return contextlib.nullcontext()

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
        """How many non-deleted observations the experiment has."""
        return self.list_observations(experiment_id, limit=0).count

    def open_suggestion_count(self, experiment_id: int) -> int:
        """How many open, non-deleted suggestions the experiment has."""
        return self.list_suggestions(experiment_id, open_only=True, limit=0).count

    def list_sorted_observations(
        self,
        experiment_id: int,
        order: ObservationOrder,
        *,
        deleted_only: bool = False,
        limit: int = 100,
        cursor: int | None = None,
    ) -> Page[Observation]:
        """One page of the observations (the deleted ones only, with `deleted_only`) in
        `order`, past where the observation `cursor` names sorts (see `order.page`).
        Here: the whole history sorted in memory; a store that can sort on its own
        answers the same faster."""
        if order.is_by_id:
            return self.list_observations(
                experiment_id,
                ascending=order.ascending,
                deleted_only=deleted_only,
                limit=limit,
                cursor=cursor,
            )
        if deleted_only:
            count = self.list_observations(experiment_id, deleted_only=True, limit=0).count
            history = self.list_observations(experiment_id, deleted_only=True, limit=count).items
        else:
            history = self.all_observations(experiment_id)
        items, has_more = order.page(
            history, cursor, limit, lambda oid: self.get_observation(experiment_id, oid)
        )
        return Page(items, len(history), has_more)

    def queued_suggestion_count(self, experiment_id: int) -> int:
        """How many queued entries wait to be served."""
        return self.list_queued_suggestions(experiment_id, limit=0).count

    def oldest_queued_suggestion(self, experiment_id: int) -> QueuedSuggestion | None:
        """The entry a suggestion serves next, or None when the queue is empty."""
        items = self.list_queued_suggestions(experiment_id, ascending=True, limit=1).items
        return items[0] if items else None

    def best_observation(self, experiment_id: int) -> Observation | None:
        """The best observation of an experiment with exactly one optimized metric (its
        `progress.best_observation`); None when there is none yet or the experiment has
        several optimized metrics (it has a Pareto front, not one best)."""
        experiment = self.get_experiment(experiment_id)
        if len(experiment.optimized_metrics()) != 1:
            return None
        found = best_observations(experiment, self.all_observations(experiment_id))
        return found[0] if found else None
