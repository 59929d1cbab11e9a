"""A parameter's `prior`, checked as sigopt-server's `zigopt/parameters/from_json.py` does:
only on a double parameter without a log transformation or a grid; `normal` with a `mean`
within the bounds and a positive `scale`, or `beta` with positive `shape_a` and `shape_b`.

The prior is stored and returned as sent; the engine draws the random and initial
suggestions from it (`sigopt_service/engine/space.py`).
"""

from __future__ import annotations

from typing import Any, Literal

from sigopt_service.models import Bounds
from sigopt_service.validation._common import (
    Body,
    InvalidField,
    finite,
    invalid_value,
    validate,
)

PRIOR_NAMES = ("normal", "beta")


class NormalPriorBody(Body):
    name: Literal["normal"]
    mean: float
    scale: float
    object: Literal["normal_prior"] | None = None  # as SigOpt answers it


class BetaPriorBody(Body):
    name: Literal["beta"]
    shape_a: float
    shape_b: float
    object: Literal["beta_prior"] | None = None


def check_prior(
    prior: dict[str, Any], *, name: str, bounds: Bounds | None, log: bool, grid: bool, where: str
) -> None:
    """Refuse a prior SigOpt refuses; `where` is the parameter's key path (`parameters[2]`).
    The caller has already refused a prior on a non-double parameter."""
    field = f"{where}.prior"
    if log:
        raise InvalidField(
            f"Currently, parameters with a log transformation cannot have priors: {name}",
            field=field,
            code="invalid_value",
        )
    if grid:
        raise InvalidField(
            f"`grid` provided for parameter {name} is invalid. Grid parameters cannot have priors.",
            field=field,
            code="invalid_value",
        )
    kind = prior.get("name")
    if "name" not in prior:
        raise InvalidField(
            f"Missing required json key `{field}.name`", field=f"{field}.name", code="missing_key"
        )
    if kind not in PRIOR_NAMES:
        raise InvalidField(
            f"Invalid prior type: {kind!r:.60} must be one of {list(PRIOR_NAMES)}.",
            field=f"{field}.name",
            code="invalid_value",
            reason=f"must be one of {list(PRIOR_NAMES)}",
        )
    if kind == "normal":
        normal = validate(NormalPriorBody, prior, field)
        mean = finite(normal.mean, f"{field}.mean")
        if bounds is not None and not bounds.min <= mean <= bounds.max:
            raise invalid_value(
                f"{field}.mean", "`mean` must be within the bounds of the parameter."
            )
        if not finite(normal.scale, f"{field}.scale") > 0:
            raise invalid_value(f"{field}.scale", "`scale` must be positive.")
        return
    beta = validate(BetaPriorBody, prior, field)
    for key, value in (("shape_a", beta.shape_a), ("shape_b", beta.shape_b)):
        if not finite(value, f"{field}.{key}") > 0:
            raise invalid_value(f"{field}.{key}", "shape parameters for beta must be positive.")
