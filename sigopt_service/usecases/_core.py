"""What every use case runs against on the store thread, and the steps several share.

`Core` is the one place that tells the engine about writes: `suggest` (a queued
suggestion first; else the engine proposes, the store stores, the engine hears back),
`observations_stored` and `history_changed`. The store is a `CachingStore`, whose own
write methods keep its caches (experiments, counts, the best observation) right, so no
use case touches a cache.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sigopt_service.best import budget_consumed
from sigopt_service.config import ServiceConfig
from sigopt_service.engine import Engine
from sigopt_service.errors import ApiError, Conflict, InvalidRequest
from sigopt_service.models import Experiment, ExperimentState, Metadata, Observation, Suggestion
from sigopt_service.store import BaseStore, CachingStore
from sigopt_service.usecases._queued import serve as serve_queued


def suggest_and_store(
    engine: Engine, store: BaseStore, experiment: Experiment, metadata: Metadata | None = None
) -> Suggestion:
    """The engine proposes, the store stores, the engine hears which suggestion it is (or,
    if storing failed, forgets the point it counted as pending). The one implementation:
    the use cases call it through `Core.suggest`, tests and benchmarks directly."""
    proposal = engine.propose(experiment)
    try:
        suggestion = store.create_suggestion(
            int(experiment.id), proposal.assignments, metadata, task=proposal.task
        )
    except BaseException:
        engine.discarded(proposal)
        raise
    engine.accepted(proposal, suggestion)
    return suggestion


@dataclass(frozen=True)
class Core:
    """Store, engine and settings; every method runs on the store thread."""

    config: ServiceConfig
    store: CachingStore
    engine: Engine

    def experiment(self, experiment_id: int) -> Experiment:
        """The cached experiment itself, not a copy (`CachingStore.peek_experiment`): the
        use cases only read it, and this read is on every suggest and observe. What leaves
        the layer is rendered to JSON, never mutated. Raises `RecordNotFound`."""
        return self.store.peek_experiment(experiment_id)

    def active_experiment(self, experiment_id: int, what: str) -> Experiment:
        """The experiment, refused (400) if it is deleted: `what` cannot be created."""
        experiment = self.experiment(experiment_id)
        if experiment.state is ExperimentState.DELETED:
            raise InvalidRequest(
                f"Cannot create {what} for deleted experiment {experiment.id}",
                code="invalid_request",
            )
        return experiment

    def check_budget(self, experiment: Experiment) -> None:
        """Our extension, `within_budget=true`: refuse (409 `budget_reached`) once
        observations plus open suggestions fill the budget. On the one store thread, so
        the count and the insert that follows are atomic: several coordinators together
        stop exactly at it. Multitask: the costs of the observations' and the open
        suggestions' tasks, as `progress.observation_budget_consumed` counts them. Across
        service processes (a shared store) the caller runs it and the insert in one
        `experiment_transaction`, which holds the experiment's lock from count to insert."""
        budget = experiment.observation_budget
        if budget is None:
            return
        eid = int(experiment.id)
        if experiment.tasks:
            # Read whole: a multitask experiment's history is rebuilt per proposal anyway.
            consumed = budget_consumed(self.store.all_observations(eid))
            held = budget_consumed(self.store.open_suggestions(eid))
            if consumed + held >= budget:
                raise Conflict(
                    f"Observation budget of experiment {eid} is reached: {consumed} consumed "
                    f"by observations + {held} by open suggestions >= {budget}",
                    code="budget_reached",
                )
            return
        observed = self.store.observation_count(eid)
        opened = self.store.open_suggestion_count(eid)
        if observed + opened >= budget:
            raise Conflict(
                f"Observation budget of experiment {eid} is reached: {observed} "
                f"observations + {opened} open suggestions >= {budget}",
                code="budget_reached",
            )

    @contextlib.contextmanager
    def experiment_unit(self, experiment_id: int) -> Iterator[None]:
        """`store.experiment_transaction`, and if it fails for another reason than the
        request (a lost connection at COMMIT, say) after the engine heard of a suggestion,
        the engine forgets its study: the suggestion it counts as pending was rolled back."""
        try:
            with self.store.experiment_transaction(experiment_id):
                yield
        except ApiError:
            raise  # refused before anything was written: the study is right
        except BaseException:
            if self.store.is_shared:
                self.engine.invalidate(experiment_id)
            raise

    def suggest(self, experiment: Experiment, metadata: Metadata | None) -> Suggestion:
        """The oldest queued suggestion (`_queued.serve`), else the engine's; one unit
        across processes, so two never serve the same queued entry or propose blind to
        each other's pending point."""
        with self.experiment_unit(int(experiment.id)):
            served = serve_queued(self, experiment, metadata)
            if served is not None:
                return served
            return suggest_and_store(self.engine, self.store, experiment, metadata)

    def observations_stored(self, experiment: Experiment, created: Sequence[Observation]) -> None:
        """After new observations are committed: tell the optimizer."""
        self.engine.observed(experiment, created)

    def history_changed(self, experiment_id: int) -> None:
        """After a non-monotonic change (a delete, an update, a suggestion the engine did
        not propose): the optimizer rebuilds its study from the store on next use."""
        self.engine.invalidate(experiment_id)
