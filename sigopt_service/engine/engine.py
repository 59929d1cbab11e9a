"""The optimizer: proposes an experiment's next assignments from its history (Optuna ask/tell).

The engine keeps no durable state and never writes to the store: it proposes, the caller
(the use-case layer) stores, then tells the engine how that went. Per experiment it caches
one in-memory study (`Model`) or, for random and grid experiments, a `Sampled`
state. After a restart, or after `invalidate`, that cache is rebuilt from
`store.all_observations` + `store.open_suggestions`, so the search picks up where it was.
On a store other processes write too (`is_shared`) the same checks (`_is_current`: the
suggestion and observation counts, read from the database each time) see their writes;
the study then catches up with what they added (`_catch_up`), or is rebuilt when that is
not a plain addition. A grid's covered points are re-read on every proposal.

Call order, all from one thread (the service runs store and engine work on its store thread):

    engine = Engine(store, seed=7)
    proposal = engine.propose(experiment)            # the point now counts as pending
    try:
        suggestion = store.create_suggestion(eid, proposal.assignments, metadata)
    except BaseException:
        engine.discarded(proposal)                   # storing failed: forget the point
        raise
    engine.accepted(proposal, suggestion)            # `usecases.suggest_and_store` does all three
    observations = store.create_observations(...)    # the caller commits first,
    engine.observed(experiment, observations)        # then tells the optimizer
    engine.invalidate(experiment_id)                 # after anything non-monotonic

Experiment types: `random` draws from a precomputed `Space` (no study); `grid` returns
point `suggestion_count % grid_size` (see `_sampled`); `offline` asks the study's sampler
(TPE or GP, see `_model`).

Multitask: each proposal carries its task. `offline` follows the schedule of
`_multitask.choose_task`; `random` draws a task uniformly and `grid` takes the full-cost
one, as sigopt-server's random and default samplers do.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import optuna
import structlog

from sigopt_service.engine._asking import ask_trial
from sigopt_service.engine._catch_up import catch_up, tell_shared
from sigopt_service.engine._model import (
    GP_MAX_OBSERVATIONS,
    Model,
    build_model,
    seed_for,
    tell,
)
from sigopt_service.engine._multitask import TASK_COST, choose_task
from sigopt_service.engine._sampled import Sampled, grid_key
from sigopt_service.engine.space import Space
from sigopt_service.models import (
    Assignments,
    Experiment,
    ExperimentType,
    Observation,
    Suggestion,
    Task,
)

if TYPE_CHECKING:
    from sigopt_service.store import BaseStore

log = structlog.get_logger()

_MAX_CACHED_STUDIES = 64


def _is_model_based(experiment: Experiment) -> bool:
    """Whether suggestions come from a study (TPE/GP), not from random or grid draws."""
    return experiment.type is ExperimentType.OFFLINE and bool(experiment.optimized_metrics())


@dataclass(frozen=True)
class Proposal:
    """Assignments the engine proposes for one experiment, not yet stored.

    From `Engine.propose` on, the engine counts the point as pending; the caller must
    answer with `Engine.accepted` (stored) or `Engine.discarded` (not stored). `model` and
    `trial` are the engine's own bookkeeping (the study and its RUNNING trial, for a
    model-based experiment); callers neither read nor build them.
    """

    experiment_id: int
    assignments: Assignments
    #: Multitask: the task to evaluate the assignments on; None otherwise.
    task: Task | None = None
    model: Model | None = field(default=None, repr=False, compare=False)
    trial: optuna.trial.Trial | None = field(default=None, repr=False, compare=False)


class Engine:
    """Proposes assignments and learns from observations; see the module docstring."""

    def __init__(
        self, store: BaseStore, *, seed: int | None = None, use_gp: bool | None = None
    ) -> None:
        self._store = store  # read only, to rebuild the caches
        self._seed = seed
        self._use_gp = use_gp
        # Insertion-ordered, least recently used first (see `_model_of`).
        self._models: dict[int, Model] = {}
        self._sampled: dict[int, Sampled] = {}
        self._gp_disabled: set[int] = set()

    def __repr__(self) -> str:
        return f"<Engine studies={len(self._models)} sampled={len(self._sampled)}>"

    # -- public API ---------------------------------------------------------------------
    def propose(self, experiment: Experiment) -> Proposal:
        """The next assignments for `experiment`; from now on they count as pending."""
        experiment_id = int(experiment.id)
        if _is_model_based(experiment):
            model, trial = self._ask_or_fall_back(experiment, self._model_of(experiment))
            assignments = model.space.to_assignments(trial.params)
            task = None
            if experiment.tasks:
                # The new trial has no cost yet: the schedule reads what was spent before.
                task = choose_task(experiment, model.study)
                trial.set_user_attr(TASK_COST, task.cost)
            return Proposal(experiment_id, assignments, task, model=model, trial=trial)
        sampled = self._sampled_state(experiment)
        if experiment.tasks:
            if experiment.type is ExperimentType.GRID:
                task = max(experiment.tasks, key=lambda t: t.cost)
            else:
                task = experiment.tasks[int(sampled.rng.random() * len(experiment.tasks))]
            return Proposal(experiment_id, self._sampled_point(experiment, sampled), task)
        return Proposal(experiment_id, self._sampled_point(experiment, sampled))

    def _sampled_point(self, experiment: Experiment, sampled: Sampled) -> Assignments:
        """The next point of a model-free experiment: the grid's, or a random one."""
        experiment_id = int(experiment.id)
        if experiment.type is ExperimentType.GRID:
            if sampled.grid_axes is None:
                sampled.grid_axes = sampled.space.grid_axes()
            if not sampled.is_grid_warm():
                taken: list[Observation | Suggestion] = [
                    *self._store.all_observations(experiment_id),
                    *self._store.open_suggestions(experiment_id),
                ]
                sampled.cover(
                    (item.assignments for item in taken),
                    self._store.suggestion_count(experiment_id),
                )
            return sampled.next_grid_point()
        return sampled.space.random_assignments(sampled.rng)

    def accepted(self, proposal: Proposal, suggestion: Suggestion) -> None:
        """The caller stored `proposal` as `suggestion`: map its id to the pending trial."""
        if proposal.model is not None and proposal.trial is not None:
            proposal.model.running[int(suggestion.id)] = proposal.trial
            proposal.model.suggestion_count += 1

    def discarded(self, proposal: Proposal) -> None:
        """Storing `proposal` failed. The engine already counts the point as pending (a
        RUNNING trial, a grid point marked taken): rebuild from the store, or it would be
        skipped or lie forever."""
        self.invalidate(proposal.experiment_id)

    def ask_is_quick(self, experiment: Experiment) -> bool:
        """Whether `propose` for this experiment is quick: a model-free engine whose state
        is warm (a cold one reads the history; a model-based one fits)."""
        if _is_model_based(experiment):
            return False
        sampled = self._warm_sampled(experiment)
        if sampled is None:
            return False
        return experiment.type is not ExperimentType.GRID or sampled.is_grid_warm()

    def observed(self, experiment: Experiment, observations: Sequence[Observation]) -> None:
        """Tell the optimizer about observations the store has just committed."""
        sampled = self._sampled.get(int(experiment.id))
        if sampled is not None and sampled.grid_covered is not None:
            sampled.grid_covered.update(grid_key(o.assignments) for o in observations)
        model = self._models.get(int(experiment.id))
        if model is None:
            return  # the next propose rebuilds from the store, these included
        if model.experiment_updated != experiment.updated or model.scores is not None:
            # Multitask: each observation moves its task's scores (`_multitask`).
            self.invalidate(int(experiment.id))
            return
        told = tell_shared if self._store.is_shared else tell
        for observation in observations:
            if not told(model, observation):
                log.info(
                    "study_inconsistent",
                    experiment_id=experiment.id,
                    observation_id=observation.id,
                    suggestion_id=observation.suggestion,
                )
                self.invalidate(int(experiment.id))
                return

    def invalidate(self, experiment_id: int) -> None:
        """Drop cached state; the next use rebuilds it from the store."""
        dropped = self._models.pop(experiment_id, None) is not None
        dropped |= self._sampled.pop(experiment_id, None) is not None
        if dropped:
            log.debug("study_invalidated", experiment_id=experiment_id)

    # -- model-free experiments ---------------------------------------------------------
    def _warm_sampled(self, experiment: Experiment) -> Sampled | None:
        """The cached state of a model-free experiment, unless the experiment changed."""
        state = self._sampled.get(int(experiment.id))
        if state is None or state.experiment_updated != experiment.updated:
            return None
        if self._store.is_shared and experiment.type is ExperimentType.GRID:
            # Other processes take grid points too: the covered set is re-read each time.
            return None
        return state

    def _sampled_state(self, experiment: Experiment) -> Sampled:
        experiment_id = int(experiment.id)
        state = self._warm_sampled(experiment)
        if state is not None:
            return state
        # Mixing the suggestion count into the seed: after a restart a seeded engine must
        # continue the stream, not replay the suggestions it already handed out.
        count = self._store.suggestion_count(experiment_id)
        state = Sampled(
            experiment_updated=experiment.updated,
            space=Space.from_experiment(experiment),
            rng=random.Random(seed_for(self._seed, experiment_id, count)),
        )
        self._sampled[experiment_id] = state
        return state

    # -- the study ----------------------------------------------------------------------
    def _ask_or_fall_back(
        self, experiment: Experiment, model: Model
    ) -> tuple[Model, optuna.trial.Trial]:
        """A trial of `model`, or, when its GP fails, of the TPE model that replaces it."""
        try:
            return model, self._ask(model)
        except Exception:
            if not model.is_gp:
                raise
            # torch present but broken, or a numerical failure in the GP fit: this
            # experiment continues on TPE rather than failing every request.
            log.warning("gp_failed", experiment_id=experiment.id, exc_info=True)
            self._gp_disabled.add(int(experiment.id))
            self.invalidate(int(experiment.id))
            fallback = self._model_of(experiment)
            return fallback, self._ask(fallback)

    def _ask(self, model: Model) -> optuna.trial.Trial:
        """A new pending trial of `model` (one method, so tests can see where it runs)."""
        return ask_trial(model)

    def _model_of(self, experiment: Experiment) -> Model:
        experiment_id = int(experiment.id)
        model = self._models.pop(experiment_id, None)
        if model is None or not self._is_current(model, experiment):
            # On a shared store, other service processes wrote: add what they stored.
            shared = self._store.is_shared
            if model is None or not shared or not self._caught_up(model, experiment):
                model = self._rebuild(experiment)
        self._models[experiment_id] = model  # re-inserted: now the most recently used
        if len(self._models) > _MAX_CACHED_STUDIES:
            # A study of 1,000 trials holds a few MB; idle experiments are rebuilt on demand.
            evicted = next(iter(self._models))
            del self._models[evicted]
            log.debug("study_evicted", experiment_id=evicted)
        return model

    def _is_current(self, model: Model, experiment: Experiment) -> bool:
        """Cheap checks that the store still matches the study; any doubt means rebuild."""
        experiment_id = int(experiment.id)
        if model.experiment_updated != experiment.updated:
            return False
        if model.suggestion_count != self._store.suggestion_count(experiment_id):
            return False  # a suggestion made elsewhere, e.g. user-given assignments
        if len(model.told) != self._store.observation_count(experiment_id):
            return False  # an observation committed without `observed` or deleted
        if self._store.is_shared and model.rewrites != self._store.history_rewrites(experiment_id):
            return False  # another process rewrote the history (same counts or not)
        return not (model.is_gp and len(model.told) > GP_MAX_OBSERVATIONS)

    def _caught_up(self, model: Model, experiment: Experiment) -> bool:
        """Whether `catch_up` brought the study level with the store (else: rebuild).
        `catch_up` checked the counts and the rewrites itself: only the GP's size limit
        of `_is_current` is left to ask."""
        if not catch_up(model, experiment, self._store):
            return False
        log.debug("study_caught_up", experiment_id=experiment.id, told=len(model.told))
        return not (model.is_gp and len(model.told) > GP_MAX_OBSERVATIONS)

    def _rebuild(self, experiment: Experiment) -> Model:
        experiment_id = int(experiment.id)
        # Read before the history: a rewrite in between shows as a newer count next time.
        rewrites = self._store.history_rewrites(experiment_id) if self._store.is_shared else 0
        model = build_model(
            experiment,
            self._store.all_observations(experiment_id),
            self._store.open_suggestions(experiment_id),
            self._store.suggestion_count(experiment_id),
            seed=self._seed,
            use_gp=self._use_gp,
            gp_disabled=experiment_id in self._gp_disabled,
        )
        model.rewrites = rewrites
        return model
