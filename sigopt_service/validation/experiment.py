"""Experiment validation: the body of `POST /experiments` and `PUT /experiments/{id}` in,
a `NewExperiment` or the store changes out.

Parameters are checked in `parameter.py`; metrics (strategies, thresholds) and the
experiment-wide rules here. Each breach raises an `InvalidField` naming the key, e.g.
field `parameters[0].bounds`, message
"Invalid value for `parameters[0].bounds`: min (3.0) must be less than max (1.0)".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from sigopt_service.limits import (
    MAX_BUDGET,
    MAX_CONSTRAINT_METRICS,
    MAX_METRICS,
    MAX_NAME_LENGTH,
    MAX_OPTIMIZED_METRICS,
    MAX_PARAMETERS,
)
from sigopt_service.models import (
    Experiment,
    ExperimentType,
    Metric,
    MetricStrategy,
    Objective,
    Parameter,
    ParameterType,
)
from sigopt_service.store import NewExperiment
from sigopt_service.validation._common import Body, InvalidField, finite, invalid_value, validate
from sigopt_service.validation.assignments import assignment_value
from sigopt_service.validation.metadata import MetadataBody, validate_metadata
from sigopt_service.validation.parameter import ParameterBody, parameter


class MetricBody(Body):
    name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME_LENGTH)
    objective: Literal["maximize", "minimize"] = "maximize"
    strategy: Literal["optimize", "store", "constraint"] = "optimize"
    threshold: float | None = None
    object: Literal["metric"] | None = None


class ExperimentCreateBody(Body):
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    parameters: list[ParameterBody] = Field(max_length=MAX_PARAMETERS)
    type: Literal["offline", "random", "grid"] = "offline"
    metrics: list[str | MetricBody] | None = Field(default=None, max_length=MAX_METRICS)
    observation_budget: int | None = Field(default=None, ge=1, le=MAX_BUDGET)
    parallel_bandwidth: int | None = Field(default=None, ge=1, le=MAX_BUDGET)
    num_solutions: int | None = Field(default=None, ge=1, le=1)
    conditionals: list[dict[str, Any]] | None = None
    linear_constraints: list[dict[str, Any]] | None = None
    metadata: MetadataBody = None
    project: str | None = None
    runs_only: bool | None = None
    development: bool | None = None
    client: str | None = None


class ExperimentUpdateBody(Body):
    name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME_LENGTH)
    state: Literal["active", "deleted"] | None = None
    observation_budget: int | None = Field(default=None, ge=1, le=MAX_BUDGET)
    parallel_bandwidth: int | None = Field(default=None, ge=1, le=MAX_BUDGET)
    metadata: MetadataBody = None
    project: str | None = None
    no_optimize: bool | None = None
    parameters: list[dict[str, Any]] | None = None
    metrics: list[dict[str, Any]] | None = None


def _about_metrics(message: str) -> InvalidField:
    """A rule about the metrics as a whole (counts, names), not one metric's key."""
    return InvalidField(message, field="metrics", code="invalid_value")


def _metric_rules(metrics: list[Metric], budget: int | None) -> None:
    names = [m.name for m in metrics]
    if len(metrics) > 1 and None in names:
        raise _about_metrics("Every metric must have a `name` when there are several")
    if len(set(names)) != len(names):
        raise _about_metrics(f"Duplicate metric names in `metrics`: {names}")
    optimized = [m for m in metrics if m.strategy is MetricStrategy.OPTIMIZE]
    constraints = [m for m in metrics if m.strategy is MetricStrategy.CONSTRAINT]
    if not optimized:
        raise _about_metrics("`metrics` must have at least one metric with strategy `optimize`")
    if len(optimized) > MAX_OPTIMIZED_METRICS:
        raise _about_metrics(
            f"`metrics` may have at most {MAX_OPTIMIZED_METRICS} optimized metrics"
        )
    if len(constraints) > MAX_CONSTRAINT_METRICS:
        raise _about_metrics(
            f"`metrics` may have at most {MAX_CONSTRAINT_METRICS} constraint metrics"
        )
    for i, m in enumerate(metrics):
        threshold = f"metrics[{i}].threshold"
        if m.strategy is MetricStrategy.CONSTRAINT and m.threshold is None:
            raise InvalidField(
                f"Constraint metric {m.name} must have a `threshold`",
                field=threshold,
                code="missing_key",
            )
        if m.strategy is MetricStrategy.STORE and m.threshold is not None:
            raise InvalidField(
                f"Stored metric {m.name} cannot have a `threshold`",
                field=threshold,
                code="invalid_value",
            )
        if (
            m.strategy is MetricStrategy.OPTIMIZE
            and len(optimized) == 1
            and m.threshold is not None
        ):
            raise InvalidField(
                f"Metric {m.name} cannot have a `threshold` when it is the only optimized metric",
                field=threshold,
                code="invalid_value",
            )
    if budget is None and (len(optimized) > 1 or constraints):
        raise InvalidField(
            "`observation_budget` is required for experiments with several optimized metrics "
            "or constraint metrics",
            field="observation_budget",
            code="missing_key",
        )


