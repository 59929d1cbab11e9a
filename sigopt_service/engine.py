"""The optimizer: turns an experiment's history into its next suggestion (Optuna ask/tell).

The engine keeps no durable state. Per experiment it caches one in-memory Optuna study
whose trials mirror the store: each open suggestion is a RUNNING trial (a pending point,
which the constant liar keeps new suggestions away from), each observation a finished
trial. After a restart, or after `invalidate`, the study is rebuilt from
`store.all_observations` + `store.open_suggestions`, so the search picks up where it was.

Call order, all from one thread (the service serializes calls with one CapacityLimiter):

    engine = Engine(store, seed=7)
    suggestion = engine.suggest(experiment)          # stores and returns an open suggestion
    observations = store.create_observations(...)    # the app commits first,
    engine.observed(experiment, observations)        # then tells the optimizer
    engine.invalidate(experiment_id)                 # after anything non-monotonic

Experiment types: `random` draws from a precomputed `Space` (no study); `grid` returns
point `suggestion_count % grid_size`; `offline` asks the study's sampler:

- TPE (default): multivariate, constant liar, `n_startup_trials = clamp(dims + 2, 8, 30)`.
  Optuna's TPE ignores FAIL trials entirely, so a failed observation would never steer
  the search. Instead it is told as a COMPLETE trial with the violated constraint
  `failed = 1` (TPE puts infeasible trials in its "bad" density, away from which it
  samples) and, as value, sigopt-server's "lie": the worst value observed so far.
  Constraint metrics become Optuna constraints the same way (feasible iff within threshold).
- GP (`use_gp`, or torch importable when None) for a single optimized metric, no
  constraint metrics and at most `_GP_MAX_DIMS` dims; failures are told with the lie value,
  as libsigopt imputes them. Above `_GP_MAX_OBSERVATIONS` the cubic GP gives way to TPE,
  as sigopt-server switches to its Parzen estimator. Without torch, TPE is used.
- Two optimized metrics make a multi-objective study; `store` metrics are ignored.
"""

from __future__ import annotations

import importlib.util
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
import structlog
from optuna.samplers import BaseSampler, TPESampler
from optuna.study import StudyDirection
from optuna.trial import TrialState

from sigopt_service.models import (
    AssignmentValue,
    Experiment,
    ExperimentType,
    Metadata,
    Metric,
    Objective,
    Observation,
    Suggestion,
)
from sigopt_service.validation_space import Space, grid_point, grid_size

if TYPE_CHECKING:
    from sigopt_service.store import BaseStore

optuna.logging.set_verbosity(optuna.logging.WARNING)
log = structlog.get_logger()

_MAX_CACHED_STUDIES = 64
_GP_MAX_DIMS = 20
_GP_MAX_OBSERVATIONS = 600
# Attempts at a non-duplicate suggestion before a random one (sigopt-server also tries 5).
_MAX_DUPLICATE_RETRIES = 5
_MAX_RANDOM_RETRIES = 200
_FAILED = "failed"
_MAX, _MIN = StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE


def _seed(seed: int | None, *parts: int) -> int | None:
    """A per-experiment, per-rebuild seed: a rebuilt sampler must not replay old draws."""
    if seed is None:
        return None
    return int(np.random.SeedSequence([seed, *parts]).generate_state(1)[0])


def _n_startup_trials(dims: int) -> int:
    """Completed trials sampled at random before the model takes over.

    sigopt-server's initial design is `dims + parallel_bandwidth - 1` points (at least 4).
    TPE counts only completed trials, and the other open suggestions are drawn at random
    meanwhile, so `dims + 2` completed gives about the same design with 4 workers; the
    floor of 8 gives the Parzen estimators a few points to split into good and bad. On
    Branin with 4 workers and 40 evaluations, 8 beats Optuna's 10 and `2 * dims` (40 seeds).
    """
    return min(max(8, dims + 2), 30)


