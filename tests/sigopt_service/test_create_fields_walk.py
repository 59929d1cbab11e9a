"""Issue 15 item 8: nothing the experiment create body accepts is dropped silently.

`WALK` holds, for every field of the create body (the spec's keys, and every key our body
models accept, parameters' and metrics' included), a body that sends it and what the
service does with it: `kept` (create and fetch return it as sent: every key and value
sent is there, the server may add its own, such as `object`) or `refused` (a 400 whose
`field` names it). Two checks keep the table whole: a key the body models accept without
a row fails, and so does a key the spec lists without one. A feature that lands flips
its rows from `refused` to `kept`. Run on both stores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiohttp
import pytest

from sigopt_service.validation import (
    BoundsBody,
    CategoricalBody,
    ExperimentCreateBody,
    MetricBody,
    ParameterBody,
)
from sigopt_service.validation._conditionals import ConditionalBody
from sigopt_service.validation._constraints import ConstraintTermBody, LinearConstraintBody
from sigopt_service.validation._prior import BetaPriorBody, NormalPriorBody
from tests.sigopt_service.api_cases import call

SPEC = Path(__file__).resolve().parents[3] / "shared" / "docs" / "sigopt-api-v1.md"
#: The spec's `POST /experiments` row, kept here so the walk runs in a clone without the
#: team's folder beside it; where the spec is present, a test holds the two equal.
SPEC_CREATE_ROW = (
    "| `POST /experiments` | `ExperimentsCreateHandler` | Required: `name` (1\u2013100 chars) and"
    " `parameters` (≥1). Optional body keys: `type`, `metrics`, `observation_budget`,"
    " `parallel_bandwidth` (positive int), `num_solutions`, `conditionals`,"
    " `linear_constraints`, `tasks`, `metadata`, `project`, `runs_only`. **Unknown top-level"
    " keys → 400** (`additionalProperties: False`). Returns the Experiment with an empty"
    " progress. Status **200** (the swagger docstring says 201, but `success_response`"
    " always returns 200; `zigopt/net/responses.py`). |"
)

A = {"name": "a", "type": "double", "bounds": {"min": 0.1, "max": 1.0}}
B = {"name": "b", "type": "double", "bounds": {"min": 0.1, "max": 1.0}}
BASE: dict[str, Any] = {"name": "walk", "parameters": [A, B], "observation_budget": 10}
#: The value sent, expected back unchanged.
SENT: Any = object()


@dataclass(frozen=True)
class Walk:
    """One field, sent by `patch` over BASE (a key path of its own: `parameters[0].grid`)."""

    field: str
    patch: dict[str, Any]
    treatment: Literal["kept", "refused"]
    #: What create and fetch answer at `field` when kept: `SENT`, or SigOpt's own form.
    returned: Any = SENT
    #: The key a refusal names, when another key is the reason (default `field`).
    refused_as: str | None = None
    note: str = field(default="", compare=False)


def _param(**keys: Any) -> dict[str, Any]:
    """BASE's parameters with `a` changed as given (None deletes a key)."""
    changed = {k: v for k, v in {**A, **keys}.items() if v is not None}
    return {"parameters": [changed, B]}


#: Both parameters on a grid of two values: a grid experiment of 4 points.
GRID = {"parameters": [{"name": p["name"], "type": "double", "grid": [0.2, 0.4]} for p in (A, B)]}
CONDITIONAL = [{"name": "arch", "values": ["cnn", "mlp"]}]
CONDITIONAL_OBJECT = {"object": "conditional"}
CONSTRAINT = {
    "type": "less_than",
    "threshold": 1.5,
    "terms": [{"name": "a", "weight": 1.0}, {"name": "b", "weight": 1.0}],
}
TERMS_WITH_OBJECT = [t | {"object": "constraint_term"} for t in CONSTRAINT["terms"]]
#: `a` categorical, its values as objects with an index SigOpt does not take from the body.
CATEGORICAL = _param(
    type="categorical",
    bounds=None,
    categorical_values=[
        {"name": "x", "enum_index": 7, "object": "categorical_value"},
        {"name": "y", "enum_index": 3},
    ],
)
NORMAL = {"name": "normal", "mean": 0.5, "scale": 0.1, "object": "normal_prior"}
BETA = {"name": "beta", "shape_a": 2.0, "shape_b": 3.0, "object": "beta_prior"}

