"""The study side of the engine: one in-memory Optuna study per offline experiment.

A `Model` mirrors the store: each open suggestion is a RUNNING trial (a pending point,
which the constant liar keeps new suggestions away from), each observation a finished
trial. `build_model` makes one from the store's history, `_asking.ask_trial` draws a new
pending point, `tell` adds one observation. Nothing here reads or writes the store: the
`Engine` hands in the history and decides when to rebuild.

- TPE (default): multivariate, constant liar, `n_startup_trials = clamp(dims + 2, 8, 30)`;
  grouped (one model per active subspace) when the space has conditionals.
  Those startup points are drawn from the parameters' priors where they have one, and
  within the linear constraints (`ask_trial`); the sampler's own startup draw is uniform.
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
- Multitask: TPE, told each observation's quantile within its task (`_multitask`).
"""

from __future__ import annotations

import importlib.util
import random
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import structlog
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.samplers import BaseSampler, TPESampler
from optuna.study import StudyDirection
from optuna.trial import TrialState

from sigopt_service.engine._multitask import TASK_COST, task_scores
from sigopt_service.engine.space import Space
from sigopt_service.models import Experiment, Metric, Objective, Observation, Suggestion

optuna.logging.set_verbosity(optuna.logging.WARNING)
log = structlog.get_logger()

GP_MAX_DIMS = 20
GP_MAX_OBSERVATIONS = 600
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
    #: COMPLETE trials that are no observation: proposals told as infeasible (`_asking`).
    phantoms: int = 0
    #: Multitask: observation id -> the score told for it (`task_scores`); None otherwise.
    scores: dict[int, float] | None = None
    #: Multisolution: how many solutions the experiment looks for, within which budget.
    num_solutions: int = 1
    budget: int | None = None
    #: Every observation with an id up to this one was read from the store (by the
    #: rebuild or `_catch_up`); ones above it may have been told one by one since.
    read_through: int = 0
    #: The store's `history_rewrites` read before this study's history was: a shared
    #: store's count above it means another process rewrote the history (rebuild).
    rewrites: int = 0

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
        and not experiment.tasks
        and (experiment.num_solutions or 1) == 1
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
    # group: only a conditional space changes shape between trials; without conditionals
    # every suggestion asks every parameter and the decomposition would only cost time.
    # With them, TPE fits each set of parameters that occur together (an active
    # subspace) on the trials that hold it.
    with warnings.catch_warnings():
        # `group` is marked experimental; a warning per rebuild would only be noise.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        tpe = TPESampler(
            n_startup_trials=n_startup,
            multivariate=True,
            group=bool(space.conditionals),
            constant_liar=True,
            seed=seed,
        )
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
    space = Space.from_experiment(experiment)
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
    scores = None
    if experiment.tasks:  # scores are quantiles, higher is better, whatever the metric
        scores, directions = task_scores(observations, objectives[0]), [_MAX]
        objectives = [objectives[0].model_copy(update={"objective": Objective.MAXIMIZE})]
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
        scores=scores,
        num_solutions=experiment.num_solutions or 1,
        budget=experiment.observation_budget,
        # Closed before this rebuild: their observations are told as added trials.
        closed={int(o.suggestion) for o in observations if o.suggestion is not None},
        read_through=max((int(o.id) for o in observations), default=0),
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
        trial = fixed(model, params)
        if suggestion.task is not None:
            trial.set_user_attr(TASK_COST, suggestion.task.cost)
        model.running[int(suggestion.id)] = trial
    log.debug(
        "study_rebuilt",
        experiment_id=experiment_id,
        trials=len(model.study.get_trials(deepcopy=False)),
        pending=len(model.running),
        sampler=type(sampler).__name__,
    )
    return model


def _suggest(trial: optuna.trial.Trial, name: str, dist: BaseDistribution) -> Any:
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    assert isinstance(dist, FloatDistribution)
    return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)


def n_real_completed(model: Model) -> int:
    """COMPLETE trials that are observations (not `phantoms`)."""
    completed = model.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return len(completed) - model.phantoms


def ask_space(model: Model) -> optuna.trial.Trial:
    """A trial of the model's space: all of it at once, or define-by-run if conditional.
    Params enqueued before (`fixed`) are taken as they are."""
    space = model.space
    if not space.conditionals:
        return model.study.ask(space.distributions)
    trial = model.study.ask()
    values = {
        name: _suggest(trial, name, space.distributions[name]) for name, _ in space.conditionals
    }
    for p in space.active(values):
        _suggest(trial, p.name, space.distributions[p.name])
    return trial


def fixed(model: Model, params: dict[str, Any]) -> optuna.trial.Trial:
    """A trial at exactly `params` (a point of the space, as `Space.to_params` gives)."""
    model.study.enqueue_trial(params)
    return ask_space(model)


# -- telling ------------------------------------------------------------------------------
def _values(model: Model, observation: Observation) -> list[float] | None:
    if model.scores is not None:
        score = model.scores.get(int(observation.id))
        return None if score is None else [score]
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


def lie(model: Model) -> list[float]:
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
    told_values = values if values is not None else lie(model)
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
            distributions=model.space.distributions_of(params),
            constraints=constraints if model.uses_constraints else None,
            user_attrs={} if observation.task is None else {TASK_COST: observation.task.cost},
        )
    )
    return True
