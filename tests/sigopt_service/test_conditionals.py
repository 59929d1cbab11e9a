"""Issue 15, item 2: `conditionals` and parameters' `conditions`, validated as sigopt-server
does (`conditionals/from_json.py`, `parameters/from_json.py`, `validate_assignments_map`),
stored on both stores, and used: every suggestion holds each conditional's value and
exactly the parameters active under it; user-given assignments are held to the same."""

from __future__ import annotations

import copy
import random
from collections import Counter
from typing import Any

import pytest
from sigopt import Connection

from sigopt_service.engine import Engine
from sigopt_service.models import Experiment, Parameter
from sigopt_service.store import InMemoryStore
from sigopt_service.usecases import suggest_and_store
from sigopt_service.validation import validate_experiment_create
from tests.sigopt_service.api_cases import refusal
from tests.sigopt_service.engine_helpers import observe, study_of

#: sigopt-server's `EXPERIMENT_META_CONDITIONALS` (test/integration/v1/constants.py).
META: dict[str, Any] = dict(
    name="conditional experiment",
    metrics=[dict(name="metric")],
    observation_budget=30,
    parameters=[
        dict(name="a", type="int", bounds=dict(min=1, max=50)),
        dict(name="b", type="double", bounds=dict(min=-50, max=0), conditions=dict(x=["5", "10"])),
        dict(
            name="c",
            type="categorical",
            categorical_values=[dict(name="d"), dict(name="e")],
            conditions=dict(x="10"),
        ),
    ],
    conditionals=[dict(name="x", values=["1", "5", "10"])],
)
#: x -> the parameters a point with that value holds.
ACTIVE = {"1": {"a"}, "5": {"a", "b"}, "10": {"a", "b", "c"}}


pytestmark = pytest.mark.both_stores


