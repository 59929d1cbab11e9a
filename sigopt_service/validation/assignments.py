"""Assignments (parameter name -> value) given by a client, for a suggestion or observation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
    """Every parameter present, none unknown, each of its type; bounds are not checked (spec)."""
    known = {p.name for p in experiment.parameters}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InvalidField(
            f"Unknown parameter in `assignments`: {unknown[0]!r}",
            field=f"assignments.{unknown[0]}",
            code="unknown_key",
        )
    out: Assignments = {}
    for p in experiment.parameters:
        if p.name not in raw:
            raise InvalidField(
                f'Missing assignment for parameter: "{p.name}"',
                field=f"assignments.{p.name}",
                code="missing_key",
            )
        out[p.name] = assignment_value(p, raw[p.name], f"assignments.{p.name}")
    return out
