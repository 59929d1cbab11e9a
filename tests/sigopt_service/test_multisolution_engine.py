"""The multisolution engine (`engine/_niches.py`): once the search is under way, turns
1..k-1 of every k proposals come from a TPE study that tells the neighbourhoods of the
best solutions found as infeasible, so they land away from them."""

from __future__ import annotations

import math
import random
from typing import Any

from sigopt_service.engine import Engine
from sigopt_service.engine._model import Model
from sigopt_service.engine._niches import NICHE_RADIUS, niche_params
from sigopt_service.models import Experiment, MetricEvaluation
from sigopt_service.store import InMemoryStore, NewObservation
from sigopt_service.usecases import suggest_and_store
from sigopt_service.validation import validate_experiment_create

BODY: dict[str, Any] = {
    "name": "ms",
    "parameters": [
        {"name": "x", "type": "double", "bounds": {"min": 0.0, "max": 1.0}},
        {"name": "y", "type": "double", "bounds": {"min": 0.0, "max": 1.0}},
    ],
    "metrics": [{"name": "v", "objective": "minimize"}],
    "observation_budget": 40,
    "num_solutions": 3,
}
OPTIMUM = (0.2, 0.2)


def crowded(seed: int) -> tuple[Engine, InMemoryStore, Experiment]:
    """An experiment whose 20 observations crowd one optimum: 12 near it, 8 elsewhere."""
    store = InMemoryStore()
    experiment = store.create_experiment(validate_experiment_create(BODY))
    rng = random.Random(seed)
    points = [
        {"x": OPTIMUM[0] + rng.uniform(-0.05, 0.05), "y": OPTIMUM[1] + rng.uniform(-0.05, 0.05)}
        for _ in range(12)
    ] + [{"x": rng.random(), "y": rng.random()} for _ in range(8)]
    new = [
        NewObservation(
            assignments=p,
            values=[MetricEvaluation(name="v", value=math.dist((p["x"], p["y"]), OPTIMUM))],
        )
        for p in points
    ]
    store.create_observations(int(experiment.id), new)
    return Engine(store, seed=seed), store, experiment


def model_of(engine: Engine, store: InMemoryStore, experiment: Experiment) -> Model:
    suggest_and_store(engine, store, experiment)  # builds the study
    return engine._models[int(experiment.id)]


def test_niche_turns_explore_away_from_the_best_solution() -> None:
    engine, store, experiment = crowded(seed=1)
    model = model_of(engine, store, experiment)
    far = 0
    for _ in range(20):
        model.suggestion_count = 1  # turn 1 of 3: away from the best solution
        params = niche_params(model)
        assert params is not None
        # Normalized distance: divided by sqrt(2 parameters).
        if math.dist((params["x"], params["y"]), OPTIMUM) / math.sqrt(2) > NICHE_RADIUS:
            far += 1
    assert far >= 16, far


def test_turn_zero_and_early_proposals_are_plain_tpe() -> None:
    engine, store, experiment = crowded(seed=2)
    model = model_of(engine, store, experiment)
    model.suggestion_count = 3  # turn 0 of 3
    assert niche_params(model) is None
    model.suggestion_count = 1
    model.budget = 1000  # 21 of 1000 held: before NICHE_START of the budget
    assert niche_params(model) is None


def test_without_num_solutions_no_turns() -> None:
    store = InMemoryStore()
    body = {k: v for k, v in BODY.items() if k != "num_solutions"}
    experiment = store.create_experiment(validate_experiment_create(body))
    engine = Engine(store, seed=0)
    for _ in range(12):
        s = suggest_and_store(engine, store, experiment)
        new = NewObservation(
            suggestion=int(s.id),
            values=[MetricEvaluation(name="v", value=float(s.assignments["x"]))],
        )
        engine.observed(experiment, store.create_observations(int(experiment.id), [new]))
    model = engine._models[int(experiment.id)]
    model.suggestion_count = 1
    assert niche_params(model) is None