WALK: list[Walk] = [
    # -- top level: the spec's keys (`POST /experiments` row), then ours
    Walk("name", {"name": "walk"}, "kept"),
    Walk("parameters", {}, "kept", returned=[A, B]),
    Walk("type", {"type": "random"}, "kept"),
    Walk("type", GRID | {"type": "grid", "observation_budget": 4}, "kept"),
    Walk("metrics", {"metrics": [{"name": "m", "objective": "minimize"}]}, "kept"),
    Walk("metrics", {"metrics": ["m"]}, "kept", returned=[{"name": "m"}]),
    Walk("observation_budget", {"observation_budget": 7}, "kept"),
    Walk("parallel_bandwidth", {"parallel_bandwidth": 3}, "kept"),
    Walk("num_solutions", {"num_solutions": 1}, "kept"),
    Walk("num_solutions", {"num_solutions": 3}, "kept", note="issue 15 item 4"),
    Walk("num_solutions", {"num_solutions": 11}, "refused", note="over the budget of 10"),
    # Conditionals and linear constraints: issue 15 items 2 and 3.
    Walk("conditionals", {"conditionals": []}, "kept"),
    Walk("conditionals", {"conditionals": CONDITIONAL}, "kept"),
    Walk("conditionals[0].name", {"conditionals": CONDITIONAL}, "kept"),
    Walk("conditionals[0].values", {"conditionals": CONDITIONAL}, "kept"),
    Walk("conditionals[0].object", {"conditionals": [CONDITIONAL[0] | CONDITIONAL_OBJECT]}, "kept"),
    Walk("linear_constraints", {"linear_constraints": []}, "kept"),
    Walk("linear_constraints", {"linear_constraints": [CONSTRAINT]}, "kept"),
    *(
        Walk(f"linear_constraints[0].{key}", {"linear_constraints": [CONSTRAINT]}, "kept")
        for key in ("type", "threshold", "terms", "terms[0].name", "terms[0].weight")
    ),
    Walk(
        "linear_constraints[0].object",
        {"linear_constraints": [CONSTRAINT | {"object": "linear_constraint"}]},
        "kept",
    ),
    Walk(
        "linear_constraints[0].terms[0].object",
        {"linear_constraints": [CONSTRAINT | {"terms": TERMS_WITH_OBJECT}]},
        "kept",
    ),
    # Multitask (issue 15 item 5): returned costliest first, as SigOpt lists them.
    Walk(
        "tasks",
        {"tasks": [{"name": "cheap", "cost": 0.1}, {"name": "full", "cost": 1.0}]},
        "kept",
        returned=[{"name": "full", "cost": 1.0}, {"name": "cheap", "cost": 0.1}],
    ),
    Walk("tasks", {"tasks": []}, "kept", returned=None, note="not multitask: null"),
    Walk("tasks", {"tasks": [{"name": "full", "cost": 1.0}]}, "refused"),
    Walk("metadata", {"metadata": {"team": "ml", "n": 3}}, "kept"),
    Walk("project", {"project": "proj-1"}, "kept"),
    Walk("runs_only", {"runs_only": False}, "kept"),
    Walk("runs_only", {"runs_only": True}, "refused", note="AI experiments: issue 14"),
    Walk("development", {"development": True}, "kept"),
    Walk("client", {"client": "1"}, "kept"),
    Walk("client", {"client": "2"}, "refused"),
    # -- a parameter's keys
    Walk("parameters[0].name", _param(name="a2"), "kept"),
    Walk("parameters[0].type", _param(type="int", bounds={"min": 1, "max": 5}), "kept"),
    Walk("parameters[0].bounds", _param(bounds={"min": 0.2, "max": 0.8}), "kept"),
    Walk("parameters[0].bounds.min", _param(bounds={"min": 0.2, "max": 0.8}), "kept"),
    Walk("parameters[0].bounds.max", _param(bounds={"min": 0.2, "max": 0.8}), "kept"),
    Walk("parameters[0].bounds.object", _param(bounds=A["bounds"] | {"object": "bounds"}), "kept"),
    Walk(
        "parameters[0].categorical_values",
        _param(type="categorical", bounds=None, categorical_values=["x", "y"]),
        "kept",
        returned=[{"name": "x"}, {"name": "y"}],
    ),
    *(
        Walk(f"parameters[0].categorical_values[0].{key}", CATEGORICAL, "kept")
        for key in ("name", "object")
    ),
    # SigOpt numbers the values itself, in the order sent (sigopt-server's from_json).
    Walk("parameters[0].categorical_values[0].enum_index", CATEGORICAL, "kept", returned=1),
    Walk("parameters[0].transformation", _param(transformation="log"), "kept"),
    Walk("parameters[0].transformation", _param(transformation="none"), "kept", returned=None),
    Walk("parameters[0].grid", _param(grid=[0.2, 0.4], bounds=None), "kept"),
    Walk("parameters[0].default_value", _param(default_value=0.5), "kept"),
    Walk("parameters[0].precision", _param(precision=3), "kept"),
    Walk(
        "parameters[0].prior", _param(prior={"name": "normal", "mean": 0.5, "scale": 0.1}), "kept"
    ),
    *(
        Walk(f"parameters[0].prior.{key}", _param(prior=prior), "kept")
        for prior in (NORMAL, BETA)
        for key in prior
    ),
    Walk(
        "parameters[0].conditions",
        _param(conditions={"arch": ["cnn"]}) | {"conditionals": CONDITIONAL},
        "kept",
    ),
    # A lone value is a list of one, as sigopt-server reads it.
    Walk(
        "parameters[0].conditions",
        _param(conditions={"arch": "cnn"}) | {"conditionals": CONDITIONAL},
        "kept",
        returned={"arch": ["cnn"]},
    ),
    Walk("parameters[0].object", _param(object="parameter"), "kept"),
    # -- a metric's keys
    Walk("metrics[0].name", {"metrics": [{"name": "m"}]}, "kept"),
    Walk("metrics[0].objective", {"metrics": [{"name": "m", "objective": "minimize"}]}, "kept"),
    Walk(
        "metrics[1].strategy",
        {"metrics": [{"name": "m"}, {"name": "s", "strategy": "store"}]},
        "kept",
    ),
    Walk(
        "metrics[1].threshold",
        {"metrics": [{"name": "m"}, {"name": "n", "strategy": "constraint", "threshold": 0.5}]},
        "kept",
    ),
    Walk("metrics[0].object", {"metrics": [{"name": "m", "object": "metric"}]}, "kept"),
]


