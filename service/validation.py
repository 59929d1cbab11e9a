"""Request validation: raw JSON from a client in, validated store inputs out.

Every rule of the spec's sections 2 and 4 that a request can break lives here, and each
breach raises `InvalidRequest` whose message names the offending field or value, e.g.
"Invalid value for `parameters[0].bounds`: min (3.0) must be less than max (1.0)".
Structure is checked by strict pydantic models (unknown keys, types); the cross-field
rules SigOpt adds on top are checked by hand below, where pydantic has no vocabulary.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema

from service.errors import InvalidRequest, UnsupportedMediaType
from service.models import (
    Assignments,
    AssignmentValue,
    Bounds,
    CategoricalValue,
    Experiment,
    ExperimentType,
    Metadata,
    Metric,
    MetricEvaluation,
    MetricStrategy,
    Objective,
    Parameter,
    ParameterType,
)
from service.store import NewExperiment, NewObservation

MAX_PARAMETERS = 100
MAX_CATEGORIES = 1000
MAX_METRICS = 50
MAX_OPTIMIZED_METRICS = 2
MAX_CONSTRAINT_METRICS = 4
MAX_BATCH_OBSERVATIONS = 2500
MAX_PAGE_LIMIT = 1000
MAX_NAME_LENGTH = 100
MAX_CATEGORY_NAME_LENGTH = 50
MAX_METADATA_KEYS = 100
MAX_METADATA_KEY_LENGTH = 100
MAX_METADATA_STRING_LENGTH = 500
MIN_BOUNDS_WIDTH = 1e-8
#: Ids are SQLite integers; anything larger cannot name a row.
MAX_ID = 2**63 - 1
#: Int parameters stay within what a JSON double carries exactly.
MAX_INT_BOUND = 2**53
MAX_BUDGET = 10**9


# ---------------------------------------------------------------------------- JSON body
#: No valid body nests deeper than 4 levels (a batch's observation's values); anything far
#: deeper is an attack on the parser or on whatever walks the result recursively.
MAX_JSON_DEPTH = 32
#: The largest JSON integer kept as an int (SQLite's INTEGER); see `_parse_int`.
MAX_JSON_INT = 2**63 - 1
#: Content types read as JSON: SigOpt's (JSON, form-encoded, none, which aiohttp reports as
#: octet-stream) plus text/plain, which aiohttp's client sends for a string body.
JSON_CONTENT_TYPES = frozenset(
    {
        "application/json",
        "application/x-www-form-urlencoded",
        "application/octet-stream",
        "text/plain",
    }
)
JSON_CHARSETS = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})


def _reject_constant(name: str) -> Any:
    raise InvalidRequest(f"Invalid json in request body: {name} is not a valid number")


def _parse_int(text: str) -> int | float:
    """Integers past 2^63 become floats (infinite past ~1e308): an int field then refuses
    them by name, a number field's finiteness check names them, and no later `float()` or
    database write overflows (a 500). Also sidesteps Python's 4300-digit limit on int()."""
    digits = len(text.lstrip("-"))
    if digits < 19 or (digits == 19 and abs(int(text)) <= MAX_JSON_INT):
        return int(text)
    return float(text)


def check_content_type(content_type: str, charset: str | None) -> None:
    """Refuse a body that announces itself as something other than JSON (415)."""
    if content_type not in JSON_CONTENT_TYPES and not content_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"Unsupported Content-Type {content_type[:80]!r}: send the body as JSON "
            "(application/json)"
        )
    if charset is not None and charset.lower() not in JSON_CHARSETS:
        raise UnsupportedMediaType(
            f"Unsupported charset {charset[:40]!r} in Content-Type: send the body as UTF-8"
        )


_Chain = tuple[Any, int | str] | None  # (parent chain, key): a path built only on error


def _where(chain: _Chain) -> str:
    parts: list[int | str] = []
    while chain is not None:
        chain, key = chain
        parts.append(key)
    return _loc(parts[::-1])[:120] or "the request body"


