"""Experiment validation: the body of `POST /experiments` and `PUT /experiments/{id}` in,
a `NewExperiment` or the store changes out.

Parameters (bounds, categories, grids, transformations) and metrics (strategies,
thresholds) are checked here; each breach raises `InvalidRequest` whose message names the
offending field, e.g.
"Invalid value for `parameters[0].bounds`: min (3.0) must be less than max (1.0)".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sigopt_service.errors import InvalidRequest
from sigopt_service.limits import (
    MAX_CATEGORY_NAME_LENGTH,
    MAX_CONSTRAINT_METRICS,
    MAX_INT_BOUND,
    MAX_OPTIMIZED_METRICS,
    MIN_BOUNDS_WIDTH,
)
from sigopt_service.models import (
    AssignmentValue,
    Bounds,
    CategoricalValue,
    Experiment,
    ExperimentType,
    Metric,
    MetricStrategy,
    Objective,
    Parameter,
    ParameterType,
)
from sigopt_service.request_models import (
    ExperimentCreateBody,
    ExperimentUpdateBody,
    MetricBody,
    ParameterBody,
    _validate,
)
from sigopt_service.store import NewExperiment
from sigopt_service.validation import _assignment_value, _finite, validate_metadata


def _parameter(body: ParameterBody, i: int) -> Parameter:
    where = f"parameters[{i}]"
    ptype = ParameterType(body.type)
    transformation = "log" if body.transformation == "log" else None
    bounds: Bounds | None = None
    categories: list[CategoricalValue] | None = None
    grid: list[AssignmentValue] | None = None
    if ptype is ParameterType.CATEGORICAL:
        if body.bounds is not None:
            raise InvalidRequest(f"Categorical parameter {body.name} cannot have `bounds`")
        if body.grid is not None:
            raise InvalidRequest(f"Categorical parameter {body.name} cannot have a `grid`")
        if transformation:
            raise InvalidRequest(f"Categorical parameter {body.name} cannot have a transformation")
        names = [c if isinstance(c, str) else c.name for c in body.categorical_values or []]
        if len(names) < 2:
            raise InvalidRequest(
                f"Categorical parameter {body.name} must have at least 2 `categorical_values`"
            )
        for name in names:
            if not name or len(name) > MAX_CATEGORY_NAME_LENGTH:
                raise InvalidRequest(
                    f"Invalid value for `{where}.categorical_values`: {name[:60]!r} must be "
                    f"1 to {MAX_CATEGORY_NAME_LENGTH} characters"
                )
        if len(set(names)) != len(names):
            raise InvalidRequest(f"Duplicate `categorical_values` in parameter {body.name}")
        categories = [
            CategoricalValue(name=n, enum_index=k + 1) for k, n in enumerate(sorted(names))
        ]
    else:
        if body.categorical_values is not None:
            raise InvalidRequest(
                f"Parameter {body.name} of type {body.type} cannot have `categorical_values`"
            )
        if transformation and ptype is not ParameterType.DOUBLE:
            raise InvalidRequest(
                f"Only double parameters can have a log transformation: {body.name}"
            )
        if body.grid is not None:
            grid = _grid(body, ptype, where, transformation)
        elif body.bounds is None:
            raise InvalidRequest(f"Parameter {body.name} must have `bounds`")
        else:
            lo = _finite(body.bounds.min, f"{where}.bounds.min")
            hi = _finite(body.bounds.max, f"{where}.bounds.max")
            if ptype is ParameterType.INT and max(abs(lo), abs(hi)) > MAX_INT_BOUND:
                raise InvalidRequest(
                    f"Invalid value for `{where}.bounds`: int bounds must lie within "
                    f"+-{MAX_INT_BOUND}"
                )
            if ptype is ParameterType.INT and (lo != int(lo) or hi != int(hi)):
                raise InvalidRequest(
                    f"Invalid value for `{where}.bounds`: int bounds must be integers"
                )
            if not math.isfinite(hi - lo):
                raise InvalidRequest(
                    f"Invalid value for `{where}.bounds`: the range max - min ({hi} - {lo}) "
                    "is too large to represent"
                )
            if hi - lo < MIN_BOUNDS_WIDTH:
                raise InvalidRequest(
                    f"Invalid value for `{where}.bounds`: min ({lo}) must be less than max ({hi})"
                )
            if transformation and lo <= 0:
                raise InvalidRequest(
                    f"Invalid value for `{where}.bounds`: log transformation needs min > 0, "
                    f"got {lo}"
                )
            bounds = Bounds(min=lo, max=hi)
    if body.prior is not None and ptype is not ParameterType.DOUBLE:
        raise InvalidRequest(f"Only double parameters can have a `prior`: {body.name}")
    conditions = {
        k: ([v] if isinstance(v, str) else list(v)) for k, v in (body.conditions or {}).items()
    }
    return Parameter(
        name=body.name,
        type=ptype,
        bounds=bounds,
        categorical_values=categories,
        transformation=transformation,
        grid=grid,
        default_value=body.default_value,
        precision=body.precision,
        conditions=conditions,
    )


def _grid(
    body: ParameterBody, ptype: ParameterType, where: str, transformation: str | None
) -> list[AssignmentValue]:
    values: list[AssignmentValue] = []
    for k, v in enumerate(body.grid or []):
        if isinstance(v, (str, bool)):
            raise InvalidRequest(f"Invalid value for `{where}.grid[{k}]`: must be a number")
        _finite(float(v), f"{where}.grid[{k}]")
        if ptype is ParameterType.INT and float(v) != int(v):
            raise InvalidRequest(f"Invalid value for `{where}.grid[{k}]`: must be an integer")
        if ptype is ParameterType.INT and abs(v) > MAX_INT_BOUND:
            raise InvalidRequest(
                f"Invalid value for `{where}.grid[{k}]`: int grid values must lie within "
                f"+-{MAX_INT_BOUND}"
            )
        if transformation and v <= 0:
            raise InvalidRequest(
                f"Invalid value for `{where}.grid[{k}]`: log grid values must be > 0"
            )
        values.append(int(v) if ptype is ParameterType.INT else float(v))
    if len(values) < 1:
        raise InvalidRequest(f"Invalid value for `{where}.grid`: must not be empty")
    if len(set(values)) != len(values):
        raise InvalidRequest(f"Duplicate values in `{where}.grid`")
    return sorted(values, key=float)


def _metrics(raw: list[str | MetricBody] | None, budget: int | None) -> list[Metric]:
    if not raw:
        return [Metric(name=None)]
    metrics: list[Metric] = []
    for i, item in enumerate(raw):
        body = MetricBody(name=item) if isinstance(item, str) else item
        if body.threshold is not None:
            _finite(body.threshold, f"metrics[{i}].threshold")
        metrics.append(
            Metric(
                name=body.name,
                objective=Objective(body.objective),
                strategy=MetricStrategy(body.strategy),
                threshold=body.threshold,
            )
        )
    names = [m.name for m in metrics]
    if len(metrics) > 1 and None in names:
        raise InvalidRequest("Every metric must have a `name` when there are several")
    if len(set(names)) != len(names):
        raise InvalidRequest(f"Duplicate metric names in `metrics`: {names}")
    optimized = [m for m in metrics if m.strategy is MetricStrategy.OPTIMIZE]
    constraints = [m for m in metrics if m.strategy is MetricStrategy.CONSTRAINT]
    if not optimized:
        raise InvalidRequest("`metrics` must have at least one metric with strategy `optimize`")
    if len(optimized) > MAX_OPTIMIZED_METRICS:
        raise InvalidRequest(
            f"`metrics` may have at most {MAX_OPTIMIZED_METRICS} optimized metrics"
        )
    if len(constraints) > MAX_CONSTRAINT_METRICS:
        raise InvalidRequest(
            f"`metrics` may have at most {MAX_CONSTRAINT_METRICS} constraint metrics"
        )
    for m in metrics:
        if m.strategy is MetricStrategy.CONSTRAINT and m.threshold is None:
            raise InvalidRequest(f"Constraint metric {m.name} must have a `threshold`")
        if m.strategy is MetricStrategy.STORE and m.threshold is not None:
            raise InvalidRequest(f"Stored metric {m.name} cannot have a `threshold`")
        if (
            m.strategy is MetricStrategy.OPTIMIZE
            and len(optimized) == 1
            and m.threshold is not None
        ):
            raise InvalidRequest(
                f"Metric {m.name} cannot have a `threshold` when it is the only optimized metric"
            )
    if budget is None and (len(optimized) > 1 or constraints):
        raise InvalidRequest(
            "`observation_budget` is required for experiments with several optimized metrics "
            "or constraint metrics"
        )
    return sorted(metrics, key=lambda m: m.name or "")


def validate_experiment_create(body: Mapping[str, Any]) -> NewExperiment:
    parsed = _validate(ExperimentCreateBody, body)
    if not parsed.parameters:
        raise InvalidRequest("Experiments must have at least one parameter.")
    if parsed.conditionals:
        raise InvalidRequest("`conditionals` are not supported by this service")
    if parsed.linear_constraints:
        raise InvalidRequest("`linear_constraints` are not supported by this service")
    if parsed.runs_only:
        raise InvalidRequest("`runs_only` experiments are not supported by this service")
    parameters = [_parameter(p, i) for i, p in enumerate(parsed.parameters)]
    names = [p.name for p in parameters]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise InvalidRequest(f"Duplicate parameter names: {', '.join(dupes)}")
    exp_type = ExperimentType(parsed.type)
    if exp_type is ExperimentType.GRID:
        if parsed.observation_budget is None:
            raise InvalidRequest("`observation_budget` is required for grid experiments")
        for i, p in enumerate(parameters):
            if p.type is not ParameterType.CATEGORICAL and p.grid is None:
                raise InvalidRequest(
                    f"Parameter {p.name} (`parameters[{i}]`) of a grid "
                    "experiment must have a `grid`"
                )
    for i, p in enumerate(parameters):
        if p.default_value is not None:
            _assignment_value(p, p.default_value, f"parameters[{i}].default_value")
    metrics = _metrics(parsed.metrics, parsed.observation_budget)
    return NewExperiment(
        name=parsed.name,
        type=exp_type,
        parameters=sorted(parameters, key=lambda p: p.name),
        metrics=metrics,
        observation_budget=parsed.observation_budget,
        parallel_bandwidth=parsed.parallel_bandwidth or 1,
        num_solutions=parsed.num_solutions or 1,
        metadata=validate_metadata(parsed.metadata),
        project=parsed.project,
    )


def validate_experiment_update(experiment: Experiment, body: Mapping[str, Any]) -> dict[str, Any]:
    """The store changes for `PUT /experiments/{id}`; keys absent from the body stay as they are."""
    parsed = _validate(ExperimentUpdateBody, body)
    changes: dict[str, Any] = {}
    for key in ("name", "observation_budget", "project"):
        if key in body and getattr(parsed, key) is not None:
            changes[key] = getattr(parsed, key)
    if "state" in body and parsed.state is not None:
        changes["state"] = parsed.state
    if "parallel_bandwidth" in body:  # null clears it (spec section 3)
        changes["parallel_bandwidth"] = parsed.parallel_bandwidth
    if "metadata" in body:
        changes["metadata"] = validate_metadata(parsed.metadata)
    if parsed.parameters is not None:
        changes["parameters"] = _update_parameters(experiment, parsed.parameters)
    if parsed.metrics is not None:
        changes["metrics"] = _update_metrics(experiment, parsed.metrics)
    return changes


def _update_parameters(experiment: Experiment, items: list[dict[str, Any]]) -> list[Parameter]:
    by_name = {p.name: p for p in experiment.parameters}
    updated = dict(by_name)
    for i, item in enumerate(items):
        name = item.get("name")
        if name not in by_name:
            raise InvalidRequest(
                f"Invalid value for `parameters[{i}].name`: unknown parameter {name!r}"
            )
        merged = by_name[name].model_dump(mode="json", exclude_none=True)
        merged.pop("object", None)
        merged.pop("categorical_values", None) if "categorical_values" in item else None
        merged.update({k: v for k, v in item.items() if v is not None})
        if merged.get("type") != by_name[name].type.value:
            raise InvalidRequest(f"Invalid value for `parameters[{i}].type`: cannot change a type")
        updated[name] = _parameter(_validate(ParameterBody, merged, f"parameters[{i}]"), i)
    return sorted(updated.values(), key=lambda p: p.name)


def _update_metrics(experiment: Experiment, items: list[dict[str, Any]]) -> list[Metric]:
    by_name = {m.name: m for m in experiment.metrics}
    for i, item in enumerate(items):
        name = item.get("name")
        if name not in by_name:
            raise InvalidRequest(f"Invalid value for `metrics[{i}].name`: unknown metric {name!r}")
        extra = set(item) - {"name", "threshold", "object"}
        if extra:
            raise InvalidRequest(f"Only the `threshold` of `metrics[{i}]` can be updated")
        threshold = item.get("threshold")
        if threshold is not None and (
            isinstance(threshold, bool) or not isinstance(threshold, int | float)
        ):
            raise InvalidRequest(f"Invalid value for `metrics[{i}].threshold`: must be a number")
        if threshold is not None:
            _finite(float(threshold), f"metrics[{i}].threshold")
        by_name[name] = by_name[name].model_copy(update={"threshold": threshold})
    return list(by_name.values())
