"""Request validation: raw JSON from a client in, validated store inputs out, for
metadata, assignments, observations and suggestions.

Every rule of the spec's sections 2 and 4 that such a request can break lives here, and
each breach raises `InvalidRequest` whose message names the offending field or value.
Structure is checked by the strict pydantic models of `request_models.py` (unknown keys,
types); the cross-field rules SigOpt adds on top are checked by hand below, where pydantic
has no vocabulary. Experiments are validated in `validate_experiment.py`, query strings
in `query.py`, the JSON text itself in `json_body.py`; the limits are in `limits.py`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from sigopt_service.errors import InvalidRequest
from sigopt_service.limits import (
    MAX_BATCH_OBSERVATIONS,
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_KEYS,
    MAX_METADATA_STRING_LENGTH,
)
from sigopt_service.models import (
    Assignments,
    AssignmentValue,
    Experiment,
    Metadata,
    MetricEvaluation,
    Parameter,
    ParameterType,
)
from sigopt_service.query import parse_id
from sigopt_service.request_models import (
    ObservationBody,
    ObservationUpdateBody,
    SuggestionCreateBody,
    SuggestionUpdateBody,
    ValueBody,
    _validate,
)
from sigopt_service.store import NewObservation


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


def validate_observation_create(
    experiment: Experiment, body: Mapping[str, Any], where: str = ""
) -> NewObservation:
    return _new_observation(experiment, _validate(ObservationBody, body, where.rstrip(".")), where)


def validate_observation_with_next(
    experiment: Experiment, body: Mapping[str, Any]
) -> tuple[NewObservation, Metadata | None]:
    """The observation of `POST .../observations` and the metadata of the suggestion it
    should create next (our extension, `next_suggestion`), both checked before anything
    is stored, from one parse of the body."""
    parsed = _validate(ObservationBody, body, "")
    new = _new_observation(experiment, parsed, "")
    following = parsed.next_suggestion
    if following is None:
        return new, None
    return new, validate_metadata(following.metadata, "next_suggestion.metadata")


def _new_observation(experiment: Experiment, parsed: ObservationBody, where: str) -> NewObservation:
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
        if item.get("next_suggestion") is not None:
            raise InvalidRequest(
                f"Error in observation {i + 1}/{len(items)}: `next_suggestion` is not "
                "supported in a batch"
            )
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


def validate_suggestion_create(body: Mapping[str, Any]) -> SuggestionCreateBody:
    return _validate(SuggestionCreateBody, body)


def validate_suggestion_update(body: Mapping[str, Any]) -> Metadata | None:
    return validate_metadata(_validate(SuggestionUpdateBody, body).metadata)
