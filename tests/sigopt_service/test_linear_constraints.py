"""Issue 15, item 3: `linear_constraints`, validated as sigopt-server does
(`get_constraints_from_json`, `has_feasible_constraints`), stored on both stores, and a
hard guarantee: every suggestion the service makes satisfies every constraint (checked
on hundreds, for each engine path), and user-given assignments that break one are a 400."""

from __future__ import annotations

import copy
from typing import Any

import aiohttp
import pytest
from sigopt import Connection

from sigopt_service.engine.constraints import parse_constraints, violated_constraint
from sigopt_service.models import Experiment
from sigopt_service.validation import validate_experiment_create
from tests.sigopt_service.api_cases import call, refusal

#: sigopt-server's `EXPERIMENT_META_WITH_CONSTRAINTS` (test/integration/v1/constants.py).
META: dict[str, Any] = dict(
    name="default constrained experiment",
    metrics=[dict(name="profit")],
    observation_budget=30,
    parameters=[
        dict(name="a", type="int", bounds=dict(min=1, max=50)),
        dict(name="b", type="double", bounds=dict(min=-50, max=0)),
        dict(name="c", type="categorical", categorical_values=[dict(name="d"), dict(name="e")]),
        dict(name="f", type="double", bounds=dict(min=1, max=50)),
        dict(name="g", type="int", bounds=dict(min=1, max=50)),
    ],
    linear_constraints=[
        dict(
            type="greater_than",
            terms=[dict(name="f", weight=3.4234), dict(name="b", weight=3)],
            threshold=4,
        ),
        dict(
            type="less_than",
            terms=[dict(name="f", weight=3), dict(name="b", weight=1.1)],
            threshold=44,
        ),
        dict(
            type="greater_than",
            terms=[dict(name="a", weight=1), dict(name="g", weight=2)],
            threshold=4,
        ),
        dict(
            type="less_than",
            terms=[dict(name="a", weight=1), dict(name="g", weight=2)],
            threshold=64,
        ),
    ],
)
C0 = "linear_constraints[0]"
MISSING, BAD = "missing_key", "invalid_value"
EMPTY = "Infeasible constraints or empty set"
TWO = "Constraints should affect at least two parameters"
VALID = [dict(a=1, b=0, c="d", f=2, g=12), dict(a=1, b=-1, c="d", f=14, g=4)]
BREAKING = [dict(a=50, b=-50, c="d", f=2, g=10), dict(a=25, b=-3, c="e", f=50, g=25)]


pytestmark = pytest.mark.both_stores


