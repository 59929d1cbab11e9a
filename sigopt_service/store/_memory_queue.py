"""The queued suggestions of `InMemoryStore`: the contract's queue (`store/base.py`) on dicts."""

from __future__ import annotations

import abc

from sigopt_service.errors import RecordNotFound
from sigopt_service.models import (
    Assignments,
    Experiment,
    Metadata,
    QueuedSuggestion,
    Suggestion,
    Task,
)
from sigopt_service.store._changes import now_s
from sigopt_service.store._listing import id_page
from sigopt_service.store.base import BaseStore, Page


class InMemoryQueue(BaseStore):
    """The queue half of `InMemoryStore`: every entry by id, and per experiment the ids of
    those still waiting, oldest first (a served or deleted entry leaves that list)."""

    def __init__(self) -> None:
        super().__init__()  # cooperative: `InMemoryStore` mixes in its tokens after this
        self._queued: dict[int, QueuedSuggestion] = {}
        self._waiting: dict[int, list[int]] = {}
        self._next_queued_id = 1

    @abc.abstractmethod
    def _experiment(self, experiment_id: int) -> Experiment:
        """The stored experiment; RecordNotFound for an unknown id."""

    def _waiting_entry(self, experiment_id: int, queued_id: int) -> QueuedSuggestion:
        self._experiment(experiment_id)
        if queued_id not in self._waiting.get(experiment_id, ()):
            raise RecordNotFound("queued_suggestion", queued_id, experiment_id)
        return self._queued[queued_id]

    def create_queued_suggestion(
        self, experiment_id: int, assignments: Assignments, *, task: Task | None = None
    ) -> QueuedSuggestion:
        self._experiment(experiment_id)
        queued_id = self._next_queued_id
        self._next_queued_id += 1
        entry = QueuedSuggestion(
            id=str(queued_id),
            experiment=str(experiment_id),
            assignments=dict(assignments),
            created=now_s(),
            task=task,
        )
        self._queued[queued_id] = entry
        self._waiting.setdefault(experiment_id, []).append(queued_id)
        return entry.model_copy(deep=True)

    def get_queued_suggestion(self, experiment_id: int, queued_id: int) -> QueuedSuggestion:
        return self._waiting_entry(experiment_id, queued_id).model_copy(deep=True)

    def list_queued_suggestions(
        self,
        experiment_id: int,
        *,
        ascending: bool = False,
        limit: int = 100,
        cursor: int | None = None,
    ) -> Page[QueuedSuggestion]:
        self._experiment(experiment_id)
        waiting = self._waiting.get(experiment_id, [])
        ids, has_more = id_page(waiting, ascending=ascending, limit=limit, cursor=cursor)
        items = [self._queued[i].model_copy(deep=True) for i in ids]
        return Page(items=items, count=len(waiting), has_more=has_more)

    def delete_queued_suggestion(self, experiment_id: int, queued_id: int) -> None:
        self._waiting_entry(experiment_id, queued_id)
        self._waiting[experiment_id].remove(queued_id)

    def serve_queued_suggestion(
        self, experiment_id: int, queued_id: int, metadata: Metadata | None = None
    ) -> Suggestion:
        entry = self._waiting_entry(experiment_id, queued_id)
        # Consumed only once the suggestion is stored: a failure leaves the queue as it was.
        created = self.create_suggestion(
            experiment_id, entry.assignments, metadata, task=entry.task
        )
        self._waiting[experiment_id].remove(queued_id)
        return created