def _at(data: Any, path: str) -> Any:
    """The value at a key path (`parameters[0].bounds`) of a JSON document."""
    for name, index in re.findall(r"([a-z_]+)|\[(\d+)\]", path):
        data = data[int(index)] if index else data[name]
    return data


def _holds(returned: Any, sent: Any) -> bool:
    """Whether `returned` has everything `sent` has: the same keys and values (it may add
    keys of its own), lists item by item, numbers by value."""
    if isinstance(sent, dict):
        return isinstance(returned, dict) and all(
            k in returned and _holds(returned[k], v) for k, v in sent.items()
        )
    if isinstance(sent, list):
        return (
            isinstance(returned, list)
            and len(returned) == len(sent)
            and all(_holds(r, s) for r, s in zip(returned, sent, strict=True))
        )
    # True == 1 in Python; a bool sent must come back a bool.
    return bool((returned == sent and type(returned) is type(sent)) or _same_number(returned, sent))


def _same_number(returned: Any, sent: Any) -> bool:
    numbers = (int, float)
    return (
        isinstance(returned, numbers)
        and isinstance(sent, numbers)
        and not isinstance(returned, bool)
        and not isinstance(sent, bool)
        and returned == sent
    )


def _case_id(walk: Walk) -> str:
    return f"{walk.field}={walk.treatment}:{next(iter(walk.patch.values()), '')!s:.30}"


pytestmark = pytest.mark.both_stores


class TestEveryCreateFieldRoundTripsOrIsRefused:
    """Each row of WALK: kept (create and fetch return it as sent) or a 400 naming it."""

    @pytest.mark.parametrize("walk", WALK, ids=_case_id)
    async def test_field(self, http: aiohttp.ClientSession, service_url: str, walk: Walk) -> None:
        body = {**BASE, **walk.patch}
        status, created = await call(http, "POST", f"{service_url}/v1/experiments", body)
        if walk.treatment == "refused":
            named = walk.refused_as or walk.field
            assert status == 400, created
            assert created["field"] == named or created["field"].startswith(
                (f"{named}.", f"{named}[")
            ), created
            return
        assert status == 200, created
        expected = _at(body, walk.field) if walk.returned is SENT else walk.returned
        _, fetched = await call(http, "GET", f"{service_url}/v1/experiments/{created['id']}")
        for answer in (created, fetched):
            assert _holds(_at(answer, walk.field), expected), (walk.field, answer)


def _fields(model: type[Any], prefix: str = "") -> set[str]:
    return {f"{prefix}{name}" for name in model.model_fields}


def _walked() -> set[str]:
    """The walked fields, with any parameter or metric index read as `[0]`."""
    return {re.sub(r"\[\d+\]", "[0]", w.field) for w in WALK}


class TestTheWalkIsWhole:
    """A key the service accepts, or the spec lists, without a row in WALK fails here."""

    def test_every_accepted_key_is_walked(self) -> None:
        accepted = (
            _fields(ExperimentCreateBody)
            | _fields(ParameterBody, "parameters[0].")
            | _fields(BoundsBody, "parameters[0].bounds.")
            | _fields(CategoricalBody, "parameters[0].categorical_values[0].")
            | _fields(NormalPriorBody, "parameters[0].prior.")
            | _fields(BetaPriorBody, "parameters[0].prior.")
            | _fields(MetricBody, "metrics[0].")
            | _fields(ConditionalBody, "conditionals[0].")
            | _fields(LinearConstraintBody, "linear_constraints[0].")
            | _fields(ConstraintTermBody, "linear_constraints[0].terms[0].")
        )
        assert accepted - _walked() == set()

    def test_the_kept_spec_row_is_the_specs(self) -> None:
        """Where the team's spec sits beside the checkout, its row is the one kept here."""
        if SPEC.is_file():
            rows = [line for line in SPEC.read_text().splitlines() if "`POST /experiments`" in line]
            assert rows == [SPEC_CREATE_ROW]

    def test_every_key_the_spec_lists_is_walked(self) -> None:
        row = SPEC_CREATE_ROW
        listed = set(re.findall(r"`([a-z_]+)`", row.split("Required:", 1)[1].split("**", 1)[0]))
        assert {"name", "parameters", "tasks", "runs_only"} <= listed  # the parse found them
        assert listed - _walked() == set()

    def test_walk_rows_are_distinct(self) -> None:
        assert len({repr(w) for w in WALK}) == len(WALK)
