"""Quality on the experiment features Optuna has no direct counterpart for: a conditional
two-architecture function (`conditionals`) and a constrained Branin (`linear_constraints`).

Each is run by our engine at 4 open suggestions, by our `random` engine, and by Optuna's
`TPESampler()` used the way its users write these problems (sequential, define-by-run):

- conditional: `arch = trial.suggest_categorical(...)`, then only that branch's
  parameters; TPE's defaults (independent, no `group`).
- constrained: Optuna has no hard linear constraints; its users set the constraint
  values on each trial (`trial.set_constraint`, Optuna 5's successor of
  `constraints_func`): soft, TPE learns to avoid infeasible trials and proposes them
  anyway. An infeasible trial is evaluated (it costs its evaluation) but never counts as
  the best. Ours and random only ever suggest feasible points.

Regret: best feasible value found minus the known (constrained) minimum.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import optuna

from benchmarks.functions import branin
from benchmarks.quality.runs import _best_so_far, run_engine
from sigopt_service.validation import validate_experiment_create

Assignments = Mapping[str, Any]


@dataclass(frozen=True)
class FeatureFunction:
    """A minimization benchmark whose space uses an experiment feature."""

    __test__ = False  # not a pytest class, despite the name

    name: str
    feature: str
    #: The SigOpt create body's space: `parameters`, `conditionals`, `linear_constraints`.
    space: dict[str, Any]
    minimum: float
    budget: int
    fn: Callable[[Assignments], float]
    #: Define-by-run: what an Optuna user's objective suggests.
    suggest: Callable[[optuna.trial.Trial], dict[str, Any]]
    #: Optuna constraint values (feasible iff all <= 0), for `trial.set_constraint`.
    violations: Callable[[Assignments], list[float]] | None = None

    def is_feasible(self, assignments: Assignments) -> bool:
        return self.violations is None or all(v <= 0 for v in self.violations(assignments))


# -- conditional: two architectures sharing a learning rate ----------------------------
def _two_architectures(a: Assignments) -> float:
    lr = float(a["lr"])
    if a["arch"] == "mlp":
        width, dropout = int(a["width"]), float(a["dropout"])
        return (
            0.3
            + 2 * (lr - 0.25) ** 2
            + ((width - 40) / 32) ** 2
            + 1.5 * (dropout - 0.3) ** 2
            + 0.1 * (1 - math.cos(6 * math.pi * (lr - 0.25)))
        )
    depth, subsample = int(a["depth"]), float(a["subsample"])
    # The shared learning rate wants 0.7 here and 0.25 for the mlp: a model that mixes
    # the branches' trials is pulled between the two.
    return (
        3 * (lr - 0.7) ** 2
        + 2 * ((depth - 11) / 8) ** 2
        + 2 * (subsample - 0.8) ** 2
        + 0.1 * (1 - math.cos(math.pi * (depth - 11) / 2))
    )


def _suggest_architecture(trial: optuna.trial.Trial) -> dict[str, Any]:
    out: dict[str, Any] = {
        "arch": trial.suggest_categorical("arch", ["mlp", "tree"]),
        "lr": trial.suggest_float("lr", 0.0, 1.0),
    }
    if out["arch"] == "mlp":
        out["width"] = trial.suggest_int("width", 1, 64)
        out["dropout"] = trial.suggest_float("dropout", 0.0, 0.9)
    else:
        out["depth"] = trial.suggest_int("depth", 1, 16)
        out["subsample"] = trial.suggest_float("subsample", 0.1, 1.0)
    return out


conditional_architectures = FeatureFunction(
    name="conditional_arch",
    feature="conditionals",
    space={
        "conditionals": [{"name": "arch", "values": ["mlp", "tree"]}],
        "parameters": [
            {"name": "lr", "type": "double", "bounds": {"min": 0.0, "max": 1.0}},
            {
                "name": "width",
                "type": "int",
                "bounds": {"min": 1, "max": 64},
                "conditions": {"arch": ["mlp"]},
            },
            {
                "name": "dropout",
                "type": "double",
                "bounds": {"min": 0.0, "max": 0.9},
                "conditions": {"arch": ["mlp"]},
            },
            {
                "name": "depth",
                "type": "int",
                "bounds": {"min": 1, "max": 16},
                "conditions": {"arch": ["tree"]},
            },
            {
                "name": "subsample",
                "type": "double",
                "bounds": {"min": 0.1, "max": 1.0},
                "conditions": {"arch": ["tree"]},
            },
        ],
    },
    minimum=0.0,
    budget=60,
    fn=_two_architectures,
    suggest=_suggest_architecture,
)


# -- linear constraints: Branin cut to 17% of its box ----------------------------------
def _branin_violations(a: Assignments) -> list[float]:
    """x1 + x2 <= 5 and x2 - x1 <= 8, as Optuna constraint values."""
    x1, x2 = float(a["x1"]), float(a["x2"])
    return [x1 + x2 - 5.0, x2 - x1 - 8.0]


def _suggest_branin(trial: optuna.trial.Trial) -> dict[str, Any]:
    return {"x1": trial.suggest_float("x1", -5.0, 10.0), "x2": trial.suggest_float("x2", 0.0, 15.0)}


constrained_branin = FeatureFunction(
    name="constrained_branin",
    feature="linear_constraints",
    space={
        "parameters": branin.parameters(),
        "linear_constraints": [
            {
                "type": "less_than",
                "threshold": 5.0,
                "terms": [{"name": "x1", "weight": 1}, {"name": "x2", "weight": 1}],
            },
            {
                "type": "less_than",
                "threshold": 8.0,
                "terms": [{"name": "x2", "weight": 1}, {"name": "x1", "weight": -1}],
            },
        ],
    },
    # All three of Branin's minima are cut off: the best lies on x1 + x2 = 5 (SLSQP from
    # a fine grid's best point, at (3.1231, 1.8769)).
    minimum=0.5697397428916,
    budget=40,
    fn=branin.fn,
    suggest=_suggest_branin,
    violations=_branin_violations,
)

FEATURES = (conditional_architectures, constrained_branin)
FEATURE_FUNCTIONS = {f.name: f for f in FEATURES}
#: Ours at 4 open suggestions, our random engine, Optuna's TPE as its users run it.
FEATURE_ENGINES = ("ours@4", "random", "optuna_tpe")


def run_feature(function: FeatureFunction, engine: str, *, seed: int) -> list[float]:
    """Best-so-far curve of one run (inf until a first feasible evaluation)."""
    if engine in ("ours@4", "random"):
        body = {"name": function.name, "metrics": [{"name": "value", "objective": "minimize"}]}
        experiment = validate_experiment_create({**body, **function.space})
        return run_engine(
            experiment,
            lambda a: function.fn(a) if function.is_feasible(a) else None,
            engine_type="offline" if engine == "ours@4" else "random",
            open_suggestions=4 if engine == "ours@4" else 1,
            budget=function.budget,
            seed=seed,
        )
    if engine != "optuna_tpe":
        raise ValueError(engine)
    return _run_optuna(function, seed=seed)


def _run_optuna(function: FeatureFunction, *, seed: int) -> list[float]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))

    def ask() -> tuple[optuna.trial.Trial, dict[str, Any]]:
        trial = study.ask()
        return trial, function.suggest(trial)

    def evaluate(asked: tuple[optuna.trial.Trial, dict[str, Any]]) -> float | None:
        # An infeasible point is evaluated (its cost is spent) but is no answer.
        value = function.fn(asked[1])
        return value if function.is_feasible(asked[1]) else None

    def tell(asked: tuple[optuna.trial.Trial, dict[str, Any]], _: float | None) -> None:
        trial, assignments = asked
        if function.violations is not None:
            # Optuna 5's way (`constraints_func` is deprecated): TPE puts trials with a
            # positive value in its "bad" density.
            for k, violation in enumerate(function.violations(assignments)):
                trial.set_constraint(f"c{k}", violation)
        study.tell(trial, function.fn(assignments))

    return _best_so_far(ask, evaluate, tell, open_points=1, budget=function.budget)
