"""Assignments (parameter name -> value) given by a client, for a suggestion or observation:
conditionals, active parameters and linear constraints as sigopt-server checks them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sigopt_service.engine.constraints import parse_constraints, violated_constraint
from sigopt_service.models import Assignments, AssignmentValue, Experiment, Parameter, ParameterType
from sigopt_service.validation._common import InvalidField, finite, invalid_value


def assignment_value(p: Parameter, value: Any, where: str) -> AssignmentValue:
    """`value` as parameter `p` takes it (an int for int, a float for double, a category
    name); `where` is its key path, e.g. `assignments.x` or `parameters[0].default_value`."""
    if p.type is ParameterType.CATEGORICAL:
        if not isinstance(value, str) or value not in p.category_names():
            raise invalid_value(
                where,
                f"{value!r:.60} is not one of the categorical values of {p.name}: "
                f"{p.category_names()}",
            )
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid_value(where, f"{p.name} must be a number, got {value!r:.60}")
    finite(float(value), where)  # no OverflowError: parse_json_body keeps ints < 2^63
    if p.type is ParameterType.INT:
        if float(value) != int(value):
            raise invalid_value(where, f"{p.name} must be an integer")
        value = int(value)
    else:
        value = float(value)
    if p.grid is not None and value not in p.grid:
        raise invalid_value(where, f"{value} is not in the grid of {p.name}")
    if p.transformation == "log" and value <= 0:
        raise invalid_value(where, f"log-transformed {p.name} must be > 0")
    number: int | float = value
    return number


def validate_assignments(experiment: Experiment, raw: Mapping[str, Any]) -> Assignments:
    """Every conditional and every active parameter present, no unknown or inactive
    parameter, each of its type, every linear constraint satisfied; bounds are not
    checked (spec), as in sigopt-server's `validate_assignments_map`."""
    known = {p.name for p in experiment.parameters} | {c["name"] for c in experiment.conditionals}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InvalidField(
            f"Unknown parameter in `assignments`: {unknown[0]!r}",
            field=f"assignments.{unknown[0]}",
            code="unknown_key",
        )
    out: Assignments = _conditional_values(experiment, raw)
    for p in experiment.parameters:
        # Without conditionals every parameter is active: `conditions` stored before they
        # were checked (naming no conditional) change nothing, as for the engine's space.
        active = p.is_active(out) if experiment.conditionals else True
        if p.name not in raw:
            if not active:
                continue
            raise InvalidField(
                f'Missing assignment for parameter: "{p.name}"',
                field=f"assignments.{p.name}",
                code="missing_key",
            )
        if not active:
            raise InvalidField(
                f'Do not provide assignment for unsatisfied parameter: "{p.name}"',
                field=f"assignments.{p.name}",
                code="invalid_value",
                reason="its conditions are not met by these conditional values",
            )
        out[p.name] = assignment_value(p, raw[p.name], f"assignments.{p.name}")
    constraints = parse_constraints(experiment.linear_constraints)
    broken = violated_constraint(constraints, out)
    if broken is not None:
        raise InvalidField(
            f"Assignments do not satisfy constraint: {constraints[broken]}",
            field="assignments",
            code="invalid_value",
            reason=f"linear_constraints[{broken}] ({constraints[broken]}) does not hold",
        )
    return out


def _conditional_values(experiment: Experiment, raw: Mapping[str, Any]) -> Assignments:
    """Each conditional's value: one of its values, given as a string."""
    out: Assignments = {}
    for conditional in experiment.conditionals:
        name = conditional["name"]
        where = f"assignments.{name}"
        if name not in raw:
            raise InvalidField(
                f'Missing assignment for conditional: "{name}"', field=where, code="missing_key"
            )
        value = raw[name]
        if not isinstance(value, str) or value not in conditional["values"]:
            raise invalid_value(
                where,
                f"Invalid assignment {value!r:.60} for conditional {name}: "
                f"must be one of {conditional['values']}",
            )
        out[name] = value
    return out
