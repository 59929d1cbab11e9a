"""The strict pydantic models of request bodies, and their errors as `InvalidRequest`.

Structure is checked here (unknown keys, types, lengths); the cross-field rules SigOpt adds
on top live in `validation.py` and `validate_experiment.py`. `service/openapi.py` shows
these models as the request schemas.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema

from sigopt_service.errors import InvalidRequest
from sigopt_service.json_body import _loc
from sigopt_service.limits import (
    MAX_BUDGET,
    MAX_CATEGORIES,
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_KEYS,
    MAX_METADATA_STRING_LENGTH,
    MAX_METRICS,
    MAX_NAME_LENGTH,
    MAX_PARAMETERS,
)


def _raise_from_pydantic(exc: ValidationError, prefix: str = "") -> InvalidRequest:
    err = exc.errors()[0]
    loc = [p for p in err["loc"] if not (isinstance(p, str) and p in _UNION_TAGS)]
    where = _loc([*(prefix.split(".") if prefix else []), *loc])
    if err["type"] == "extra_forbidden":
        parent = _loc(loc[:-1])
        return InvalidRequest(f"Unknown json keys `{loc[-1]}` in: {parent or 'the request body'}")
    if err["type"] == "missing":
        return InvalidRequest(f"Missing required json key `{where}`")
    return InvalidRequest(f"Invalid value for `{where}`: {err['msg']} (got {err['input']!r:.80})")


# pydantic names the branch of a union in an error's location; the user never wrote it.
_UNION_TAGS = {
    "str",
    "int",
    "float",
    "ParameterBody",
    "MetricBody",
    "CategoricalBody",
    "function-after[_strip(), str]",
}

M = TypeVar("M", bound=BaseModel)


def _validate(model: type[M], data: Any, prefix: str = "") -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _raise_from_pydantic(exc, prefix) from exc


#: What `validate_metadata` accepts, as the OpenAPI document shows it (validation itself
#: is by hand, for SigOpt's messages).
METADATA_JSON_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {
            "type": "object",
            "maxProperties": MAX_METADATA_KEYS,
            "propertyNames": {"maxLength": MAX_METADATA_KEY_LENGTH, "pattern": "^[^\\x00]*$"},
            "additionalProperties": {
                "anyOf": [
                    {"type": "string", "maxLength": MAX_METADATA_STRING_LENGTH},
                    {"type": "number"},
                    {"type": "boolean"},
                    {"type": "null"},
                ]
            },
        },
        {"type": "null"},
    ]
}
MetadataBody = Annotated[dict[str, Any] | None, WithJsonSchema(METADATA_JSON_SCHEMA)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class BoundsBody(_Body):
    min: float
    max: float
    object: Literal["bounds"] | None = None


class CategoricalBody(_Body):
    name: str
    enum_index: int | None = None
    object: Literal["categorical_value"] | None = None


class ParameterBody(_Body):
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
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


class MetricBody(_Body):
    name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME_LENGTH)
    objective: Literal["maximize", "minimize"] = "maximize"
    strategy: Literal["optimize", "store", "constraint"] = "optimize"
    threshold: float | None = None
    object: Literal["metric"] | None = None


class ExperimentCreateBody(_Body):
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


class ExperimentUpdateBody(_Body):
    name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME_LENGTH)
    state: Literal["active", "deleted"] | None = None
    observation_budget: int | None = Field(default=None, ge=1, le=MAX_BUDGET)
    parallel_bandwidth: int | None = Field(default=None, ge=1, le=MAX_BUDGET)
    metadata: MetadataBody = None
    project: str | None = None
    no_optimize: bool | None = None
    parameters: list[dict[str, Any]] | None = None
    metrics: list[dict[str, Any]] | None = None


class ValueBody(_Body):
    name: str | None = None
    value: float
    value_stddev: float | None = Field(default=None, ge=0)
    object: Literal["metric_evaluation"] | None = None


class NextSuggestionBody(_Body):
    """Our extension: the suggestion to create right after the observation is stored."""

    metadata: MetadataBody = None


class ObservationBody(_Body):
    suggestion: int | str | None = None
    assignments: dict[str, int | float | str] | None = None
    values: list[ValueBody] | None = Field(default=None, max_length=MAX_METRICS)
    value: float | None = None
    value_stddev: float | None = Field(default=None, ge=0)
    failed: bool | None = None
    metadata: MetadataBody = None
    task: Any = None
    no_optimize: bool | None = None
    #: Our extension (see `handlers_observations.create_observation`).
    next_suggestion: NextSuggestionBody | None = None


class ObservationUpdateBody(_Body):
    values: list[ValueBody] | None = None
    value: float | None = None
    value_stddev: float | None = Field(default=None, ge=0)
    failed: bool | None = None
    metadata: MetadataBody = None
    no_optimize: bool | None = None


class SuggestionCreateBody(_Body):
    assignments: dict[str, int | float | str] | None = None
    metadata: MetadataBody = None
    task: Any = None


class SuggestionUpdateBody(_Body):
    metadata: MetadataBody = None