def meta(constraints: list[dict[str, Any]] | None = None, **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(META)
    if constraints is not None:
        body["linear_constraints"] = constraints
    body.update(changes)
    return body


def ge(threshold: float, **terms: float) -> dict[str, Any]:
    return dict(
        type="greater_than",
        threshold=threshold,
        terms=[dict(name=n, weight=w) for n, w in terms.items()],
    )


def le(threshold: float, **terms: float) -> dict[str, Any]:
    return dict(ge(threshold, **terms), type="less_than")


def feasible(experiment: Experiment, assignments: dict[str, Any]) -> bool:
    constraints = parse_constraints(experiment.linear_constraints)
    return violated_constraint(constraints, assignments) is None


class TestCreate:
    """Valid constraints come back in SigOpt's shape; every rule of sigopt-server's is a
    400 naming the field, and so is a set of constraints nothing satisfies."""

    def test_round_trip(self, conn: Connection) -> None:
        zero = dict(name="h", weight=0)
        body = meta([dict(ge(4, f=3.4234, b=3), terms=[*ge(0, f=3.4234, b=3)["terms"], zero])])
        body["parameters"].append(dict(name="h", type="double", bounds=dict(min=0, max=1)))
        e = conn.experiments(conn.experiments().create(**body).id).fetch()
        assert [c.to_json() for c in e.linear_constraints] == [
            {
                "object": "linear_constraint",
                "type": "greater_than",
                "threshold": 4.0,
                # Sorted by name, the zero-weight term left out, as sigopt-server does.
                "terms": [
                    {"object": "constraint_term", "name": "b", "weight": 3.0},
                    {"object": "constraint_term", "name": "f", "weight": 3.4234},
                ],
            }
        ]

    @pytest.mark.parametrize(
        ("constraints", "field", "code", "words"),
        [
            (
                [dict(type="greater_than", terms=[dict(name="f", weight=3)])],
                f"{C0}.threshold",
                MISSING,
                "Missing required json key",
            ),
            ([dict(ge(4, f=3), type="linear_eq")], f"{C0}.type", BAD, "greater_than"),
            (
                [dict(ge(4), terms=[dict(name="f")])],
                f"{C0}.terms[0].weight",
                MISSING,
                "Missing required json key",
            ),
            ([dict(ge(4, f=3), lhs=3)], f"{C0}.lhs", "unknown_key", "Unknown json keys"),
            (
                [dict(ge(4), terms=[dict(name="f", weight=3, hi=1)])],
                f"{C0}.terms[0].hi",
                "unknown_key",
                "Unknown json keys",
            ),
            (
                [ge(4, c=3)],
                f"{C0}.terms[0].name",
                BAD,
                "Variable c is not a parameter of type `double`",
            ),
            ([ge(4, W=3)], f"{C0}.terms[0].name", BAD, "Variable W is not a known parameter"),
            (
                [dict(ge(4), terms=[dict(name="f", weight=3), dict(name="f", weight=4)])],
                f"{C0}.terms[1].name",
                BAD,
                "Duplicate variable name: f",
            ),
            ([ge(4)], f"{C0}.terms", BAD, "Constraint must have at least one term"),
            ([ge(0, f=1, b=1), ge(0, f=-1, b=-1)], "linear_constraints", BAD, EMPTY),
            ([ge(0.5, f=1, b=1), le(0.5, f=1, b=1)], "linear_constraints", BAD, EMPTY),
            ([ge(200, f=1, b=1)], "linear_constraints", BAD, EMPTY),
            ([ge(23, f=1)], f"{C0}.terms", BAD, TWO),
            ([ge(23, f=1, b=0)], f"{C0}.terms", BAD, TWO),
            (
                [ge(23, a=1, b=1)],
                f"{C0}.terms",
                BAD,
                "Constraint functions cannot mix integers and doubles",
            ),
            (
                [ge(23, a=1, g=float("nan"))],
                f"{C0}.terms[1].weight",
                BAD,
                "not a finite number",
            ),
        ],
        ids=[
            "no-threshold",
            "bad-type",
            "no-weight",
            "unknown-key",
            "unknown-term-key",
            "categorical",
            "unknown-parameter",
            "duplicate-term",
            "no-terms",
            "opposite",
            "equality",
            "out-of-bounds",
            "one-term",
            "zero-weight",
            "mixed",
            "nan-weight",
        ],
    )
    def test_refused(
        self,
        conn: Connection,
        constraints: list[dict[str, Any]],
        field: str,
        code: str,
        words: str,
    ) -> None:
        if constraints and any(t.get("weight") != t.get("weight") for t in constraints[0]["terms"]):
            # NaN is no JSON: the validation itself gets it (as from YAML in the config).
            with pytest.raises(Exception) as info:
                validate_experiment_create(meta(constraints))
            assert getattr(info.value, "field", None) == field
            return
        got_field, got_code, message = refusal(
            lambda: conn.experiments().create(**meta(constraints))
        )
        assert (got_field, got_code) == (field, code)
        assert words in message

    @pytest.mark.parametrize(
        ("parameter", "words"),
        [
            (dict(transformation="log"), "log-transformed parameter x"),
            (dict(conditions=dict(k="u")), "conditioned parameter x"),
            (dict(grid=[0.1, 0.5], bounds=None), "grid parameter x"),
        ],
    )
    def test_not_on_this_parameter(
        self, conn: Connection, parameter: dict[str, Any], words: str
    ) -> None:
        x = {
            k: v
            for k, v in {
                **dict(name="x", type="double", bounds=dict(min=0.1, max=1)),
                **parameter,
            }.items()
            if v is not None
        }
        y = dict(name="y", type="double", bounds=dict(min=0, max=1))
        body = dict(
            name="c",
            parameters=[x, y],
            conditionals=[dict(name="k", values=["u", "v"])],
            linear_constraints=[le(1, x=1, y=1)],
        )
        got_field, _, message = refusal(lambda: conn.experiments().create(**body))
        assert got_field == "linear_constraints[0].terms[0].name" and words in message

    def test_at_most_ten_int_variables(self, conn: Connection) -> None:
        body = dict(
            name="ints",
            metrics=[dict(name="profit")],
            parameters=[
                dict(name=f"x{i}", type="int", bounds=dict(min=1, max=50)) for i in range(11)
            ],
            linear_constraints=[ge(4, **{f"x{i}": 1 for i in range(11)})],
        )
        field, _, message = refusal(lambda: conn.experiments().create(**body))
        assert field == "linear_constraints[0].terms[10].name"
        assert "SigOpt allows no more than 10 integer constraint variables" in message

    def test_updates_keep_them_feasible(self, conn: Connection) -> None:
        eid = conn.experiments().create(**META).id
        assert refusal(
            lambda: conn.experiments(eid).update(linear_constraints=META["linear_constraints"])
        )[:2] == ("linear_constraints", "invalid_request")
        without_f = [p for p in META["parameters"] if p["name"] != "f"]
        assert (
            refusal(lambda: conn.experiments(eid).update(parameters=without_f))[0] == "parameters"
        )
        # f <= 1.1 with b <= 0 leaves 3.4234 f + 3 b >= 4 unsatisfiable.
        narrow = [
            dict(p, bounds=dict(min=1, max=1.1)) if p["name"] == "f" else p
            for p in META["parameters"]
        ]
        field, _, message = refusal(lambda: conn.experiments(eid).update(parameters=narrow))
        assert field == "linear_constraints" and "Infeasible" in message
        wider = [
            dict(p, bounds=dict(min=1, max=60)) if p["name"] == "f" else p
            for p in META["parameters"]
        ]
        conn.experiments(eid).update(parameters=wider)


class TestUserAssignments:
    """Assignments that break a constraint are a 400 wherever a user gives them."""

    @pytest.mark.parametrize("assignments", BREAKING)
    def test_refused(self, conn: Connection, assignments: dict[str, Any]) -> None:
        eid = conn.experiments().create(**META).id
        kept = conn.experiments(eid).observations().create(assignments=VALID[0], failed=True)
        for attempt in (
            lambda: conn.experiments(eid).suggestions().create(assignments=assignments),
            lambda: conn.experiments(eid).queued_suggestions().create(assignments=assignments),
            lambda: (
                conn.experiments(eid)
                .observations()
                .create(assignments=assignments, values=[{"value": 0}])
            ),
            lambda: (
                conn.experiments(eid)
                .observations(kept.id)
                .update(suggestion=None, assignments=assignments)
            ),
        ):
            field, code, message = refusal(attempt)
            assert (field, code) == ("assignments", "invalid_value")
            assert message.startswith("Assignments do not satisfy constraint: ")
        batch = conn.experiments(eid).observations()
        field, _, _ = refusal(
            lambda: batch.create_batch(
                observations=[
                    dict(assignments=VALID[0], values=[{"value": 0}]),
                    dict(assignments=assignments, values=[{"value": 0}]),
                ]
            )
        )
        assert field == "observations[1].assignments"

    @pytest.mark.parametrize("assignments", VALID)
    def test_accepted(self, conn: Connection, assignments: dict[str, Any]) -> None:
        eid = conn.experiments().create(**META).id
        s = conn.experiments(eid).suggestions().create(assignments=assignments)
        assert s.assignments.to_json() == assignments
        o = (
            conn.experiments(eid)
            .observations()
            .create(assignments=assignments, values=[{"value": 0}])
        )
        assert o.assignments.to_json() == assignments


class TestSuggestionsThroughTheClient:
    """The service's suggestions satisfy the constraints, on both stores (hundreds more,
    engine-side, in `test_constraint_engine.py`)."""

    def test_through_the_client(self, conn: Connection) -> None:
        e = conn.experiments().create(**META)
        experiment = Experiment.model_validate(
            dict(e.to_json(), linear_constraints=[c.to_json() for c in e.linear_constraints])
        )
        for i in range(20):
            s = conn.experiments(e.id).suggestions().create()
            assert feasible(experiment, s.assignments.to_json())
            conn.experiments(e.id).observations().create(suggestion=s.id, values=[{"value": i}])


class TestRawHttp:
    """The same over plain HTTP: SigOpt's `object` keys on the way out, and a 400 body
    with `field` and `code` for a suggestion that breaks a constraint or a condition."""

    async def test_shapes_and_refusals(self, http: aiohttp.ClientSession, service_url: str) -> None:
        body = meta(conditionals=[dict(name="k", values=["u", "v"])])
        body["parameters"][2]["conditions"] = dict(k="v")  # c only when k = v
        status, created = await call(http, "POST", f"{service_url}/v1/experiments", body)
        assert status == 200, created
        assert created["conditionals"] == [
            {"object": "conditional", "name": "k", "values": ["u", "v"]}
        ]
        assert [t["object"] for t in created["linear_constraints"][0]["terms"]] == [
            "constraint_term"
        ] * 2
        url = f"{service_url}/v1/experiments/{created['id']}/suggestions"
        point = dict(VALID[0], k="u")
        point.pop("c")
        status, made = await call(http, "POST", url, {"assignments": point})
        assert (status, made["assignments"]) == (200, point)
        for assignments, field in [
            (dict(BREAKING[0], k="v"), "assignments"),
            (dict(point, c="d"), "assignments.c"),
        ]:
            status, error = await call(http, "POST", url, {"assignments": assignments})
            assert (status, error["field"], error["code"]) == (400, field, "invalid_value")
        status, generated = await call(http, "POST", url, {})
        assert status == 200 and ("c" in generated["assignments"]) == (
            generated["assignments"]["k"] == "v"
        )
