"""Quality of multisolution (`num_solutions: 3`) on Himmelblau's function: four equal
minima (0) in [-5, 5]^2, far apart. How many distinct minima do the 3 solutions hit?

Each engine runs `BUDGET` evaluations; the 3 solutions are then chosen from its
observations by the same rule, the service's multisolution `best_assignments`
(`engine/solutions.py`: k-center over the top fifth), so the engines differ only in
where they searched:

- `ours_k3@4`: a `num_solutions: 3` experiment, 4 open suggestions (TPE plus the
  niche turns of `engine/_niches.py`, which explore away from the solutions found);
- `ours@4`: the same engine without `num_solutions` (plain TPE);
- `optuna_tpe`: Optuna's TPE, sequential (it has no multisolution mode);
- `random`: random search.

A solution hits a minimum when its value is below a threshold, 1 (near the minimum:
about 0.1% of the function's range over the box) or 5 (in its basin, close); the hits
are counted by the nearest minimum, so two solutions in one basin count once. At 80
evaluations ours with `num_solutions` hit 2.3 minima below 5 where plain TPE hit 1.65,
but no more below 1 (1.0 against 1.05, 20 seeds): the niche turns find the basins, and
refining three of them takes more evaluations; hence 120.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Mapping
from typing import Any

import optuna

from benchmarks.functions import TestFunction
from sigopt_service.best import ranked_observations
from sigopt_service.engine import Engine
from sigopt_service.engine.solutions import diverse_best
from sigopt_service.models import Experiment, MetricEvaluation, Observation, Suggestion
from sigopt_service.store import InMemoryStore, NewObservation
from sigopt_service.usecases import suggest_and_store
from sigopt_service.validation import validate_experiment_create

BUDGET = 120
K = 3
#: The values below which a solution hits its nearest minimum.
HIT_VALUES = (1.0, 5.0)
MINIMA = ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126))
MULTISOLUTION_ENGINES = ("ours_k3@4", "ours@4", "optuna_tpe", "random")


def _himmelblau(a: Mapping[str, Any]) -> float:
    x, y = float(a["x"]), float(a["y"])
    return (x * x + y - 11) ** 2 + (x + y * y - 7) ** 2


himmelblau = TestFunction(
    name="himmelblau",
    bounds={"x": (-5.0, 5.0), "y": (-5.0, 5.0)},
    minimum=0.0,
    fn=_himmelblau,
)


def _body(k: int) -> dict[str, Any]:
    """The create body of the experiment: Himmelblau's box, `num_solutions: k`."""
    return {
        "name": "himmelblau",
        "parameters": himmelblau.parameters(),
        "metrics": [{"name": "value", "objective": "minimize"}],
        "observation_budget": BUDGET,
        "num_solutions": k,
    }


def minima_hit(solutions: list[Observation], below: float) -> int:
    """Distinct minima the solutions hit with a value below `below` (see the module)."""
    hit = set()
    for o in solutions:
        if (value := o.values[0].value) is None or value >= below:
            continue
        x, y = float(o.assignments["x"]), float(o.assignments["y"])
        hit.add(min(range(len(MINIMA)), key=lambda i: math.dist((x, y), MINIMA[i])))
    return len(hit)


def run_multisolution(engine: str, *, seed: int) -> dict[str, Any]:
    """One run: the minima its 3 solutions hit, and its best value."""
    if engine.startswith("ours"):
        observations = _run_ours(K if engine == "ours_k3@4" else 1, seed)
    else:
        observations = _run_other(engine, seed)
    experiment = Experiment(id="1", **validate_experiment_create(_body(K)).model_dump())
    solutions = diverse_best(experiment, ranked_observations(experiment, observations), K)
    return {
        "hit": {str(below): minima_hit(solutions, below) for below in HIT_VALUES},
        "best": min(o.values[0].value or math.inf for o in observations),
    }


def _run_ours(k: int, seed: int) -> list[Observation]:
    store = InMemoryStore()
    experiment = store.create_experiment(validate_experiment_create(_body(k)))
    engine = Engine(store, seed=seed)
    pending: deque[Suggestion] = deque()
    told = 0
    while told < BUDGET:
        while len(pending) < 4 and told + len(pending) < BUDGET:
            pending.append(suggest_and_store(engine, store, experiment))
        s = pending.popleft()
        value = MetricEvaluation(name="value", value=_himmelblau(s.assignments))
        new = NewObservation(suggestion=int(s.id), values=[value])
        engine.observed(experiment, store.create_observations(int(experiment.id), [new]))
        told += 1
    return store.all_observations(int(experiment.id))


def _run_other(engine: str, seed: int) -> list[Observation]:
    """Optuna's TPE or random search, their evaluations as observations."""
    points: list[dict[str, float]] = []
    if engine == "random":
        rng = random.Random(seed)
        points = [{"x": rng.uniform(-5, 5), "y": rng.uniform(-5, 5)} for _ in range(BUDGET)]
    else:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
        for _ in range(BUDGET):
            trial = study.ask()
            point = {n: trial.suggest_float(n, -5.0, 5.0) for n in ("x", "y")}
            study.tell(trial, _himmelblau(point))
            points.append(point)
    return [
        Observation(
            id=str(i + 1),
            experiment="1",
            assignments=p,
            values=[MetricEvaluation(name="value", value=_himmelblau(p))],
        )
        for i, p in enumerate(points)
    ]