def meta(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(META)
    body.update(changes)
    return body


def check_point(assignments: dict[str, Any]) -> None:
    """`assignments` hold x and exactly the parameters active under it, within bounds."""
    x = assignments["x"]
    assert set(assignments) - {"x"} == ACTIVE[x], assignments
    assert isinstance(assignments["a"], int) and 1 <= assignments["a"] <= 50
    if "b" in assignments:
        assert -50 <= assignments["b"] <= 0
    if "c" in assignments:
        assert assignments["c"] in ("d", "e")


class TestCreate:
    """Valid conditionals are stored and returned in SigOpt's shape; every rule SigOpt
    has is a 400 naming the field."""

    def test_round_trip(self, conn: Connection) -> None:
        e = conn.experiments().create(**META)
        fetched = conn.experiments(e.id).fetch()
        assert [c.to_json() for c in fetched.conditionals] == [
            {"object": "conditional", "name": "x", "values": ["1", "5", "10"]}
        ]
        conditions = {p.name: p.conditions.to_json() for p in fetched.parameters}
        assert conditions == {"a": {}, "b": {"x": ["5", "10"]}, "c": {"x": ["10"]}}

    @pytest.mark.parametrize(
        ("change", "field", "code"),
        [
            (dict(conditionals=[dict(name="x", values=["1"])]), "conditionals[0].values", None),
            (
                dict(conditionals=[dict(name="x", values=[])]),
                "conditionals[0].values",
                "missing_key",
            ),
            (
                dict(conditionals=[dict(name="x", values=["1", "5", "1"])]),
                "conditionals[0].values[2]",
                None,
            ),
            (
                dict(conditionals=[dict(name="x", values=["1", 5])]),
                "conditionals[0].values[1]",
                None,
            ),
            (dict(conditionals=[dict(name="x")]), "conditionals[0].values", "missing_key"),
            (
                dict(conditionals=[dict(name="x", values=["1", "5", "10"], z=1)]),
                "conditionals[0].z",
                "unknown_key",
            ),
            (
                dict(conditionals=[dict(name="x", values=["1", "5", "10"])] * 2),
                "conditionals[1].name",
                None,
            ),
            (dict(type="grid"), "conditionals", None),
        ],
        ids=[
            "one-value",
            "no-values",
            "duplicate-value",
            "non-string-value",
            "values-missing",
            "unknown-key",
            "duplicate-name",
            "grid",
        ],
    )
    def test_bad_conditionals(
        self, conn: Connection, change: dict[str, Any], field: str, code: str | None
    ) -> None:
        body = meta(**change)
        if body.get("type") == "grid":
            for p in body["parameters"][:2]:
                p.pop("bounds")
                p["grid"] = [1, 2, 3] if p["type"] == "int" else [-1.0, -2.0]
            body.pop("observation_budget")
        got_field, got_code, _ = refusal(lambda: conn.experiments().create(**body))
        assert got_field == field
        assert got_code == (code or "invalid_value")

    @pytest.mark.parametrize(
        ("index", "conditions", "field", "words"),
        [
            (0, dict(x="9"), "parameters[0].conditions.x", "non-existent value 9"),
            (0, dict(x=["1", "9"]), "parameters[0].conditions.x", "non-existent value 9"),
            (0, dict(z="5"), "parameters[0].conditions.z", "non-existent conditional z"),
            (0, dict(x=[]), "parameters[0].conditions.x", "at least one value"),
        ],
    )
    def test_bad_conditions(
        self, conn: Connection, index: int, conditions: dict[str, Any], field: str, words: str
    ) -> None:
        body = meta()
        body["parameters"][index]["conditions"] = conditions
        got_field, got_code, message = refusal(lambda: conn.experiments().create(**body))
        assert (got_field, got_code) == (field, "invalid_value")
        assert words in message

    def test_parameter_named_like_a_conditional(self, conn: Connection) -> None:
        body = meta()
        body["parameters"][1]["name"] = "x"
        assert refusal(lambda: conn.experiments().create(**body))[:2] == (
            "parameters[1].name",
            "invalid_value",
        )

    def test_every_value_needs_an_active_parameter(self, conn: Connection) -> None:
        """x = "5" and "10" leave nothing active when every parameter needs x = "1"."""
        body = meta()
        for p in body["parameters"]:
            p["conditions"] = dict(x="1")
        field, _, message = refusal(lambda: conn.experiments().create(**body))
        assert field == "conditionals"
        assert "Need at least one parameter that satisfies each conditional value" in message

    def test_multiconditional_as_sigopt(self, conn: Connection) -> None:
        """sigopt-server's `EXPERIMENT_META_MULTICONDITIONAL` and its mixed conditions."""
        body = meta(
            conditionals=[dict(name="x", values=["5", "10"]), dict(name="y", values=["t", "f"])]
        )
        body["parameters"][0]["conditions"] = dict(x="5", y="t")
        body["parameters"][1]["conditions"] = dict(x=["5", "10"], y="f")
        body["parameters"][2]["conditions"] = dict(x="10", y="t")
        conn.experiments().create(**body)
        body["parameters"][1]["conditions"] = dict(x="10", y="f")  # x=5, y=f: nothing
        assert refusal(lambda: conn.experiments().create(**body))[0] == "conditionals"

    def test_updates_cannot_change_them(self, conn: Connection) -> None:
        eid = conn.experiments().create(**META).id
        new_conditionals = [dict(name="x", values=["true", "false"])]
        assert refusal(lambda: conn.experiments(eid).update(conditionals=new_conditionals))[:2] == (
            "conditionals",
            "invalid_request",
        )
        kept = [dict(p) for p in META["parameters"]]
        kept[0] = dict(kept[0], conditions=dict(x="1"))
        assert refusal(lambda: conn.experiments(eid).update(parameters=kept))[0] == (
            "parameters[0].conditions"
        )
        # A new parameter's conditions are checked like a created one's.
        extra = dict(name="d", type="double", bounds=dict(min=0, max=1), default_value=0.5)
        bad = [*META["parameters"], dict(extra, conditions=dict(x="7"))]
        assert refusal(lambda: conn.experiments(eid).update(parameters=bad))[0] == (
            "parameters[3].conditions.x"
        )
        good = [*META["parameters"], dict(extra, conditions=dict(x="5"))]
        names = [p.name for p in conn.experiments(eid).update(parameters=good).parameters]
        assert names == ["a", "b", "c", "d"]


class TestSuggestions:
    """Every suggestion holds x and exactly its active parameters (checked on all of them)."""

    @pytest.mark.parametrize("kind", ["offline", "random"])
    def test_through_the_client(self, conn: Connection, kind: str) -> None:
        e = conn.experiments().create(**meta(type=kind))
        seen = Counter()
        for i in range(24):
            s = conn.experiments(e.id).suggestions().create()
            assignments = s.assignments.to_json()
            check_point(assignments)
            seen[assignments["x"]] += 1
            o = conn.experiments(e.id).observations().create(suggestion=s.id, values=[{"value": i}])
            assert o.assignments.to_json() == assignments
        assert set(seen) == {"1", "5", "10"}

    @pytest.mark.parametrize("kind", ["offline", "random"])
    def test_two_hundred(self, kind: str) -> None:
        """200 suggestions of the engine, observed (so TPE's model takes over after its
        startup), each with exactly the active parameters; every value of x is tried."""
        store = InMemoryStore()
        experiment = store.create_experiment(validate_experiment_create(meta(type=kind)))
        engine = Engine(store, seed=7, use_gp=False)
        rng = random.Random(3)
        seen = Counter()
        for _ in range(200):
            suggestion = suggest_and_store(engine, store, experiment)
            check_point(dict(suggestion.assignments))
            seen[suggestion.assignments["x"]] += 1
            observe(engine, store, experiment, suggestion, rng.random())
        assert min(seen.values()) >= 10, seen


class TestUserAssignments:
    """User-given assignments (suggestions, observations, observation updates) are
    refused as sigopt-server refuses them, and accepted as sent otherwise."""

    @pytest.mark.parametrize(
        ("assignments", "field", "code"),
        [
            (dict(x=3, a=50, b=0, c="d"), "assignments.x", "invalid_value"),
            (dict(x="2", a=50, b=0), "assignments.x", "invalid_value"),
            (dict(a=50), "assignments.x", "missing_key"),
            (dict(x="1", a=50, c="d"), "assignments.c", "invalid_value"),
            (dict(x="1", a=50, b=0), "assignments.b", "invalid_value"),
            (dict(x="5", a=50, b=0, c="d"), "assignments.c", "invalid_value"),
            (dict(x="10", c="d", b=-1), "assignments.a", "missing_key"),
            (dict(x="10", a=1, c="d"), "assignments.b", "missing_key"),
        ],
    )
    def test_refused(
        self, conn: Connection, assignments: dict[str, Any], field: str, code: str
    ) -> None:
        eid = conn.experiments().create(**META).id
        calls = [
            lambda: conn.experiments(eid).suggestions().create(assignments=assignments),
            lambda: (
                conn.experiments(eid)
                .observations()
                .create(assignments=assignments, values=[{"value": 1}])
            ),
        ]
        for call in calls:
            assert refusal(call)[:2] == (field, code)
        s = conn.experiments(eid).suggestions().create()
        o = conn.experiments(eid).observations().create(suggestion=s.id, values=[{"value": 1}])
        update = conn.experiments(eid).observations(o.id)
        got = refusal(lambda: update.update(suggestion=None, assignments=assignments))
        assert got[:2] == (field, code)

    @pytest.mark.parametrize(
        "assignments", [dict(x="10", a=1, b=-50, c="e"), dict(x="5", a=1, b=-50), dict(x="1", a=1)]
    )
    def test_accepted(self, conn: Connection, assignments: dict[str, Any]) -> None:
        eid = conn.experiments().create(**META).id
        s = conn.experiments(eid).suggestions().create(assignments=assignments)
        assert s.assignments.to_json() == assignments
        o = conn.experiments(eid).observations().create(suggestion=s.id, values=[{"value": 0}])
        assert o.assignments.to_json() == assignments
        o = (
            conn.experiments(eid)
            .observations()
            .create(assignments=assignments, values=[{"value": 1}])
        )
        assert o.assignments.to_json() == assignments
        # The engine takes such points in its model and goes on suggesting.
        check_point(conn.experiments(eid).suggestions().create().assignments.to_json())

    def test_best_assignments_has_only_the_active(self, conn: Connection) -> None:
        eid = conn.experiments().create(**META).id
        points = [dict(x="10", a=1, b=-50, c="e"), dict(x="1", a=7), dict(x="5", a=2, b=-3.5)]
        for value, assignments in enumerate(points):
            conn.experiments(eid).observations().create(
                assignments=assignments, values=[{"value": float(value == 1)}]
            )
        (best,) = list(conn.experiments(eid).best_assignments().fetch().iterate_pages())
        assert best.assignments.to_json() == dict(x="1", a=7)


class TestLearning:
    """The model learns per active subspace: TPE with `group` fits the parameters that
    occur together on the trials that hold them, and goes where the optimum is."""

    def test_finds_the_better_branch(self) -> None:
        store = InMemoryStore()
        experiment: Experiment = store.create_experiment(
            validate_experiment_create(meta(metrics=[dict(name="loss", objective="minimize")]))
        )
        engine = Engine(store, seed=5, use_gp=False)

        def loss(a: dict[str, Any]) -> float:
            # x = "10" with b near -10 and c = "e" is best; x = "1" is flat and poor.
            if a["x"] == "1":
                return 5.0 + a["a"] / 50
            penalty = 0.0 if a.get("c", "e") == "e" else 1.0
            base = 0.0 if a["x"] == "10" else 2.0
            return base + ((a["b"] + 10) / 10) ** 2 + penalty + (a["a"] - 25) ** 2 / 625

        late = []
        for i in range(60):
            suggestion = suggest_and_store(engine, store, experiment)
            assignments = dict(suggestion.assignments)
            check_point(assignments)
            if i >= 40:
                late.append(assignments)
            observe(engine, store, experiment, suggestion, loss(assignments))
        # Uniform over x would put a third on "10"; the model puts most there by now.
        assert sum(a["x"] == "10" for a in late) >= 12, Counter(a["x"] for a in late)
        sampler = study_of(engine, experiment).sampler
        assert getattr(sampler, "_group", False)
        trials = study_of(engine, experiment).get_trials(deepcopy=False)
        assert {frozenset(t.params) for t in trials} == {
            frozenset({"x", "a"}),
            frozenset({"x", "a", "b"}),
            frozenset({"x", "a", "b", "c"}),
        }


def test_is_active_matches_sigopt() -> None:
    """`Parameter.is_active`: every condition's conditional among the listed values."""
    p = Parameter.model_validate(dict(name="p", type="double", conditions=dict(x=["1"], y=["a"])))
    assert p.is_active({"x": "1", "y": "a"})
    assert not p.is_active({"x": "1", "y": "b"})
    assert Parameter.model_validate(dict(name="q", type="double")).is_active({"x": "2"})