def _metrics(raw: list[str | MetricBody] | None, budget: int | None) -> list[Metric]:
    if not raw:
        return [Metric(name=None)]
    metrics: list[Metric] = []
    for i, item in enumerate(raw):
        body = MetricBody(name=item) if isinstance(item, str) else item
        if body.threshold is not None:
            finite(body.threshold, f"metrics[{i}].threshold")
        metrics.append(
            Metric(
                name=body.name,
                objective=Objective(body.objective),
                strategy=MetricStrategy(body.strategy),
                threshold=body.threshold,
            )
        )
    _metric_rules(metrics, budget)  # in request order, so indices name the request's keys
    return sorted(metrics, key=lambda m: m.name or "")


def _unsupported(parsed: ExperimentCreateBody) -> None:
    if not parsed.parameters:
        raise InvalidField(
            "Experiments must have at least one parameter.",
            field="parameters",
            code="invalid_value",
            reason="must list at least one parameter",
        )
    for key in ("conditionals", "linear_constraints"):
        if getattr(parsed, key):
            raise InvalidField(
                f"`{key}` are not supported by this service", field=key, code="invalid_value"
            )
    if parsed.runs_only:
        raise InvalidField(
            "`runs_only` experiments are not supported by this service",
            field="runs_only",
            code="invalid_value",
        )


def _check_names(parameters: list[Parameter]) -> None:
    names = [p.name for p in parameters]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        second = [i for i, n in enumerate(names) if n == dupes[0]][1]
        raise InvalidField(
            f"Duplicate parameter names: {', '.join(dupes)}",
            field=f"parameters[{second}].name",
            code="invalid_value",
            reason=f"duplicate parameter name {dupes[0]!r}",
        )


def _check_grid(parsed: ExperimentCreateBody, parameters: list[Parameter]) -> None:
    if parsed.observation_budget is None:
        raise InvalidField(
            "`observation_budget` is required for grid experiments",
            field="observation_budget",
            code="missing_key",
        )
    for i, p in enumerate(parameters):
        if p.type is not ParameterType.CATEGORICAL and p.grid is None:
            raise InvalidField(
                f"Parameter {p.name} (`parameters[{i}]`) of a grid experiment must have a `grid`",
                field=f"parameters[{i}].grid",
                code="missing_key",
            )


def validate_experiment_create(body: Mapping[str, Any]) -> NewExperiment:
    parsed = validate(ExperimentCreateBody, body)
    _unsupported(parsed)
    parameters = [parameter(p, i) for i, p in enumerate(parsed.parameters)]
    _check_names(parameters)
    exp_type = ExperimentType(parsed.type)
    if exp_type is ExperimentType.GRID:
        _check_grid(parsed, parameters)
    for i, p in enumerate(parameters):
        if p.default_value is not None:
            assignment_value(p, p.default_value, f"parameters[{i}].default_value")
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
    parsed = validate(ExperimentUpdateBody, body)
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
            raise invalid_value(f"parameters[{i}].name", f"unknown parameter {name!r}")
        merged = by_name[name].model_dump(mode="json", exclude_none=True)
        merged.pop("object", None)
        merged.pop("categorical_values", None) if "categorical_values" in item else None
        merged.update({k: v for k, v in item.items() if v is not None})
        if merged.get("type") != by_name[name].type.value:
            raise invalid_value(f"parameters[{i}].type", "cannot change a type")
        updated[name] = parameter(validate(ParameterBody, merged, f"parameters[{i}]"), i)
    return sorted(updated.values(), key=lambda p: p.name)


def _update_metrics(experiment: Experiment, items: list[dict[str, Any]]) -> list[Metric]:
    by_name = {m.name: m for m in experiment.metrics}
    for i, item in enumerate(items):
        name = item.get("name")
        if name not in by_name:
            raise invalid_value(f"metrics[{i}].name", f"unknown metric {name!r}")
        extra = set(item) - {"name", "threshold", "object"}
        if extra:
            raise InvalidField(
                f"Only the `threshold` of `metrics[{i}]` can be updated",
                field=f"metrics[{i}].{sorted(extra)[0]}",
                code="invalid_value",
            )
        threshold = item.get("threshold")
        if threshold is not None and (
            isinstance(threshold, bool) or not isinstance(threshold, int | float)
        ):
            raise invalid_value(f"metrics[{i}].threshold", "must be a number")
        if threshold is not None:
            finite(float(threshold), f"metrics[{i}].threshold")
        by_name[name] = by_name[name].model_copy(update={"threshold": threshold})
    return list(by_name.values())
