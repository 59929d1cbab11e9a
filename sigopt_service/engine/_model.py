"""The study side of the engine: one in-memory Optuna study per offline experiment.

A `Model` mirrors the store: each open suggestion is a RUNNING trial (a pending point,
which the constant liar keeps new suggestions away from), each observation a finished
trial. `build_model` makes one from the store's history, `ask_trial` draws a new pending point,
`tell` adds one observation. Nothing here reads or writes the store: the `Engine` hands
in the history and decides when to rebuild.

- TPE (default): multivariate, constant liar, `n_startup_trials = clamp(dims + 2, 8, 30)`.
  Those startup points are drawn from the parameters' priors where they have one
  (`ask_trial`); the sampler's own startup draw is uniform.
  Optuna's TPE ignores FAIL trials entirely, so a failed observation would never steer
  the search. Instead it is told as a COMPLETE trial with the violated constraint
  `failed = 1` (TPE puts infeasible trials in its "bad" density, away from which it
  samples) and, as value, sigopt-server's "lie": the worst value observed so far.
  Constraint metrics become Optuna constraints the same way (feasible iff within threshold).
- GP (`use_gp`, or torch importable when None) for a single optimized metric, no
  constraint metrics and at most `GP_MAX_DIMS` dims; failures are told with the lie value,
  as libsigopt imputes them. Above `GP_MAX_OBSERVATIONS` the cubic GP gives way to TPE,
  as sigopt-server switches to its Parzen estimator. Without torch, TPE is used.
- Two optimized metrics make a multi-objective study; `store` metrics are ignored.
"""

from __future__ import annotations

import importlib.util
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import structlog
from optuna.samplers import BaseSampler, TPESampler
from optuna.study import StudyDirection
from optuna.trial import TrialState

from sigopt_service.engine.space import Space
from sigopt_service.models import Experiment, Metric, Objective, Observation, Suggestion

optuna.logging.set_verbosity(optuna.logging.WARNING)
log = structlog.get_logger()

GP_MAX_DIMS = 20
GP_MAX_OBSERVATIONS = 600
# Attempts at a non-duplicate suggestion before a random one (sigopt-server also tries 5).
_MAX_DUPLICATE_RETRIES = 5
_MAX_RANDOM_RETRIES = 200
_FAILED = "failed"
_MAX, _MIN = StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE


def seed_for(seed: int | None, *parts: int) -> int | None:
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


def _torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


@dataclass
class Model:
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
    #: Completed trials before the sampler's model takes over (its random startup phase).
    n_startup: int = 0

    def open_assignments(self) -> list[dict[str, Any]]:
        return [t.params for t in self.running.values()]


