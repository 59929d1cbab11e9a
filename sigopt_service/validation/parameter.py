"""One parameter of an experiment: its body model and SigOpt's rules for bounds,
categories, grids, transformations, priors (`_prior.py`) and default values (sigopt-server's
`zigopt/parameters/from_json.py`)."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field

from sigopt_service.limits import (
    MAX_CATEGORIES,
    MAX_CATEGORY_NAME_LENGTH,
    MAX_INT_BOUND,
    MAX_NAME_LENGTH,
    MIN_BOUNDS_WIDTH,
)
from sigopt_service.models import (
    AssignmentValue,
    Bounds,
    CategoricalValue,
    Parameter,
    ParameterType,
)
from sigopt_service.validation._common import (
    Body,
    InvalidField,
    NameStr,
    finite,
    invalid_value,
)
from sigopt_service.validation._prior import check_prior
from sigopt_service.validation.assignments import assignment_value


class BoundsBody(Body):
    min: float
    max: float
    object: Literal["bounds"] | None = None


class CategoricalBody(Body):
    name: str
    enum_index: int | None = None
    object: Literal["categorical_value"] | None = None


class ParameterBody(Body):
    name: NameStr = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    type: Literal["double", "int", "categorical"]
    bounds: BoundsBody | None = None
    categorical_values: list[str | CategoricalBody] | None = Field(
        default=None, max_length=MAX_CATEGORIES
    )
    transformation: Literal["none", "log"] | None = None
    grid: list[int | float | str] | None = Field(default=None, max_length=MAX_CATEGORIES)
    default_value: int | float | str | None = None
    precision: int | None = None
    prior: dict[str, Any] | None = None
    conditions: dict[str, list[str] | str] | None = None
    object: Literal["parameter"] | None = None


def _categories(body: ParameterBody, where: str) -> list[CategoricalValue]:
    field = f"{where}.categorical_values"
    names = [c if isinstance(c, str) else c.name for c in body.categorical_values or []]
    if len(names) < 2:
        raise InvalidField(
            f"Categorical parameter {body.name} must have at least 2 `categorical_values`",
            field=field,
            code="missing_key" if body.categorical_values is None else "invalid_value",
        )
    for name in names:
        if not name or len(name) > MAX_CATEGORY_NAME_LENGTH:
            raise invalid_value(
                field, f"{name[:60]!r} must be 1 to {MAX_CATEGORY_NAME_LENGTH} characters"
            )
    if len(set(names)) != len(names):
        raise InvalidField(
            f"Duplicate `categorical_values` in parameter {body.name}",
            field=field,
            code="invalid_value",
        )
    return [CategoricalValue(name=n, enum_index=k + 1) for k, n in enumerate(sorted(names))]


def _bounds(body: ParameterBody, ptype: ParameterType, where: str, log: bool) -> Bounds:
    if body.bounds is None:
        raise InvalidField(
            f"Parameter {body.name} must have `bounds`",
            field=f"{where}.bounds",
            code="missing_key",
        )
    field = f"{where}.bounds"
    lo = finite(body.bounds.min, f"{field}.min")
    hi = finite(body.bounds.max, f"{field}.max")
    if ptype is ParameterType.INT and max(abs(lo), abs(hi)) > MAX_INT_BOUND:
        raise invalid_value(field, f"int bounds must lie within +-{MAX_INT_BOUND}")
    if ptype is ParameterType.INT and (lo != int(lo) or hi != int(hi)):
        raise invalid_value(field, "int bounds must be integers")
    if not math.isfinite(hi - lo):
        raise invalid_value(field, f"the range max - min ({hi} - {lo}) is too large to represent")
    if hi - lo < MIN_BOUNDS_WIDTH:
        raise invalid_value(field, f"min ({lo}) must be less than max ({hi})")
    if log and lo <= 0:
        raise invalid_value(field, f"log transformation needs min > 0, got {lo}")
    return Bounds(min=lo, max=hi)


def _grid(
    body: ParameterBody, ptype: ParameterType, where: str, log: bool
) -> list[AssignmentValue]:
    values: list[AssignmentValue] = []
    for k, v in enumerate(body.grid or []):
        at = f"{where}.grid[{k}]"
        if isinstance(v, (str, bool)):
            raise invalid_value(at, "must be a number")
        finite(float(v), at)
        if ptype is ParameterType.INT and float(v) != int(v):
            raise invalid_value(at, "must be an integer")
        if ptype is ParameterType.INT and abs(v) > MAX_INT_BOUND:
            raise invalid_value(at, f"int grid values must lie within +-{MAX_INT_BOUND}")
        if log and v <= 0:
            raise invalid_value(at, "log grid values must be > 0")
        values.append(int(v) if ptype is ParameterType.INT else float(v))
    prefix = f"`grid` provided for parameter {body.name} is invalid. "
    if len(set(values)) != len(values):
        raise InvalidField(
            prefix + "Cannot have duplicate values in grid.",
            field=f"{where}.grid",
            code="invalid_value",
        )
    if len(values) < 2:  # a one-value grid is no search (SigOpt: 2 or more values)
        raise InvalidField(
            prefix + "Must have 2 or more values in grid",
            field=f"{where}.grid",
            code="invalid_value",
        )
    return sorted(values, key=float)


def _not_allowed(message: str, field: str) -> InvalidField:
    return InvalidField(message, field=field, code="invalid_value")


def parameter(body: ParameterBody, i: int) -> Parameter:
    """The parameter `parameters[i]` of a request, checked against SigOpt's rules."""
    where = f"parameters[{i}]"
    ptype = ParameterType(body.type)
    transformation = "log" if body.transformation == "log" else None
    bounds: Bounds | None = None
    categories: list[CategoricalValue] | None = None
    grid: list[AssignmentValue] | None = None
    if ptype is ParameterType.CATEGORICAL:
        if body.bounds is not None:
            raise _not_allowed(
                f"Categorical parameter {body.name} cannot have `bounds`", f"{where}.bounds"
            )
        if body.grid is not None:
            raise _not_allowed(
                f"Categorical parameter {body.name} cannot have a `grid`", f"{where}.grid"
            )
        if transformation:
            raise _not_allowed(
                f"Categorical parameter {body.name} cannot have a transformation",
                f"{where}.transformation",
            )
        categories = _categories(body, where)
    else:
        if body.categorical_values is not None:
            raise _not_allowed(
                f"Parameter {body.name} of type {body.type} cannot have `categorical_values`",
                f"{where}.categorical_values",
            )
        if transformation and ptype is not ParameterType.DOUBLE:
            raise _not_allowed(
                f"Only double parameters can have a log transformation: {body.name}",
                f"{where}.transformation",
            )
        if body.grid is not None:
            if body.bounds is not None:
                raise _not_allowed(
                    "Parameters with grid cannot have bounds on parameters. "
                    "They are inferred from the supplied grid.",
                    f"{where}.bounds",
                )
            grid = _grid(body, ptype, where, bool(transformation))
            bounds = Bounds(min=float(grid[0]), max=float(grid[-1]))  # as SigOpt shows them
        else:
            bounds = _bounds(body, ptype, where, bool(transformation))
    if body.prior is not None and ptype is not ParameterType.DOUBLE:
        raise _not_allowed(
            f"Only double parameters can have a `prior`: {body.name}", f"{where}.prior"
        )
    if body.prior is not None:
        check_prior(
            body.prior,
            name=body.name,
            bounds=bounds,
            log=bool(transformation),
            grid=grid is not None,
            where=where,
        )
    conditions = {
        k: ([v] if isinstance(v, str) else list(v)) for k, v in (body.conditions or {}).items()
    }
    built = Parameter(
        name=body.name,
        type=ptype,
        bounds=bounds,
        categorical_values=categories,
        transformation=transformation,
        grid=grid,
        default_value=body.default_value,
        precision=body.precision,
        conditions=conditions,
        prior=body.prior,  # checked above; stored and returned as sent
    )
    if built.default_value is not None:
        check_default(built, f"{where}.default_value")
    return built


def check_default(p: Parameter, where: str) -> None:
    """A `default_value` the parameter can take: one of its categories or grid values, a
    number within its bounds (positive for a log transformation), in the wording of
    sigopt-server's experiment update; we check it on create too, so none is ever stored."""
    if p.type is ParameterType.CATEGORICAL and p.default_value not in p.category_names():
        raise _bad_default(p, where, "must be a valid categorical value.")
    value = assignment_value(p, p.default_value, where)  # its type, log > 0
    if p.grid is not None:
        if value not in p.grid:
            raise _bad_default(p, where, "must be a valid grid value.")
        return
    if p.bounds is not None and not p.bounds.min <= float(value) <= p.bounds.max:
        raise _bad_default(p, where, f"must be between {p.bounds.min} and {p.bounds.max}")


def _bad_default(p: Parameter, where: str, detail: str) -> InvalidField:
    return InvalidField(
        f"`default_value` for parameter {p.name} is invalid - {detail}",
        field=where,
        code="invalid_value",
        reason=detail,
    )
