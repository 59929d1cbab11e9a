"""An experiment's `conditionals` and its parameters' `conditions`, checked as sigopt-server
does (`zigopt/conditionals/from_json.py`, `parameters/from_json.py`,
`conditionals/util.py: check_all_conditional_values_satisfied`).

    "conditionals": [{"name": "arch", "values": ["mlp", "tree"]}],
    "parameters": [{"name": "depth", ..., "conditions": {"arch": ["tree"]}}, ...]

A conditional has a name (no parameter may share it) and two or more distinct string
values. A parameter's condition names a conditional and one or more of its values (a
lone string counts as a list of one); a parameter without a condition on a conditional
is active whatever its value. Every combination of the conditionals' values must leave
some parameter active. Stored and returned as SigOpt renders them:
`{"object": "conditional", "name": ..., "values": [...]}`, values in the order sent.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import Field

from sigopt_service.limits import MAX_CATEGORIES, MAX_CATEGORY_NAME_LENGTH, MAX_NAME_LENGTH
from sigopt_service.models import Parameter
from sigopt_service.validation._common import Body, InvalidField, NameStr, invalid_value

#: Combinations of conditional values checked for an active parameter: beyond it a
#: request would have the service walk a product it cannot afford (SigOpt itself advises
#: at most 6 conditional values in all).
MAX_CONDITIONAL_COMBINATIONS = 10_000


class ConditionalBody(Body):
    name: NameStr = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    values: list[str] = Field(max_length=MAX_CATEGORIES)
    object: Literal["conditional"] | None = None


def conditionals_for_create(items: Sequence[ConditionalBody] | None) -> list[dict[str, Any]]:
    """The conditionals as stored; each breach names its key (`conditionals[1].values`)."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(items or []):
        where = f"conditionals[{i}]"
        values: list[str] = []
        for k, value in enumerate(item.values):
            if not value or len(value) > MAX_CATEGORY_NAME_LENGTH:
                raise invalid_value(
                    f"{where}.values[{k}]",
                    f"{value[:60]!r} must be 1 to {MAX_CATEGORY_NAME_LENGTH} characters",
                )
            if value in values:
                raise InvalidField(
                    f"Duplicate conditional value {value} for conditional named {item.name}",
                    field=f"{where}.values[{k}]",
                    code="invalid_value",
                )
            values.append(value)
        if len(values) < 2:
            raise InvalidField(
                f"No values provided for conditional {item.name}"
                if not values
                else f"Conditional {item.name} must have at least 2 values",
                field=f"{where}.values",
                code="missing_key" if not values else "invalid_value",
            )
        if item.name in seen:
            raise InvalidField(
                f"Duplicate conditional name {item.name}",
                field=f"{where}.name",
                code="invalid_value",
            )
        seen.add(item.name)
        out.append({"object": "conditional", "name": item.name, "values": values})
    return out


def check_conditions(
    parameters: Sequence[Parameter],
    conditionals: Sequence[Mapping[str, Any]],
    positions: Mapping[str, int],
) -> None:
    """Each parameter's `conditions` against the conditionals, and every combination of
    conditional values covered. `positions`: each parameter's index in the request, for
    the key path of an error."""
    values_of = {str(c["name"]): [str(v) for v in c["values"]] for c in conditionals}
    for p in parameters:
        where = f"parameters[{positions[p.name]}]"
        if p.name in values_of:
            raise InvalidField(
                f"Cannot have parameter and conditional both named {p.name}",
                field=f"{where}.name",
                code="invalid_value",
            )
        for name, values in p.conditions.items():
            at = f"{where}.conditions.{name}"
            if name not in values_of:
                raise InvalidField(
                    f"Parameter {p.name} attempted to use non-existent conditional {name}",
                    field=at,
                    code="invalid_value",
                )
            if not values:
                raise InvalidField(
                    f"When providing condition for {name} on parameter {p.name},"
                    " must provide at least one value",
                    field=at,
                    code="invalid_value",
                )
            for value in values:
                if value not in values_of[name]:
                    raise InvalidField(
                        f"Conditional {name} on parameter {p.name} attempted to use"
                        f" non-existent value {value}",
                        field=at,
                        code="invalid_value",
                    )
    _check_every_combination_active(parameters, values_of)


def _check_every_combination_active(
    parameters: Sequence[Parameter], values_of: Mapping[str, list[str]]
) -> None:
    if not values_of or any(not p.conditions for p in parameters):
        return  # no conditionals, or a parameter active under every combination
    names = sorted(values_of)
    combinations = math.prod(len(values_of[n]) for n in names)
    if combinations > MAX_CONDITIONAL_COMBINATIONS:
        raise invalid_value(
            "conditionals",
            f"the conditionals' values make {combinations} combinations, over "
            f"{MAX_CONDITIONAL_COMBINATIONS}",
        )
    for combination in itertools.product(*(values_of[n] for n in names)):
        point = dict(zip(names, combination, strict=True))
        if not any(p.is_active(point) for p in parameters):
            raise InvalidField(
                "Need at least one parameter that satisfies each conditional value",
                field="conditionals",
                code="invalid_value",
                reason="no parameter is active when "
                + ", ".join(f"{n} = {v!r}" for n, v in point.items()),
            )