def _make_sampler(
    experiment: Experiment,
    space: Space,
    n_observations: int,
    seed: int | None,
    *,
    use_gp: bool | None,
    gp_disabled: bool,
) -> tuple[BaseSampler, bool]:
    n_startup = _n_startup_trials(space.dims)
    wants_gp = use_gp if use_gp is not None else _torch_available()
    wants_gp = wants_gp and not gp_disabled
    gp_suitable = (
        len(experiment.optimized_metrics()) == 1
        and not experiment.constraint_metrics()
        and space.dims <= GP_MAX_DIMS
        and space.is_numeric_or_categorical()
        and n_observations <= GP_MAX_OBSERVATIONS
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
    tpe = TPESampler(n_startup_trials=n_startup, multivariate=True, constant_liar=True, seed=seed)
    return tpe, False


def build_model(
    experiment: Experiment,
    observations: Sequence[Observation],
    open_suggestions: Sequence[Suggestion],
    suggestion_count: int,
    *,
    seed: int | None,
    use_gp: bool | None,
    gp_disabled: bool,
) -> Model:
    """A study holding the experiment's history as read from the store: every observation
    told, every open suggestion a RUNNING trial. `seed` is the engine's base seed."""
    experiment_id = int(experiment.id)
    space = Space.from_parameters(experiment.parameters)
    study_seed = seed_for(seed, experiment_id, suggestion_count)
    sampler, is_gp = _make_sampler(
        experiment,
        space,
        len(observations),
        study_seed,
        use_gp=use_gp,
        gp_disabled=gp_disabled,
    )
    objectives = experiment.optimized_metrics()
    directions = [_MAX if m.objective is Objective.MAXIMIZE else _MIN for m in objectives]
    model = Model(
        experiment_updated=experiment.updated,
        space=space,
        study=optuna.create_study(sampler=sampler, directions=directions),
        objectives=objectives,
        constraints=experiment.constraint_metrics(),
        uses_constraints=not is_gp,
        is_gp=is_gp,
        rng=random.Random(study_seed),
        suggestion_count=suggestion_count,
        n_startup=_n_startup_trials(space.dims),
        # Closed before this rebuild: their observations are told as added trials.
        closed={int(o.suggestion) for o in observations if o.suggestion is not None},
    )
    # The lie for failures is the worst of all successes, known before telling any.
    # Telling stays in store order: TPE down-weights its oldest trials, so reordering
    # would make the rebuilt study disagree with the incremental one.
    for observation in observations:
        values = None if observation.failed else _values(model, observation)
        if values is not None:
            _update_worst(model, values)
    for observation in observations:
        tell(model, observation)
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


def _in_startup(model: Model) -> bool:
    """Whether the sampler would still draw at random: TPE and GP both count COMPLETE
    trials (every observation is told as one) against `n_startup_trials`."""
    completed = model.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return len(completed) < model.n_startup


def ask_trial(model: Model) -> optuna.trial.Trial:
    """A new RUNNING trial whose point equals no open suggestion, if avoidable."""
    open_points = model.open_assignments()
    if model.space.has_prior() and _in_startup(model):
        # The initial design follows the priors: the point is drawn here (a prior's
        # parameter from it, the others uniform) and fixed, instead of the sampler's
        # uniform startup draw. Without priors nothing changes, down to the random
        # stream. Once observed, these points are trials like any other for the model.
        params = model.space.to_params(model.space.random_assignments(model.rng))
        if params is not None and params not in open_points:
            model.study.enqueue_trial(params)
            return model.study.ask(model.space.distributions)
    for _ in range(_MAX_DUPLICATE_RETRIES):
        trial = model.study.ask(model.space.distributions)
        if trial.params not in open_points:
            return trial
        # FAIL trials are invisible to the samplers: the discarded point leaves no trace.
        model.study.tell(trial, state=TrialState.FAIL)
    # The sampler keeps returning pending points (a small discrete space, or the GP
    # stuck at one optimum): fall back to a random point, as sigopt-server does.
    # Random draws are cheap next to a model fit, so many tries find a free point of a
    # small discrete space if one exists; if none does, a duplicate is unavoidable.
    params = None
    for _ in range(_MAX_RANDOM_RETRIES):
        params = model.space.to_params(model.space.random_assignments(model.rng))
        if params is not None and params not in open_points:
            break
    model.study.enqueue_trial(params or {})
    trial = model.study.ask(model.space.distributions)
    log.debug("duplicate_fallback_random", pending=len(open_points))
    return trial


# -- telling ------------------------------------------------------------------------------
def _values(model: Model, observation: Observation) -> list[float] | None:
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


def _constraint_values(model: Model, observation: Observation) -> dict[str, float]:
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


def _lie(model: Model) -> list[float]:
    """sigopt-server's constant-liar value: the worst value observed so far."""
    if model.worst is not None:
        return list(model.worst)
    return [0.0 for _ in model.objectives]


def _update_worst(model: Model, values: list[float]) -> None:
    if model.worst is None:
        model.worst = list(values)
        return
    model.worst = [
        min(w, v) if m.objective is Objective.MAXIMIZE else max(w, v)
        for w, v, m in zip(model.worst, values, model.objectives, strict=True)
    ]


def tell(model: Model, observation: Observation) -> bool:
    """Add one observation to the study; False if the study no longer matches the store."""
    observation_id = int(observation.id)
    if observation_id in model.told:
        return True  # told already, e.g. by the rebuild that preceded this call
    model.told.add(observation_id)
    values = None if observation.failed else _values(model, observation)
    if not observation.failed and values is None:
        log.warning("observation_without_values", observation_id=observation.id)
        return True
    if values is not None:
        _update_worst(model, values)
    told_values = values if values is not None else _lie(model)
    constraints = _constraint_values(model, observation)

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
