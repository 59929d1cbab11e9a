"""Issue 15, item 3, engine side: every suggestion satisfies every linear constraint
(200 per case, by the very check user input gets, for each path a point can take: the
model's proposal kept or moved to the nearest feasible point, the random type, hit-and-run
in a thin polytope, an int lattice), and the geometry's own guarantees."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from sigopt_service.engine import Engine
from sigopt_service.engine.constraints import parse_constraints
from sigopt_service.engine.polytope import Polytope
from sigopt_service.models import Experiment, Parameter
from sigopt_service.store import InMemoryStore
from sigopt_service.usecases import suggest_and_store
from sigopt_service.validation import validate_experiment_create
from tests.sigopt_service.engine_helpers import observe, study_of
from tests.sigopt_service.test_linear_constraints import feasible, ge, le, meta


def run_engine(
    body: dict[str, Any], n: int, objective: Any, *, seed: int = 7
) -> tuple[Experiment, Engine, list[dict[str, Any]]]:
    """`n` suggestions of the engine, each observed with `objective(assignments)`."""
    store = InMemoryStore()
    experiment = store.create_experiment(validate_experiment_create(body))
    engine = Engine(store, seed=seed, use_gp=False)
    points = []
    for _ in range(n):
        suggestion = suggest_and_store(engine, store, experiment)
        points.append(dict(suggestion.assignments))
        observe(engine, store, experiment, suggestion, objective(suggestion.assignments))
    return experiment, engine, points


class TestEverySuggestionSatisfiesThem:
    """200 suggestions per case, all feasible by the very check user input gets: the
    model-based engine pushed against the constraints (its proposals repaired), the
    random type, a thin strip (hit-and-run) and an int lattice with one feasible line."""

    @pytest.mark.parametrize("kind", ["offline", "random"])
    def test_sigopt_meta(self, kind: str) -> None:
        # Maximizing f - b + a + g pulls towards the corners the constraints cut off.
        experiment, engine, points = run_engine(
            meta(type=kind), 200, lambda a: a["f"] - a["b"] + a["a"] + a["g"]
        )
        assert all(feasible(experiment, p) for p in points)
        assert all(set(p) == {"a", "b", "c", "f", "g"} for p in points)
        if kind == "offline":
            # Infeasible proposals were told to TPE (learned avoidance), within bounds.
            trials = study_of(engine, experiment).get_trials(deepcopy=False)
            told = [t for t in trials if t.system_attrs.get("constraints:linear_constraints")]
            assert 0 < len(told) <= 200

    @pytest.mark.parametrize("kind", ["offline", "random"])
    def test_thin_strip(self, kind: str) -> None:
        """0.50 <= x + y <= 0.51 keeps 1% of the box: rejection alone would fail."""
        body = dict(
            name="strip",
            type=kind,
            metrics=[dict(name="m", objective="minimize")],
            parameters=[dict(name=n, type="double", bounds=dict(min=0, max=1)) for n in "xyz"],
            linear_constraints=[ge(0.5, x=1, y=1), le(0.51, x=1, y=1)],
        )
        experiment, _, points = run_engine(body, 200, lambda a: (a["x"] - 0.9) ** 2 + a["z"])
        assert all(feasible(experiment, p) for p in points)
        xs = np.array([p["x"] for p in points])
        assert xs.min() < 0.1 and xs.max() > 0.4  # spread along the strip, not one point

    def test_int_lattice(self) -> None:
        """9.7 <= a + g <= 10.5 over ints: only a + g = 10 is feasible."""
        body = dict(
            name="lattice",
            metrics=[dict(name="m")],
            parameters=[dict(name=n, type="int", bounds=dict(min=1, max=50)) for n in "ag"]
            + [dict(name="x", type="double", bounds=dict(min=0, max=1))],
            linear_constraints=[ge(9.7, a=1, g=1), le(10.5, a=1, g=1)],
        )
        _, _, points = run_engine(body, 200, lambda p: p["a"] * p["x"])
        assert all(p["a"] + p["g"] == 10 for p in points)
        assert all(isinstance(p["a"], int) and isinstance(p["g"], int) for p in points)
        assert len({p["a"] for p in points}) >= 5

    def test_with_conditionals(self) -> None:
        """Constraints over the unconditioned parameters of a conditional space."""
        body = dict(
            name="both",
            metrics=[dict(name="m")],
            conditionals=[dict(name="arch", values=["s", "t"])],
            parameters=[
                dict(name="x", type="double", bounds=dict(min=0, max=1)),
                dict(name="y", type="double", bounds=dict(min=0, max=1)),
                dict(
                    name="depth", type="int", bounds=dict(min=1, max=9), conditions=dict(arch="t")
                ),
            ],
            linear_constraints=[le(0.8, x=1, y=1)],
        )
        experiment, _, points = run_engine(body, 200, lambda a: a["x"] + a["y"] + a.get("depth", 0))
        assert all(feasible(experiment, p) for p in points)
        assert all(("depth" in p) == (p["arch"] == "t") for p in points)

    def test_rebuilt_study_keeps_both(self) -> None:
        """A study rebuilt from the store (after a restart) with 4 suggestions open takes
        them back as pending conditional points and goes on suggesting feasible ones."""
        body = dict(
            name="rebuilt",
            metrics=[dict(name="m", objective="minimize")],
            conditionals=[dict(name="arch", values=["s", "t"])],
            parameters=[
                dict(name="x", type="double", bounds=dict(min=0, max=1)),
                dict(name="y", type="double", bounds=dict(min=0, max=1)),
                dict(name="d", type="int", bounds=dict(min=1, max=9), conditions=dict(arch="t")),
            ],
            linear_constraints=[ge(1.2, x=1, y=1)],
        )
        store = InMemoryStore()
        experiment = store.create_experiment(validate_experiment_create(body))
        engine = Engine(store, seed=3, use_gp=False)
        pending = [suggest_and_store(engine, store, experiment) for _ in range(4)]
        for i in range(40):
            if i % 10 == 0:
                engine.invalidate(int(experiment.id))
            suggestion = pending.pop(0)
            observe(engine, store, experiment, suggestion, suggestion.assignments["x"])
            pending.append(suggest_and_store(engine, store, experiment))
        running = study_of(engine, experiment).get_trials(deepcopy=False)
        assert sum(t.state.name == "RUNNING" for t in running) == 4
        for s in store.list_suggestions(int(experiment.id), limit=100).items:
            a = dict(s.assignments)
            assert feasible(experiment, a) and ("d" in a) == (a["arch"] == "t")


class TestPolytope:
    """The geometry's own guarantees: what it returns passes the exact check."""

    @staticmethod
    def polytope(constraints: list[dict[str, Any]], **bounds: tuple[float, float]) -> Polytope:
        parameters = [
            Parameter.model_validate(
                dict(
                    name=n,
                    type="int" if isinstance(lo, int) else "double",
                    bounds=dict(min=lo, max=hi),
                )
            )
            for n, (lo, hi) in bounds.items()
        ]
        built = Polytope.build(
            parameters, parse_constraints(validate_constraints(constraints, parameters))
        )
        assert built is not None
        return built

    def test_nearest_is_nearest_and_spread(self) -> None:
        p = self.polytope([le(5, x=1, y=1)], x=(0.0, 10.0), y=(0.0, 10.0))
        point = p.nearest({"x": 4.0, "y": 4.0})
        assert point == pytest.approx({"x": 2.5, "y": 2.5}) and p.contains(point)

    def test_a_hair_outside_is_pulled_in(self) -> None:
        """A solver answer 1e-12 past a constraint comes back inside, by the exact check."""
        p = self.polytope([le(0.3, x=0.1, y=0.2)], x=(0.0, 1.0), y=(0.0, 1.0))
        outside = np.array([1.0, 1.0 + 1e-12])  # 0.1 + 0.2 * y > 0.3 by float rounding
        point = p._checked(outside)
        assert p.contains(point)
        assert point["x"] == pytest.approx(1.0, abs=1e-6)

    def test_samples_cover_the_polytope(self) -> None:
        """Hit-and-run draws fill the triangle x + y <= 1 evenly: each half of it (split
        at x + y = 1/sqrt(2), equal areas) gets about half the draws."""
        p = self.polytope([le(1, x=1, y=1)], x=(0.0, 1.0), y=(0.0, 1.0))
        rng = random.Random(1)
        draws = [p.sample(rng) for _ in range(2000)]
        assert all(p.contains(d) for d in draws)
        inner = sum(d["x"] + d["y"] <= 2**-0.5 for d in draws) / len(draws)
        assert 0.45 < inner < 0.55


def validate_constraints(
    items: list[dict[str, Any]], parameters: list[Parameter]
) -> list[dict[str, Any]]:
    """The constraints as stored, through the create validation."""
    body = dict(
        name="p",
        parameters=[
            p.model_dump(mode="json", exclude_none=True, exclude={"object", "conditions"})
            for p in parameters
        ],
        linear_constraints=items,
    )
    return validate_experiment_create(body).linear_constraints