def _is_model_based(experiment: Experiment) -> bool:
    """Whether suggestions come from a study (TPE/GP), not from random or grid draws."""
    return experiment.type is ExperimentType.OFFLINE and bool(experiment.optimized_metrics())


def _torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


@dataclass
class _Model:
    """The cached study of one offline experiment and how its trials map to the store."""

    experiment_updated: int
    space: Space
    study: optuna.Study
    objectives: list[Metric]
    constraints: list[Metric]
    uses_constraints: bool
    is_gp: bool
    rng: random.Random
    # Open suggestion id -> its RUNNING trial; closed ones leave this dict.
    running: dict[int, optuna.trial.Trial] = field(default_factory=dict)
    closed: set[int] = field(default_factory=set)
    told: set[int] = field(default_factory=set)
    suggestion_count: int = 0
    worst: list[float] | None = None

    def open_assignments(self) -> list[dict[str, Any]]:
        return [t.params for t in self.running.values()]


@dataclass
class _Sampled:
    """Cached state of a model-free (random or grid) experiment."""

    experiment_updated: int
    space: Space
    rng: random.Random
    # Grid experiments only: values per parameter, computed once (a few µs per call).
    grid_axes: list[tuple[str, list[AssignmentValue]]] | None = None
    #: Grid points some observation or open suggestion holds, read from the store once and
    #: then kept up to date by `suggest` and `observed` (deletions invalidate the cache).
    grid_covered: set[tuple[tuple[str, AssignmentValue], ...]] | None = None
    #: Suggestions created so far: where the grid walk resumes, and SigOpt's wrap index.
    grid_count: int = 0


