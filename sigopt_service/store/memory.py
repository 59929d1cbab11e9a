"""`InMemoryStore`: the store contract on dicts, for tests, benchmarks and `--db` unset
(its queued suggestions in `_memory_queue.py`, its API tokens in `_memory_tokens.py`, its
projects, training runs and checkpoints in `_memory_runs.py`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sigopt_service.errors import RecordNotFound, UnknownSuggestion
from sigopt_service.models import (
    Assignments,
    Experiment,
    ExperimentState,
    Metadata,
    Observation,
    Suggestion,
    SuggestionState,
    Task,
)
from sigopt_service.store._changes import (
    check_observed_once,
    check_update_keys,
    now_s,
    observation_changes,
    plain_changes,
)
from sigopt_service.store._listing import NEWEST_FIRST, ExperimentListing, id_page
from sigopt_service.store._memory_queue import InMemoryQueue
from sigopt_service.store._memory_runs import InMemoryRuns
from sigopt_service.store._memory_tokens import InMemoryTokens
from sigopt_service.store.base import (
    EXPERIMENT_UPDATABLE,
    ExperimentStateFilter,
    NewExperiment,
    NewObservation,
    Page,
)


class InMemoryStore(InMemoryQueue, InMemoryTokens, InMemoryRuns):
    """A dict-backed store for tests and benchmarks; it forgets everything on exit.

    Returned objects are deep copies, so callers may mutate them freely (the frozen models
    still hold mutable dicts and lists).
    """

    def __init__(self) -> None:
        super().__init__()
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
            raise RecordNotFound("experiment", experiment_id)
        return experiment

    def _suggestion(self, experiment_id: int, suggestion_id: int) -> Suggestion:
        self._experiment(experiment_id)
        suggestion = self._suggestions.get(suggestion_id)
        if suggestion is None or suggestion.experiment != str(experiment_id):
            raise RecordNotFound("suggestion", suggestion_id, experiment_id)
        return suggestion

    def _observation(self, experiment_id: int, observation_id: int) -> Observation:
        self._experiment(experiment_id)
        observation = self._observations.get(observation_id)
        if observation is None or observation.experiment != str(experiment_id):
            raise RecordNotFound("observation", observation_id, experiment_id)
        return observation

    def _observable(
        self, experiment_id: int, suggestion_id: int, named: set[int] | None
    ) -> Suggestion:
        """The suggestion an observation may name (`UnknownSuggestion` otherwise); with
        `named` (the batch's so far), `check_observed_once` too. None allows repeats."""
        suggestion = self._suggestions.get(suggestion_id)
        if suggestion is None or suggestion.deleted or suggestion.experiment != str(experiment_id):
            raise UnknownSuggestion(suggestion_id, experiment_id)
        if named is not None:
            closed = suggestion_id in self._closed
            check_observed_once(suggestion_id, experiment_id, named, closed=closed)
        return suggestion

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
        listing: ExperimentListing = NEWEST_FIRST,
    ) -> Page[Experiment]:
        chosen = [
            e
            for e in self._experiments.values()
            if (state == "all" or e.state is ExperimentState(state)) and listing.matches(e)
        ]
        at = None if cursor is None else self._experiments.get(cursor)
        items, has_more = listing.page(chosen, cursor, at, limit)
        return Page([e.model_copy(deep=True) for e in items], len(chosen), has_more)

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
        self,
        experiment_id: int,
        assignments: Assignments,
        metadata: Metadata | None = None,
        *,
        task: Task | None = None,
    ) -> Suggestion:
        self._experiment(experiment_id)
        suggestion_id = self._next_suggestion_id
        suggestion = Suggestion(
            id=str(suggestion_id),
            experiment=str(experiment_id),
            assignments=dict(assignments),
            metadata=None if metadata is None else dict(metadata),
            created=now_s(),
            task=task,
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
        deleted_only: bool = False,
        ids: Sequence[int] | None = None,
        limit: int = 100,
        cursor: int | None = None,
    ) -> Page[Suggestion]:
        self._experiment(experiment_id)
        wanted = None if ids is None else set(ids)
        selected = []
        for i in self._suggestion_ids[experiment_id]:
            suggestion = self._suggestions[i]
            if not self._listed(i, suggestion, open_only, include_deleted, deleted_only):
                continue
            if wanted is not None and i not in wanted:
                continue
            selected.append(i)
        ids, has_more = id_page(selected, ascending=False, limit=limit, cursor=cursor)
        items = [self._suggestion_snapshot(self._suggestions[i]) for i in ids]
        return Page(items=items, count=len(selected), has_more=has_more)

    def _listed(
        self,
        suggestion_id: int,
        suggestion: Suggestion,
        open_only: bool,
        include_deleted: bool,
        deleted_only: bool,
    ) -> bool:
        """Whether `list_suggestions` shows the suggestion under these filters."""
        if deleted_only:
            return suggestion.deleted and not (open_only and suggestion_id in self._closed)
        if open_only and not self._is_open(suggestion):
            return False
        return include_deleted or not suggestion.deleted

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
        assignments: list[tuple[Assignments, Task | None]] = []
        named: set[int] = set()
        for item in new:
            if item.suggestion is None:
                assignments.append((dict(item.assignments or {}), item.task))
                continue
            suggestion = self._observable(
                experiment_id, item.suggestion, None if allow_duplicates else named
            )
            assignments.append((dict(suggestion.assignments), suggestion.task))
        if dry_run:
            return []
        now = now_s()
        created = []
        for item, (item_assignments, task) in zip(new, assignments, strict=True):
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
                task=task,
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
        deleted_only: bool = False,
        limit: int = 100,
        cursor: int | None = None,
    ) -> Page[Observation]:
        self._experiment(experiment_id)
        selected = [
            i
            for i in self._observation_ids[experiment_id]
            if (
                self._observations[i].deleted
                if deleted_only
                else include_deleted or not self._observations[i].deleted
            )
        ]
        ids, has_more = id_page(selected, ascending=ascending, limit=limit, cursor=cursor)
        items = [self._observations[i].model_copy(deep=True) for i in ids]
        return Page(items=items, count=len(selected), has_more=has_more)

    def update_observation(
        self,
        experiment_id: int,
        observation_id: int,
        changes: Mapping[str, Any],
        *,
        allow_duplicates: bool = False,
    ) -> Observation:
        current = self._observation(experiment_id, observation_id)
        values = observation_changes(changes)
        moved_from = None if current.suggestion is None else int(current.suggestion)
        if "suggestion" in values:
            unchecked = allow_duplicates or values["suggestion"] == moved_from
            target = self._observable(
                experiment_id, values["suggestion"], None if unchecked else set()
            )
            values["assignments"] = dict(target.assignments)
            values["suggestion"] = target.id
            values["task"] = None if target.task is None else target.task.model_dump()
        elif "assignments" in values:
            values["suggestion"] = None
        updated = Observation.model_validate({**current.model_dump(), **values})
        self._observations[observation_id] = updated
        if updated.suggestion is not None:
            self._closed.add(int(updated.suggestion))
        if moved_from is not None and updated.suggestion != current.suggestion:
            self._reopen_if_unreferenced(experiment_id, moved_from)
        return updated.model_copy(deep=True)

    def _reopen_if_unreferenced(self, experiment_id: int, suggestion_id: int) -> None:
        """The derived state after an observation moved away from `suggestion_id`."""
        named = str(suggestion_id)
        if not any(
            self._observations[i].suggestion == named for i in self._observation_ids[experiment_id]
        ):
            self._closed.discard(suggestion_id)

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