def _check_structure(body: dict[str, Any], *, may_hold_nul: bool) -> None:
    """Refuse nesting deeper than MAX_JSON_DEPTH and (when the text has a `\\u0000` escape)
    strings with NUL characters, naming where. Iterative: a recursive walk would itself be
    the stack overflow it guards against. Containers whose items are all scalars are
    skipped at C speed (`set(map(type, ...))`), so a 4 MiB array costs milliseconds."""
    stack: list[tuple[dict[str, Any] | list[Any], _Chain, int]] = [(body, None, 0)]
    while stack:
        node, chain, depth = stack.pop()
        if depth >= MAX_JSON_DEPTH:
            raise InvalidRequest(
                f"Malformed json in request body: nested deeper than {MAX_JSON_DEPTH} "
                f"levels (at `{_where(chain)}`)"
            )
        values = node.values() if isinstance(node, dict) else node
        kinds = set(map(type, values))
        if not (kinds & _CONTAINERS or (may_hold_nul and (str in kinds or isinstance(node, dict)))):
            continue
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            if may_hold_nul and isinstance(key, str) and "\x00" in key:
                raise InvalidRequest(
                    f"Invalid key in `{_where(chain)}`: NUL characters (\\u0000) are not "
                    "allowed in strings"
                )
            if isinstance(value, dict | list):
                stack.append((value, (chain, key), depth + 1))
            elif may_hold_nul and isinstance(value, str) and "\x00" in value:
                raise InvalidRequest(
                    f"Invalid value for `{_where((chain, key))}`: NUL characters (\\u0000) "
                    "are not allowed in strings"
                )


_CONTAINERS = frozenset({dict, list})


def parse_json_body(raw: bytes) -> dict[str, Any]:
    """Parse a request body: empty means `{}`. Invalid UTF-8, NaN and infinity literals,
    nesting past MAX_JSON_DEPTH, NUL characters and non-objects are rejected (400)."""
    if not raw.strip():
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            f"Request body is not valid UTF-8: byte 0x{raw[exc.start]:02x} at position {exc.start}"
        ) from None
    try:
        body = json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"Malformed json in request body: {exc}"[:200]) from None
    except RecursionError:
        raise InvalidRequest(
            f"Malformed json in request body: nested deeper than {MAX_JSON_DEPTH} levels"
        ) from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise InvalidRequest(f"Malformed json in request body: {exc}"[:200]) from None
    if not isinstance(body, dict):
        raise InvalidRequest("Request body must be a JSON object")
    # A NUL can only come from a \\u0000 escape: a raw one is invalid JSON already.
    _check_structure(body, may_hold_nul="\\u0000" in text)
    return body