class Engine:
    """Suggests assignments and learns from observations; see the module docstring."""

    def __init__(
        self, store: BaseStore, *, seed: int | None = None, use_gp: bool | None = None
    ) -> None:
        self._store = store
        self._seed = seed
        self._use_gp = use_gp
        # Insertion-ordered, least recently used first (see `_model`).
        self._models: dict[int, _Model] = {}
        self._sampled: dict[int, _Sampled] = {}
        self._gp_disabled: set[int] = set()

    def __repr__(self) -> str:
        return f"<Engine studies={len(self._models)} sampled={len(self._sampled)}>"

    # -- public API ---------------------------------------------------------------------
    def suggest(self, experiment: Experiment, metadata: Metadata | None = None) -> Suggestion:
        """Generate assignments, store them as an open suggestion, and return it."""
        experiment_id = int(experiment.id)
        asked: tuple[_Model, optuna.trial.Trial] | None = None
        if _is_model_based(experiment):
            asked = self._ask_or_fall_back(experiment, self._model(experiment))
            model, trial = asked
            assignments = model.space.to_assignments(trial.params)
        else:
            sampled = self._sampled_state(experiment)
            if experiment.type is ExperimentType.GRID:
                if sampled.grid_axes is None:
                    sampled.grid_axes = sampled.space.grid_axes()
                assignments = self._next_grid_point(experiment_id, sampled, sampled.grid_axes)
            else:
                assignments = sampled.space.random_assignments(sampled.rng)
        try:
            suggestion = self._store.create_suggestion(experiment_id, assignments, metadata)
        except BaseException:
            # The engine already counts the point as pending (a RUNNING trial, a grid point
            # marked taken): rebuild from the store, or it would be skipped or lie forever.
            self.invalidate(experiment_id)
            raise
        if asked is not None:
            model, trial = asked
            model.running[int(suggestion.id)] = trial
            model.suggestion_count += 1
        return suggestion

    def _ask_or_fall_back(
        self, experiment: Experiment, model: _Model
    ) -> tuple[_Model, optuna.trial.Trial]:
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
            fallback = self._model(experiment)
            return fallback, self._ask(fallback)

    def ask_is_quick(self, experiment: Experiment) -> bool:
        """Whether `suggest` for this experiment takes microseconds: a model-free engine
        whose state is warm (a cold one reads the history; a model-based one fits)."""
        if _is_model_based(experiment):
            return False
        sampled = self._warm_sampled(experiment)
        if sampled is None:
            return False
        return experiment.type is not ExperimentType.GRID or sampled.grid_covered is not None

    def _next_grid_point(
        self, experiment_id: int, sampled: _Sampled, axes: list[tuple[str, list[AssignmentValue]]]
    ) -> dict[str, AssignmentValue]:
        """The first point, in grid order from where the count of suggestions left off,
        that no observation or open suggestion covers; past full coverage SigOpt wraps
        around. O(1) per call while nothing is deleted (the covered set is kept warm)."""
        size = grid_size(axes)
        if sampled.grid_covered is None:
            taken: list[Observation | Suggestion] = [
                *self._store.all_observations(experiment_id),
                *self._store.open_suggestions(experiment_id),
            ]
            sampled.grid_covered = {tuple(sorted(item.assignments.items())) for item in taken}
            sampled.grid_count = self._store.suggestion_count(experiment_id)
        start, sampled.grid_count = sampled.grid_count, sampled.grid_count + 1
        if len(sampled.grid_covered) < size:
            for step in range(size):
                point = grid_point(axes, (start + step) % size)
                key = tuple(sorted(point.items()))
                if key not in sampled.grid_covered:
                    sampled.grid_covered.add(key)
                    return point
        return grid_point(axes, start % size)

    def observed(self, experiment: Experiment, observations: Sequence[Observation]) -> None:
        """Tell the optimizer about observations the store has just committed."""
        sampled = self._sampled.get(int(experiment.id))
        if sampled is not None and sampled.grid_covered is not None:
            sampled.grid_covered.update(tuple(sorted(o.assignments.items())) for o in observations)
        model = self._models.get(int(experiment.id))
        if model is None:
            return  # the next suggest rebuilds from the store, these included
        if model.experiment_updated != experiment.updated:
            self.invalidate(int(experiment.id))
            return
        for observation in observations:
            if not self._tell(model, observation):
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
    def _warm_sampled(self, experiment: Experiment) -> _Sampled | None:
        """The cached state of a model-free experiment, unless the experiment changed."""
        state = self._sampled.get(int(experiment.id))
        if state is not None and state.experiment_updated == experiment.updated:
            return state
        return None

    def _sampled_state(self, experiment: Experiment) -> _Sampled:
        experiment_id = int(experiment.id)
        state = self._warm_sampled(experiment)
        if state is not None:
            return state
        # Mixing the suggestion count into the seed: after a restart a seeded engine must
        # continue the stream, not replay the suggestions it already handed out.
        count = self._store.suggestion_count(experiment_id)
        state = _Sampled(
            experiment_updated=experiment.updated,
            space=Space.from_parameters(experiment.parameters),
            rng=random.Random(_seed(self._seed, experiment_id, count)),
        )
        self._sampled[experiment_id] = state
        return state

    # -- the study ----------------------------------------------------------------------
    def _model(self, experiment: Experiment) -> _Model:
        experiment_id = int(experiment.id)
        model = self._models.pop(experiment_id, None)
        if model is None or not self._is_current(model, experiment):
            model = self._rebuild(experiment)
        self._models[experiment_id] = model  # re-inserted: now the most recently used
        if len(self._models) > _MAX_CACHED_STUDIES:
            # A study of 1,000 trials holds a few MB; idle experiments are rebuilt on demand.
            evicted = next(iter(self._models))
            del self._models[evicted]
            log.debug("study_evicted", experiment_id=evicted)
        return model

    def _is_current(self, model: _Model, experiment: Experiment) -> bool:
        """Cheap checks that the store still matches the study; any doubt means rebuild."""
        experiment_id = int(experiment.id)
        if model.experiment_updated != experiment.updated:
            return False
        if model.suggestion_count != self._store.suggestion_count(experiment_id):
            return False  # a suggestion made elsewhere, e.g. user-given assignments
        if len(model.told) != self._store.observation_count(experiment_id):
            return False  # an observation committed without `observed` or deleted
        return not (model.is_gp and len(model.told) > _GP_MAX_OBSERVATIONS)

    def _make_sampler(
        self, experiment: Experiment, space: Space, n_observations: int, seed: int | None
    ) -> tuple[BaseSampler, bool]:
        n_startup = _n_startup_trials(space.dims)
        wants_gp = self._use_gp if self._use_gp is not None else _torch_available()
        wants_gp = wants_gp and int(experiment.id) not in self._gp_disabled
        gp_suitable = (
            len(experiment.optimized_metrics()) == 1
            and not experiment.constraint_metrics()
            and space.dims <= _GP_MAX_DIMS
            and space.is_numeric_or_categorical()
            and n_observations <= _GP_MAX_OBSERVATIONS
        )
        if wants_gp and gp_suitable:
            if _torch_available():
                gp = optuna.samplers.GPSampler(
                    seed=seed, n_startup_trials=n_startup, warn_independent_sampling=False
                )
                return gp, True
            log.warning("gp_unavailable", experiment_id=experiment.id, reason="torch_missing")
        # group=False: every suggestion asks every parameter, so the space never changes
        # shape and the experimental group decomposition would only cost time.
        tpe = TPESampler(
            n_startup_trials=n_startup, multivariate=True, constant_liar=True, seed=seed
        )
        return tpe, False

    def _rebuild(self, experiment: Experiment) -> _Model:
        experiment_id = int(experiment.id)
        observations = self._store.all_observations(experiment_id)
        open_suggestions = self._store.open_suggestions(experiment_id)
        suggestion_count = self._store.suggestion_count(experiment_id)
        space = Space.from_parameters(experiment.parameters)
        seed = _seed(self._seed, experiment_id, suggestion_count)
        sampler, is_gp = self._make_sampler(experiment, space, len(observations), seed)
        objectives = experiment.optimized_metrics()
        directions = [_MAX if m.objective is Objective.MAXIMIZE else _MIN for m in objectives]
        model = _Model(
            experiment_updated=experiment.updated,
            space=space,
            study=optuna.create_study(sampler=sampler, directions=directions),
            objectives=objectives,
            constraints=experiment.constraint_metrics(),
            uses_constraints=not is_gp,
            is_gp=is_gp,
            rng=random.Random(seed),
            suggestion_count=suggestion_count,
            # Closed before this rebuild: their observations are told as added trials.
            closed={int(o.suggestion) for o in observations if o.suggestion is not None},
        )
        # The lie for failures is the worst of all successes, known before telling any.
        # Telling stays in store order: TPE down-weights its oldest trials, so reordering
        # would make the rebuilt study disagree with the incremental one.
        for observation in observations:
            values = None if observation.failed else self._values(model, observation)
            if values is not None:
                self._update_worst(model, values)
        for observation in observations:
            self._tell(model, observation)
        for suggestion in open_suggestions:
            params = space.to_params(suggestion.assignments)
            if params is None:
                continue  # not in this space (bad user-given assignments); not pending
            model.study.enqueue_trial(params)
            trial = model.study.ask(space.distributions)
            model.running[int(suggestion.id)] = trial
        log.debug(
            "study_rebuilt",
            experiment_id=experiment_id,
            trials=len(model.study.get_trials(deepcopy=False)),
            pending=len(model.running),
            sampler=type(sampler).__name__,
        )
        return model

    def _ask(self, model: _Model) -> optuna.trial.Trial:
        """A new RUNNING trial whose point equals no open suggestion, if avoidable."""
        open_points = model.open_assignments()
        for _ in range(_MAX_DUPLICATE_RETRIES):
            trial = model.study.ask(model.space.distributions)
            if trial.params not in open_points:
                return trial
            # FAIL trials are invisible to the samplers: the discarded point leaves no trace.
            model.study.tell(trial, state=TrialState.FAIL)
        # The sampler keeps returning pending points (a small discrete space, or the GP
        # stuck at one optimum): fall back to a random point, as sigopt-server does.
        # Random draws cost microseconds, so many tries find a free point of a small
        # discrete space if one exists; if none does, a duplicate is unavoidable.
        for _ in range(_MAX_RANDOM_RETRIES):
            params = model.space.to_params(model.space.random_assignments(model.rng))
            if params is not None and params not in open_points:
                break
        model.study.enqueue_trial(params or {})
        trial = model.study.ask(model.space.distributions)
        log.debug("duplicate_fallback_random", pending=len(open_points))
        return trial

    # -- telling ------------------------------------------------------------------------
    def _values(self, model: _Model, observation: Observation) -> list[float] | None:
        by_name = {v.name: v.value for v in observation.values}
        values = []
        for metric in model.objectives:
            value = by_name.get(metric.name)
            if value is None and len(observation.values) == 1 and len(model.objectives) == 1:
                value = observation.values[0].value  # a single unnamed metric
            if value is None:
                return None
            values.append(float(value))
        return values

    def _constraint_values(self, model: _Model, observation: Observation) -> dict[str, float]:
        """Optuna constraints (feasible iff <= 0): failure, then each constraint metric."""
        constraints = {_FAILED: 1.0 if observation.failed else 0.0}
        by_name = {v.name: v.value for v in observation.values}
        for metric in model.constraints:
            value = by_name.get(metric.name)
            if value is None or metric.threshold is None:
                violation = 1.0  # a failed evaluation satisfies no constraint
            elif metric.objective is Objective.MAXIMIZE:
                violation = metric.threshold - float(value)
            else:
                violation = float(value) - metric.threshold
            constraints[f"metric:{metric.name}"] = violation
        return constraints

    def _lie(self, model: _Model) -> list[float]:
        """sigopt-server's constant-liar value: the worst value observed so far."""
        if model.worst is not None:
            return list(model.worst)
        return [0.0 for _ in model.objectives]

    def _update_worst(self, model: _Model, values: list[float]) -> None:
        if model.worst is None:
            model.worst = list(values)
            return
        model.worst = [
            min(w, v) if m.objective is Objective.MAXIMIZE else max(w, v)
            for w, v, m in zip(model.worst, values, model.objectives, strict=True)
        ]

    def _tell(self, model: _Model, observation: Observation) -> bool:
        """Add one observation to the study; False if the study no longer matches the store."""
        observation_id = int(observation.id)
        if observation_id in model.told:
            return True  # told already, e.g. by the rebuild that preceded this call
        model.told.add(observation_id)
        values = None if observation.failed else self._values(model, observation)
        if not observation.failed and values is None:
            log.warning("observation_without_values", observation_id=observation.id)
            return True
        if values is not None:
            self._update_worst(model, values)
        told_values = values if values is not None else self._lie(model)
        constraints = self._constraint_values(model, observation)

        suggestion_id = None if observation.suggestion is None else int(observation.suggestion)
        trial = None if suggestion_id is None else model.running.pop(suggestion_id, None)
        if trial is not None:
            assert suggestion_id is not None
            model.closed.add(suggestion_id)
            if model.uses_constraints:
                for key, violation in constraints.items():
                    trial.set_constraint(key, violation)
            model.study.tell(trial, told_values, skip_if_finished=True)
            return True
        if suggestion_id is not None and suggestion_id not in model.closed:
            return False  # a suggestion this study never saw: rebuild, don't guess
        # A user-given point, or a second observation of a closed suggestion (SigOpt
        # accepts both; each counts toward the model).
        params = model.space.to_params(observation.assignments)
        if params is None:
            log.warning("observation_outside_space", observation_id=observation.id)
            return True
        model.study.add_trial(
            optuna.trial.create_trial(
                values=told_values,
                params=params,
                distributions=model.space.distributions,
                constraints=constraints if model.uses_constraints else None,
            )
        )
        return True
