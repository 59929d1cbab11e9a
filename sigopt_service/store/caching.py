"""`CachingStore`: a store around another store that answers the hot path's reads from
memory (the experiment, its observation and open-suggestion counts, its best observation,
how many queued suggestions wait). What it leaves alone goes straight through
(`DelegatingStore`).

```python
store = CachingStore(SqliteStore(path))
store.get_experiment(7)            # read once from the inner store, then from memory
store.create_observations(7, new)  # written through; counts and best updated, not re-read
store.is_warm(7, counts=True)      # would the next suggest read nothing from the database?
```
The caches are right by construction: each write method of the wrapper updates or drops
what that write changes, so no caller has to remember to. That holds under one assumption:
every write to the inner store goes through this wrapper, i.e. only this process writes
the database (the service's own store; never share the file with another writer). Around a
store other processes write too (`is_shared`, PostgreSQL) it keeps nothing: every read
goes through, so no process answers from what it saw before another one wrote.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

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
from sigopt_service.store._caching_runs import CachingRuns
from sigopt_service.store._delegating import DelegatingStore
from sigopt_service.store._owned import owned_experiment, owned_observation
from sigopt_service.store.base import BaseStore, NewObservation

__all__ = ["EXPERIMENT_CACHE_SIZE", "CachingStore", "owned_experiment", "owned_observation"]

V = TypeVar("V")

#: Experiments (and, separately, counts and best observations) kept, least recently used
#: dropped first: enough for every experiment a run of the orchestrator touches.
EXPERIMENT_CACHE_SIZE = 256


def _remember(cache: OrderedDict[int, V], key: int, value: V, size: int) -> None:
    """Keep `value`, dropping the least recently used entry past `size` (0: keep nothing)."""
    if size == 0:
        return
    cache[key] = value
    cache.move_to_end(key)
    if len(cache) > size:
        cache.popitem(last=False)


class CachingStore(CachingRuns, DelegatingStore):
    """A `BaseStore` that writes through to `inner` and keeps, per experiment, in LRUs of
    `size` entries: the experiment, `[observations, open suggestions]`, the best
    observation of a single-metric experiment, and how many queued suggestions wait.

    How each write keeps them right (every write goes through here, see the module
    docstring): `create_suggestion` adds an open suggestion; `create_observations` adds
    its observations, closes the suggestions they name and folds them into the best one
    (with `allow_duplicates` the counts are re-read next time: a repeat closes nothing;
    a `dry_run` changes nothing); an update or delete of a suggestion or observation (a
    move onto another suggestion or assignments too) drops the experiment's counts and
    best; `update_experiment` drops the experiment too. Queueing adds one waiting entry;
    serving one takes it and adds an open suggestion; deleting one takes it (a failed
    queue write drops the queue's count). A training run's observation moves counts and
    best as `create_observations` does; deleting runs drops the experiment's views
    (`CachingRuns`). Everything else passes through.

    Results are snapshots as the contract asks: a cached experiment or best observation is
    handed out only as a copy (`owned_experiment`), except by `peek_experiment`, whose
    caller promises to only read. Not thread-safe, like every store.
    """

    def __init__(self, inner: BaseStore, *, size: int = EXPERIMENT_CACHE_SIZE) -> None:
        if size < 1:
            raise ValueError("size must be >= 1")
        super().__init__(inner)
        self.size = size
        #: How many entries each cache keeps: none around a shared store.
        self._keep = 0 if inner.is_shared else size
        self._experiments: OrderedDict[int, Experiment] = OrderedDict()
        #: [observations, open suggestions], edited in place by the writes.
        self._counts: OrderedDict[int, list[int]] = OrderedDict()
        #: Only experiments with exactly one optimized metric; None: no best one yet.
        self._best: OrderedDict[int, Observation | None] = OrderedDict()
        #: Queued suggestions waiting to be served.
        self._queued: OrderedDict[int, int] = OrderedDict()

    def __repr__(self) -> str:
        return (
            f"<CachingStore of {self.inner!r} experiments={len(self._experiments)}/{self.size}"
            f" counts={len(self._counts)} best={len(self._best)} queued={len(self._queued)}>"
        )

    # -- the caches ---------------------------------------------------------------------
    def is_warm(self, experiment_id: int, *, counts: bool, queue: bool = False) -> bool:
        """Whether the experiment (and, if `counts`, its two counts) is cached, so reading
        it (them) touches no database: the hot path's "may this run on the loop?". With
        `queue`, also whether its queue is known to be empty: serving a queued entry reads
        the entry."""
        if experiment_id not in self._experiments:
            return False
        if queue and self._queued.get(experiment_id) != 0:
            return False
        return not counts or experiment_id in self._counts

    def _experiment(self, experiment_id: int) -> Experiment:
        """The cached experiment itself: for this module only, never handed out."""
        cached = self._experiments.get(experiment_id)
        if cached is None:
            cached = self.inner.get_experiment(experiment_id)
            _remember(self._experiments, experiment_id, cached, self._keep)
        else:
            self._experiments.move_to_end(experiment_id)
        return cached

    def _known_counts(self, experiment_id: int) -> list[int]:
        known = self._counts.get(experiment_id)
        if known is None:
            known = [
                self.inner.observation_count(experiment_id),
                self.inner.open_suggestion_count(experiment_id),
            ]
            _remember(self._counts, experiment_id, known, self._keep)
        else:
            self._counts.move_to_end(experiment_id)
        return known

    def _drop_views(self, experiment_id: int) -> None:
        """After a change that is not a plain addition: counts and best are re-read on use."""
        self._counts.pop(experiment_id, None)
        self._best.pop(experiment_id, None)

    def _drop(self, experiment_id: int) -> None:
        """After the experiment itself changed: drop it and every view of it."""
        self._experiments.pop(experiment_id, None)
        self._drop_views(experiment_id)

    # -- answered from the caches ---------------------------------------------------------
    def get_experiment(self, experiment_id: int) -> Experiment:
        return owned_experiment(self._experiment(experiment_id))

    def peek_experiment(self, experiment_id: int) -> Experiment:
        """The cached experiment itself, not a copy (Optuna's `deepcopy=False`): for a
        caller that only reads it, such as the hot path on every suggest and observe,
        where the copy would be the costliest part of the read. Never mutate the result;
        later writes do not change it (they replace the cached object). Raises like
        `get_experiment`."""
        return self._experiment(experiment_id)

    def observation_count(self, experiment_id: int) -> int:
        return self._known_counts(experiment_id)[0]

    def open_suggestion_count(self, experiment_id: int) -> int:
        return self._known_counts(experiment_id)[1]

    def best_observation(self, experiment_id: int) -> Observation | None:
        if experiment_id in self._best:
            self._best.move_to_end(experiment_id)
        else:
            experiment = self._experiment(experiment_id)
            if len(experiment.optimized_metrics()) != 1:
                return None
            found = best_observations(experiment, self.inner.all_observations(experiment_id))
            if not self._keep:
                return owned_observation(found[0]) if found else None
            _remember(self._best, experiment_id, found[0] if found else None, self._keep)
        best = self._best[experiment_id]
        return None if best is None else owned_observation(best)

    # -- writes that keep the caches ------------------------------------------------------
    def update_experiment(self, experiment_id: int, changes: Mapping[str, Any]) -> Experiment:
        try:
            return self.inner.update_experiment(experiment_id, changes)
        finally:
            self._drop(experiment_id)

    def create_suggestion(
        self,
        experiment_id: int,
        assignments: Assignments,
        metadata: Metadata | None = None,
        *,
        task: Task | None = None,
    ) -> Suggestion:
        created = self.inner.create_suggestion(experiment_id, assignments, metadata, task=task)
        known = self._counts.get(experiment_id)
        if known is not None:
            known[1] += 1
        return created

    def update_suggestion(
        self, experiment_id: int, suggestion_id: int, metadata: Metadata | None
    ) -> Suggestion:
        try:
            return self.inner.update_suggestion(experiment_id, suggestion_id, metadata)
        finally:
            self._drop_views(experiment_id)

    def delete_suggestion(self, experiment_id: int, suggestion_id: int) -> None:
        try:
            self.inner.delete_suggestion(experiment_id, suggestion_id)
        finally:
            self._drop_views(experiment_id)

    def delete_suggestions(self, experiment_id: int, *, open_only: bool) -> int:
        try:
            return self.inner.delete_suggestions(experiment_id, open_only=open_only)
        finally:
            self._drop_views(experiment_id)

    def create_observations(
        self,
        experiment_id: int,
        new: Sequence[NewObservation],
        *,
        allow_duplicates: bool = False,
        dry_run: bool = False,
    ) -> list[Observation]:
        created = self.inner.create_observations(
            experiment_id, new, allow_duplicates=allow_duplicates, dry_run=dry_run
        )
        if dry_run or not created:
            return created
        if allow_duplicates and experiment_id in self._counts:
            # A repeat closes nothing new, and which one was a repeat is not known here.
            del self._counts[experiment_id]
        self._observed(experiment_id, created)
        return created

    def _observed(self, experiment_id: int, created: Sequence[Observation]) -> None:
        """Fold stored observations into the counts and the best (a training run's
        observation too: `CachingRuns`)."""
        known = self._counts.get(experiment_id)
        if known is not None:
            # Each one naming a suggestion closed an open one (no duplicates here).
            known[0] += len(created)
            known[1] -= sum(1 for o in created if o.suggestion is not None)
        if experiment_id in self._best:
            self._fold_into_best(experiment_id, created)

    def _drop_all_views(self) -> None:
        self._counts.clear()
        self._best.clear()

    def _fold_into_best(self, experiment_id: int, created: Sequence[Observation]) -> None:
        """The best of all is the best of (the best so far, the new ones): older first, so
        a tie keeps the older, as `best_observations` orders them."""
        previous = self._best[experiment_id]
        found = best_observations(
            self._experiment(experiment_id), [*([previous] if previous else []), *created]
        )
        if not found:
            self._best[experiment_id] = None
        elif found[0] is not previous:
            # A copy: `created` belongs to the caller, who may mutate it.
            self._best[experiment_id] = owned_observation(found[0])

    def update_observation(
        self,
        experiment_id: int,
        observation_id: int,
        changes: Mapping[str, Any],
        *,
        allow_duplicates: bool = False,
    ) -> Observation:
        # A move reopens or closes suggestions and changes assignments: views dropped.
        try:
            return self.inner.update_observation(
                experiment_id, observation_id, changes, allow_duplicates=allow_duplicates
            )
        finally:
            self._drop_views(experiment_id)

    def delete_observation(self, experiment_id: int, observation_id: int) -> None:
        try:
            self.inner.delete_observation(experiment_id, observation_id)
        finally:
            self._drop_views(experiment_id)

    def delete_observations(self, experiment_id: int) -> int:
        try:
            return self.inner.delete_observations(experiment_id)
        finally:
            self._drop_views(experiment_id)

    # -- the queue's count --------------------------------------------------------------
    def queued_suggestion_count(self, experiment_id: int) -> int:
        known = self._queued.get(experiment_id)
        if known is None:
            known = self.inner.queued_suggestion_count(experiment_id)
            _remember(self._queued, experiment_id, known, self._keep)
        else:
            self._queued.move_to_end(experiment_id)
        return known

    def _queue_changed(self, experiment_id: int, by: int | None) -> None:
        """Move a cached queue count `by` entries; None: forget it (re-read on use)."""
        if by is None:
            self._queued.pop(experiment_id, None)
        elif experiment_id in self._queued:
            self._queued[experiment_id] += by

    def create_queued_suggestion(
        self, experiment_id: int, assignments: Assignments, *, task: Task | None = None
    ) -> QueuedSuggestion:
        try:
            created = self.inner.create_queued_suggestion(experiment_id, assignments, task=task)
        except BaseException:
            self._queue_changed(experiment_id, None)
            raise
        self._queue_changed(experiment_id, +1)
        return created

    def delete_queued_suggestion(self, experiment_id: int, queued_id: int) -> None:
        try:
            self.inner.delete_queued_suggestion(experiment_id, queued_id)
        except BaseException:
            self._queue_changed(experiment_id, None)
            raise
        self._queue_changed(experiment_id, -1)

    def serve_queued_suggestion(
        self, experiment_id: int, queued_id: int, metadata: Metadata | None = None
    ) -> Suggestion:
        try:
            served = self.inner.serve_queued_suggestion(experiment_id, queued_id, metadata)
        except BaseException:
            self._queue_changed(experiment_id, None)
            raise
        self._queue_changed(experiment_id, -1)
        known = self._counts.get(experiment_id)
        if known is not None:
            known[1] += 1
        return served

    def close(self) -> None:
        """Close the inner store and forget every cached record."""
        self._experiments.clear()
        self._counts.clear()
        self._best.clear()
        self._queued.clear()
        self.inner.close()