# ---------------------------------------------------------------------------- helpers
def _loc(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


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


def _finite(value: float, where: str) -> float:
    if not math.isfinite(value):
        raise InvalidRequest(f"Invalid value for `{where}`: {value!r} is not a finite number")
    return value


# ---------------------------------------------------------------------------- metadata
def validate_metadata(raw: Mapping[str, Any] | None, where: str = "metadata") -> Metadata | None:
    """SigOpt's limits: 100 keys of <= 100 chars, strings <= 500 chars; nulls are dropped."""
    if raw is None:
        return None
    if len(raw) > MAX_METADATA_KEYS:
        raise InvalidRequest(f"`{where}` has {len(raw)} keys; at most {MAX_METADATA_KEYS}")
    out: Metadata = {}
    for key, value in raw.items():
        if len(key) > MAX_METADATA_KEY_LENGTH:
            raise InvalidRequest(
                f"`{where}` key {key[:40]!r}... is longer than {MAX_METADATA_KEY_LENGTH} characters"
            )
        if value is None:
            continue
        if isinstance(value, str):
            if len(value) > MAX_METADATA_STRING_LENGTH:
                raise InvalidRequest(
                    f"`{where}.{key}` is longer than {MAX_METADATA_STRING_LENGTH} characters"
                )
        elif isinstance(value, bool | int | float):
            if isinstance(value, float):
                _finite(value, f"{where}.{key}")
        else:
            raise InvalidRequest(
                f"Invalid value for `{where}.{key}`: metadata values must be strings, numbers "
                f"or null, got {type(value).__name__}"
            )
        out[key] = value
    return out


# ---------------------------------------------------------------------------- experiments
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


# ---------------------------------------------------------------------------- assignments
def _assignment_value(p: Parameter, value: Any, where: str) -> AssignmentValue:
    if p.type is ParameterType.CATEGORICAL:
        if not isinstance(value, str) or value not in p.category_names():
            raise InvalidRequest(
                f"Invalid value for `{where}`: {value!r:.60} is not one of the categorical "
                f"values of {p.name}: {p.category_names()}"
            )
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(
            f"Invalid value for `{where}`: {p.name} must be a number, got {value!r:.60}"
        )
    _finite(float(value), where)  # no OverflowError: parse_json_body keeps ints < 2^63
    if p.type is ParameterType.INT:
        if float(value) != int(value):
            raise InvalidRequest(f"Invalid value for `{where}`: {p.name} must be an integer")
        value = int(value)
    else:
        value = float(value)
    if p.grid is not None and value not in p.grid:
        raise InvalidRequest(f"Invalid value for `{where}`: {value} is not in the grid of {p.name}")
    if p.transformation == "log" and value <= 0:
        raise InvalidRequest(f"Invalid value for `{where}`: log-transformed {p.name} must be > 0")
    number: int | float = value
    return number


def validate_assignments(experiment: Experiment, raw: Mapping[str, Any]) -> Assignments:
    """Every parameter present, none unknown, each of its type; bounds are not checked (spec)."""
    known = {p.name for p in experiment.parameters}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InvalidRequest(f"Unknown parameter in `assignments`: {unknown[0]!r}")
    out: Assignments = {}
    for p in experiment.parameters:
        if p.name not in raw:
            raise InvalidRequest(f'Missing assignment for parameter: "{p.name}"')
        out[p.name] = _assignment_value(p, raw[p.name], f"assignments.{p.name}")
    return out


# ---------------------------------------------------------------------------- observations
def _values(
    experiment: Experiment, items: Sequence[ValueBody], where: str
) -> list[MetricEvaluation]:
    metric_names = [m.name for m in experiment.metrics]
    if len(items) != len(metric_names):
        raise InvalidRequest(
            f"Invalid value for `{where}`: expected {len(metric_names)} value(s), one per metric "
            f"{[n for n in metric_names if n is not None] or '(the unnamed metric)'}, "
            f"got {len(items)}"
        )
    out: list[MetricEvaluation] = []
    seen: set[str | None] = set()
    for k, item in enumerate(items):
        name = item.name
        if name is None and len(metric_names) == 1:
            name = metric_names[0]
        if name not in metric_names:
            raise InvalidRequest(f"Invalid value for `{where}[{k}].name`: unknown metric {name!r}")
        if name in seen:
            raise InvalidRequest(f"Duplicate metric {name!r} in `{where}`")
        seen.add(name)
        value = _finite(item.value, f"{where}[{k}].value")
        stddev = (
            None
            if item.value_stddev is None
            else _finite(item.value_stddev, f"{where}[{k}].value_stddev")
        )
        out.append(MetricEvaluation(name=name, value=value, value_stddev=stddev))
    return sorted(out, key=lambda v: v.name or "")


def _values_of(
    experiment: Experiment,
    values: list[ValueBody] | None,
    value: float | None,
    stddev: float | None,
    where: str,
) -> list[MetricEvaluation] | None:
    if value is not None:
        if values is not None:
            raise InvalidRequest("Provide either `value` or `values`, not both")
        if len(experiment.metrics) != 1:
            raise InvalidRequest(
                "`value` is only valid for experiments with one metric; use `values`"
            )
        values = [ValueBody(value=value, value_stddev=stddev)]
    elif stddev is not None:
        raise InvalidRequest("`value_stddev` needs a `value`")
    return None if values is None else _values(experiment, values, where)


#: What `int()` would accept beyond plain ASCII digits ("1_000", " 7", "٣") is refused.
_INTEGER = re.compile(r"-?[0-9]{1,30}")


def parse_id(raw: int | str, what: str) -> int:
    if isinstance(raw, str) and not _INTEGER.fullmatch(raw):
        raise InvalidRequest(f"Invalid {what} id: {raw!r:.60}")
    try:
        parsed = int(raw)
    except (TypeError, ValueError):
        raise InvalidRequest(f"Invalid {what} id: {raw!r:.60}") from None
    if isinstance(raw, bool) or not 0 < parsed <= MAX_ID:
        raise InvalidRequest(f"Invalid {what} id: {raw!r:.60}")
    return parsed


def validate_observation_create(
    experiment: Experiment, body: Mapping[str, Any], where: str = ""
) -> NewObservation:
    parsed = _validate(ObservationBody, body, where.rstrip("."))
    if (parsed.suggestion is None) == (parsed.assignments is None):
        raise InvalidRequest(f"{where}Must provide exactly one of `suggestion`, `assignments`")
    values = _values_of(
        experiment, parsed.values, parsed.value, parsed.value_stddev, f"{where}values"
    )
    if parsed.failed:
        if values:
            raise InvalidRequest(f"{where}Cannot provide `values` if observation has failed")
        values = []
    elif not values:
        raise InvalidRequest(
            f"{where}Missing required json key `value` (or `values`, or `failed: true`)"
        )
    return NewObservation(
        suggestion=None if parsed.suggestion is None else parse_id(parsed.suggestion, "suggestion"),
        assignments=None
        if parsed.assignments is None
        else validate_assignments(experiment, parsed.assignments),
        values=values,
        failed=bool(parsed.failed),
        metadata=validate_metadata(parsed.metadata, f"{where}metadata"),
    )


def validate_observation_batch(
    experiment: Experiment, body: Mapping[str, Any]
) -> list[NewObservation]:
    extra = set(body) - {"observations", "dry_run", "no_optimize"}
    if extra:
        raise InvalidRequest(f"Unknown json keys `{sorted(extra)[0]}` in: the request body")
    items = body.get("observations")
    if not isinstance(items, list):
        raise InvalidRequest("`observations` must be a list of observations")
    if len(items) > MAX_BATCH_OBSERVATIONS:
        raise InvalidRequest(f"At most {MAX_BATCH_OBSERVATIONS} `observations` per batch")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidRequest(f"Error in observation {i + 1}/{len(items)}: must be an object")
        try:
            out.append(validate_observation_create(experiment, item))
        except InvalidRequest as exc:
            raise InvalidRequest(
                f"Error in observation {i + 1}/{len(items)}: {exc.message}"
            ) from exc
    return out


def validate_observation_update(
    experiment: Experiment, current_failed: bool, current_has_values: bool, body: Mapping[str, Any]
) -> dict[str, Any]:
    parsed = _validate(ObservationUpdateBody, body)
    changes: dict[str, Any] = {}
    if "values" in body or "value" in body:
        values = _values_of(experiment, parsed.values, parsed.value, parsed.value_stddev, "values")
        changes["values"] = values or []
    if "failed" in body and parsed.failed is not None:
        changes["failed"] = parsed.failed
    failed = changes.get("failed", current_failed)
    has_values = bool(changes["values"]) if "values" in changes else current_has_values
    if failed and has_values:
        raise InvalidRequest("Observations with a value cannot have failed == true")
    if not failed and not has_values:
        raise InvalidRequest("An observation that has not failed needs `values`")
    if "metadata" in body:
        changes["metadata"] = validate_metadata(parsed.metadata)
    return changes


def validate_suggestion_create(
    experiment: Experiment, body: Mapping[str, Any]
) -> SuggestionCreateBody:
    return _validate(SuggestionCreateBody, body)


def validate_suggestion_update(body: Mapping[str, Any]) -> Metadata | None:
    return validate_metadata(_validate(SuggestionUpdateBody, body).metadata)


# ---------------------------------------------------------------------------- query strings
def parse_bool(raw: str | None, name: str, default: bool = False) -> bool:
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in ("1", "true"):
        return True
    if lowered in ("0", "false"):
        return False
    raise InvalidRequest(f"Invalid value for `{name}`: {raw!r:.60} is not a boolean")


def parse_limit(raw: str | None, default: int = 100) -> int:
    if raw is None:
        return default
    if not _INTEGER.fullmatch(raw):
        raise InvalidRequest(f"Invalid value for `limit`: {raw!r:.60} is not an integer")
    limit = int(raw)
    if limit < 0:
        raise InvalidRequest(f"Invalid value for `limit`: {limit} must be at least 0")
    if limit > MAX_PAGE_LIMIT:
        raise InvalidRequest(f"Exceeded maximum limit: {MAX_PAGE_LIMIT}")
    return limit


def encode_marker(item_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{item_id}".encode()).decode().rstrip("=")


def decode_marker(raw: str, name: str) -> int:
    """Markers are opaque to clients; ours are URL-safe base64 of the last id, unpadded."""
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        if not text.startswith("id:") or not _INTEGER.fullmatch(text[3:]):
            raise ValueError(raw)
        if not 0 <= int(text[3:]) <= MAX_ID:
            raise ValueError(raw)
        return int(text[3:])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequest(
            f"Invalid value for `{name}`: {raw!r:.60} is not a paging marker"
        ) from None


def parse_id_list(raw: str | None, name: str) -> list[int] | None:
    if raw is None:
        return None
    ids = []
    for part in raw.split(","):
        if not part.strip():
            continue
        try:
            ids.append(parse_id(part.strip(), name))
        except InvalidRequest:
            raise InvalidRequest(
                f"Invalid value for `{name}`: {part!r:.60} is not an id (a comma-separated "
                "list of ids)"
            ) from None
    return ids
