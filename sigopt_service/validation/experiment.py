"""Experiment validation: the body of `POST /experiments` and `PUT /experiments/{id}` in,
a `NewExperiment` or the store changes out.

Parameters are checked in `parameter.py`, conditionals and conditions in
`_conditionals.py`, linear constraints in `_constraints.py`; metrics (strategies,
thresholds) and the experiment-wide rules here. Each breach raises an `InvalidField`
naming the key, e.g. field `parameters[0].bounds`, message
"Invalid value for `parameters[0].bounds`: min (3.0) must be less than max (1.0)".
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from sigopt_service.limits import MAX_BUDGET, MAX_METRICS, MAX_NAME_LENGTH, MAX_PARAMETERS
from sigopt_service.models import Experiment, ExperimentType, Parameter, ParameterType
from sigopt_service.store import NewExperiment
from sigopt_service.validation._common import (
    Body,
    InvalidField,
    NameStr,
    guarded,
    invalid_value,
    validate,
)
from sigopt_service.validation._conditionals import (
    ConditionalBody,
    check_conditions,
    conditionals_for_create,
)
from sigopt_service.validation._constraints import (
    LinearConstraintBody,
    check_update,
    constraints_for_create,
)
from sigopt_service.validation._experiment_update import updated_parameters
from sigopt_service.validation._metrics import MetricBody, metrics_for_create, metrics_for_update
from sigopt_service.validation._solutions import num_solutions_for_create
from sigopt_service.validation._tasks import TaskBody, tasks_for_create
from sigopt_service.validation.metadata import MetadataBody, validate_metadata
from sigopt_service.validation.parameter import ParameterBody, parameter

__all__ = [
    "ExperimentCreateBody",
    "ExperimentUpdateBody",
    "MetricBody",
    "validate_experiment_create",
    "validate_experiment_update",
]

#: SigOpt's project ids (`handlers/validate/validate_dict.py`, `project/model.py`).
_PROJECT_ID = re.compile(r"[a-z0-9\-_.]+")
_PROJECT_ID_MAX = 32


class ExperimentCreateBody(Body):
    name: NameStr = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    parameters: list[ParameterBody] = Field(max_length=MAX_PARAMETERS)
    type: Literal["offline", "random", "grid"] = "offline"
    metrics: list[NameStr | MetricBody] | None = Field(default=None, max_length=MAX_METRICS)
    observation_budget: int | None = Field(default=None, ge=1, le=MAX_BUDGET)
    parallel_bandwidth: int | None = Field(default=None, ge=1, le=MAX_BUDGET)
    num_solutions: int | None = Field(default=None, ge=1, le=MAX_BUDGET)
    conditionals: list[ConditionalBody] | None = Field(default=None, max_length=MAX_PARAMETERS)
    linear_constraints: list[LinearConstraintBody] | None = None
    tasks: list[TaskBody] | None = None
    metadata: MetadataBody = None
    project: str | None = None
    runs_only: bool | None = None
    development: bool | None = None
    client: str | None = None


class ExperimentUpdateBody(Body):
    name: NameStr | None = Field(default=None, min_length=1, max_length=MAX_NAME_LENGTH)
    state: Literal["active", "deleted"] | None = None
    observation_budget: int | None = Field(default=None, ge=1, le=MAX_BUDGET)
    parallel_bandwidth: int | None = Field(default=None, ge=1, le=MAX_BUDGET)
    metadata: MetadataBody = None
    project: str | None = None
    no_optimize: bool | None = None
    parameters: list[dict[str, Any]] | None = None
    metrics: list[str | dict[str, Any]] | None = None
    #: Refused whatever their value, in sigopt-server's words (`_check_unsupported_updates`).
    conditionals: Any = None
    linear_constraints: Any = None
    num_solutions: Any = None
    tasks: Any = None


def _project(value: str | None) -> str | None:
    if value is not None and not (len(value) <= _PROJECT_ID_MAX and _PROJECT_ID.fullmatch(value)):
        raise invalid_value(
            "project",
            f"{value!r:.60} is not a project id: 1 to {_PROJECT_ID_MAX} characters "
            "of a-z, 0-9, '-', '_' and '.'",
        )
    return value


def _unsupported(parsed: ExperimentCreateBody) -> None:
    if not parsed.parameters:
        raise InvalidField(
            "Experiments must have at least one parameter.",
            field="parameters",
            code="invalid_value",
            reason="must list at least one parameter",
        )
    if parsed.runs_only:
        raise InvalidField(
            "`runs_only` experiments are not supported by this service",
            field="runs_only",
            code="invalid_value",
        )
    if parsed.client not in (None, "1"):
        # Every experiment here is the one implicit client's (`http/clients.py`), so
        # another would be dropped silently.
        raise invalid_value("client", f"{parsed.client!r:.40} is not this service's client, '1'")


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


def _grid_budget(parsed: ExperimentCreateBody, parameters: list[Parameter]) -> int:
    """A grid experiment's budget: the grid's size, as SigOpt computes it. SigOpt refuses
    any explicit `observation_budget` that differs; we accept an equal one, as it does."""
    for i, p in enumerate(parameters):
        if p.type is not ParameterType.CATEGORICAL and p.grid is None:
            raise InvalidField(
                f"`grid` provided for parameter {p.name} is invalid. Cannot be an empty list.",
                field=f"parameters[{i}].grid",
                code="missing_key",
            )
    size = math.prod(len(p.grid or p.categorical_values or []) for p in parameters)
    if size > MAX_BUDGET:
        raise invalid_value("parameters", f"the grid has {size} points, over {MAX_BUDGET}")
    budget = parsed.observation_budget
    if budget is not None and budget != size:
        raise InvalidField(
            f"The specified `observation_budget` of {budget}"
            f" does not match the computed budget of {size}",
            field="observation_budget",
            code="invalid_value",
        )
    return size


@guarded
def validate_experiment_create(body: Mapping[str, Any]) -> NewExperiment:
    parsed = validate(ExperimentCreateBody, body)
    _unsupported(parsed)
    conditionals = conditionals_for_create(parsed.conditionals)
    parameters = [parameter(p, i) for i, p in enumerate(parsed.parameters)]
    _check_names(parameters)
    check_conditions(parameters, conditionals, {p.name: i for i, p in enumerate(parameters)})
    exp_type = ExperimentType(parsed.type)
    if conditionals and exp_type is ExperimentType.GRID:
        raise InvalidField(
            "Grid search experiments do not support conditional parameters currently.",
            field="conditionals",
            code="invalid_value",
        )
    if conditionals and (parsed.num_solutions or 1) > 1:
        raise InvalidField(
            "Conditional experiments cannot be run with multisolution experiments",
            field="num_solutions",
            code="invalid_value",
        )
    linear_constraints = constraints_for_create(parsed.linear_constraints, parameters)
    budget = parsed.observation_budget
    if exp_type is ExperimentType.GRID:
        budget = _grid_budget(parsed, parameters)
    metrics = metrics_for_create(parsed.metrics, budget)
    num_solutions = num_solutions_for_create(parsed.num_solutions, budget=budget, metrics=metrics)
    # The raw items: `tasks_for_create` names each key it refuses (`tasks[1].cost`).
    tasks = tasks_for_create(
        body.get("tasks"), budget=budget, metrics=metrics, num_solutions=num_solutions
    )
    return NewExperiment(
        name=parsed.name,
        type=exp_type,
        parameters=sorted(parameters, key=lambda p: p.name),
        metrics=metrics,
        observation_budget=budget,
        parallel_bandwidth=parsed.parallel_bandwidth,
        num_solutions=num_solutions,
        conditionals=conditionals,
        linear_constraints=linear_constraints,
        tasks=tasks,
        metadata=validate_metadata(parsed.metadata),
        project=_project(parsed.project),
        development=bool(parsed.development),
    )


def _check_updated_space(
    experiment: Experiment, parameters: list[Parameter], sent: list[Any]
) -> None:
    """The new parameters against the experiment's conditionals and linear constraints,
    which an update cannot change (a new parameter's `conditions` included)."""
    positions = {str(item.get("name")): i for i, item in enumerate(sent) if isinstance(item, dict)}
    check_conditions(parameters, experiment.conditionals, positions)
    check_update(parameters, experiment.linear_constraints)


#: Keys an update refuses whatever their value, in sigopt-server's words.
_NOT_UPDATABLE = {
    "conditionals": "Conditionals cannot be updated for an experiment",
    "linear_constraints": "Constraints cannot be updated for an experiment",
    "num_solutions": "Number of solutions cannot be updated for an experiment",
    "tasks": "The tasks of a multitask experiment cannot be updated after creation",
}


@guarded
def validate_experiment_update(experiment: Experiment, body: Mapping[str, Any]) -> dict[str, Any]:
    """The store changes for `PUT /experiments/{id}`; keys absent from the body stay as they
    are. `parameters` and `metrics`, when present, are the whole lists (null is refused)."""
    parsed = validate(ExperimentUpdateBody, body)
    for key, refusal in _NOT_UPDATABLE.items():
        if key in body:
            raise InvalidField(refusal, field=key, code="invalid_request")
    changes: dict[str, Any] = {}
    for key in ("name", "observation_budget"):
        if key in body and getattr(parsed, key) is not None:
            changes[key] = getattr(parsed, key)
    if "project" in body:  # null takes it out of its project, as in SigOpt
        changes["project"] = _project(parsed.project)
    if "state" in body and parsed.state is not None:
        changes["state"] = parsed.state
    if "parallel_bandwidth" in body:  # null clears it (spec section 3)
        changes["parallel_bandwidth"] = parsed.parallel_bandwidth
    if "metadata" in body:
        changes["metadata"] = validate_metadata(parsed.metadata)
    if "parameters" in body:
        changes["parameters"] = updated_parameters(experiment, parsed.parameters)
        _check_updated_space(experiment, changes["parameters"], parsed.parameters or [])
    if "metrics" in body:
        if parsed.metrics is None:
            raise InvalidField("Metrics must be an array.", field="metrics", code="invalid_value")
        changes["metrics"] = metrics_for_update(experiment.metrics, parsed.metrics)
    return changes
