"""Multisolution proposals: exploring away from the solutions already found.

Plain TPE converges on one optimum; `num_solutions: k` asks for k good ones spread over
the space (`solutions.py` says how they are chosen). So, once the model has had its
startup design and `NICHE_START` of the budget is spent or held, the proposals take
turns (`niche_params`): turn 0 of every k asks TPE as usual (it refines the best
solution); turn j (1 <= j < k) asks a TPE study in which every trial within
`NICHE_RADIUS` (normalized distance) of the current j best solutions is told as
infeasible, so TPE's "good" density is fit on the best trials outside those
neighbourhoods: it refines the (j+1)-th solution or finds a new region. This is
penalized sampling, the way SigOpt's multisolution turns the optimized metric into a
search for points beyond a threshold away from those found (libsigopt's search).

The penalized study is built for that one proposal from the model's trials (values,
params, open suggestions as RUNNING for the constant liar) plus the constraint `NICHE`,
then dropped; the point is fixed into the model's own study as any other suggestion.
On the multimodal benchmark (`benchmarks/quality/features.py`, k = 3) this took the
solutions into more distinct optima than plain TPE at the same budget (see
docs/service.md, Multisolution).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna
from optuna.samplers import TPESampler
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState, create_trial

from sigopt_service.engine._model import Model, n_real_completed
from sigopt_service.engine.solutions import distances, spread_best, unit_points

#: Trials within this normalized distance of a solution are its neighbourhood.
NICHE_RADIUS = 0.1
#: Share of the budget (observations plus open suggestions) before the turns begin.
NICHE_START = 0.25
#: The Optuna constraint a trial in a penalized neighbourhood is told with.
NICHE = "niche"


def _is_feasible(trial: FrozenTrial) -> bool:
    return all(v <= 0 for v in trial.constraints.values())


def current_solutions(model: Model) -> list[FrozenTrial]:
    """The k solutions among the study's observations, best first, as `diverse_best`
    chooses them among observations."""
    completed = model.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    candidates = [t for t in completed if _is_feasible(t) and t.values]
    maximize = model.study.directions[0] is StudyDirection.MAXIMIZE
    candidates.sort(key=lambda t: (-t.values[0] if maximize else t.values[0], t.number))
    return spread_best(candidates, model.num_solutions, lambda top: _points(model, top))


def _points(model: Model, trials: Sequence[FrozenTrial]) -> np.ndarray:
    space = model.space
    return unit_points(space, [space.to_assignments(t.params) for t in trials])


def _turn(model: Model) -> int:
    """Which solutions the next proposal explores away from: 0 none (plain TPE)."""
    if model.num_solutions <= 1 or n_real_completed(model) < model.n_startup:
        return 0
    held = len(model.told) + len(model.running)
    if held < NICHE_START * (model.budget or 0):
        return 0
    return model.suggestion_count % model.num_solutions


def niche_params(model: Model) -> dict[str, Any] | None:
    """The params of a penalized proposal when it is a niche turn; None otherwise."""
    turn = _turn(model)
    if turn == 0:
        return None
    solutions = current_solutions(model)[:turn]
    if not solutions:
        return None
    states = (TrialState.COMPLETE, TrialState.RUNNING)
    trials = model.study.get_trials(deepcopy=False, states=states)
    sampler = TPESampler(
        n_startup_trials=model.n_startup,
        multivariate=True,
        constant_liar=True,
        seed=model.rng.getrandbits(32),
    )
    penalized = optuna.create_study(sampler=sampler, directions=model.study.directions)
    nearest = distances(_points(model, trials), _points(model, solutions)).min(axis=1)
    near = [float(d) < NICHE_RADIUS for d in nearest]
    for trial, is_near in zip(trials, near, strict=True):
        constraints = None
        if trial.state is TrialState.COMPLETE:
            constraints = {**trial.constraints, NICHE: 1.0 if is_near else 0.0}
        penalized.add_trial(
            create_trial(
                state=trial.state,
                values=trial.values,
                params=trial.params,
                distributions=trial.distributions,
                constraints=constraints,
            )
        )
    return penalized.ask(model.space.distributions).params
