"""Observation validation: the bodies of `POST .../observations` (one, with our
`next_suggestion` extension), `POST .../observations/batch` and `PUT .../observations/{id}`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import Field

from sigopt_service.errors import InvalidRequest
from sigopt_service.limits import MAX_BATCH_OBSERVATIONS, MAX_METRICS
from sigopt_service.models import Experiment, Metadata, MetricEvaluation
from sigopt_service.store import NewObservation
from sigopt_service.validation._common import (
    Body,
    InvalidField,
    finite,
    invalid_value,
    join,
    parse_id,
    validate,
)
from sigopt_service.validation._tasks import observation_task, task_update
from sigopt_service.validation.assignments import validate_assignments
from sigopt_service.validation.metadata import MetadataBody, validate_metadata


class ValueBody(Body):
    name: str | None = None
    value: float
    value_stddev: float | None = Field(default=None, ge=0)
    object: Literal["metric_evaluation"] | None = None


class NextSuggestionBody(Body):
    """Our extension: the suggestion to create right after the observation is stored."""

    metadata: MetadataBody = None


class ObservationBody(Body):
    suggestion: int | str | None = None
    assignments: dict[str, int | float | str] | None = None
    values: list[ValueBody] | None = Field(default=None, max_length=MAX_METRICS)
    value: float | None = None
    value_stddev: float | None = Field(default=None, ge=0)
    failed: bool | None = None
    metadata: MetadataBody = None
    task: Any = None
    no_optimize: bool | None = None
    #: Our extension: create the next suggestion in the same request.
    next_suggestion: NextSuggestionBody | None = None


class ObservationUpdateBody(Body):
    suggestion: int | str | None = None
    assignments: dict[str, int | float | str] | None = None
    values: list[ValueBody] | None = None
    value: float | None = None
    value_stddev: float | None = Field(default=None, ge=0)
    failed: bool | None = None
    metadata: MetadataBody = None
    no_optimize: bool | None = None
    task: Any = None


def _values(
    experiment: Experiment,
    items: Sequence[ValueBody],
    where: str,
    previous: Sequence[MetricEvaluation] = (),
) -> list[MetricEvaluation]:
    """The values of `items`; on update, `previous` holds the stored ones: an item that
    leaves `value_stddev` out keeps its metric's stored one, an explicit null clears it
    (sigopt-server's observation/data.py)."""
    kept = {v.name: v.value_stddev for v in previous}
    metric_names = [m.name for m in experiment.metrics]
    if len(items) != len(metric_names):
        raise invalid_value(
            where,
            f"expected {len(metric_names)} value(s), one per metric "
            f"{[n for n in metric_names if n is not None] or '(the unnamed metric)'}, "
            f"got {len(items)}",
        )
    out: list[MetricEvaluation] = []
    seen: set[str | None] = set()
    for k, item in enumerate(items):
        name = item.name or None  # "" is an unnamed value, as sigopt-server reads it
        if name is None and len(metric_names) == 1:
            name = metric_names[0]
        if name not in metric_names:
            raise invalid_value(f"{where}[{k}].name", f"unknown metric {name!r}")
        if name in seen:
            raise InvalidField(
                f"Duplicate metric {name!r} in `{where}`",
                field=f"{where}[{k}].name",
                code="invalid_value",
            )
        seen.add(name)
        value = finite(item.value, f"{where}[{k}].value")
        if "value_stddev" not in item.model_fields_set:
            stddev = kept.get(name)
        elif item.value_stddev is None:
            stddev = None
        else:
            stddev = finite(item.value_stddev, f"{where}[{k}].value_stddev")
        out.append(MetricEvaluation(name=name, value=value, value_stddev=stddev))
    return sorted(out, key=lambda v: v.name or "")


def _values_of(
    experiment: Experiment,
    values: list[ValueBody] | None,
    value: float | None,
    stddev: float | None,
    prefix: str,
    previous: Sequence[MetricEvaluation] = (),
    *,
    stddev_sent: bool = False,
) -> list[MetricEvaluation] | None:
    """The metric values given as `value` (one metric) or `values`; `prefix` is where the
    observation sits in the body ("" at the top). `stddev_sent`: the body has the key
    `value_stddev` (so a null clears the stored one, as inside `values`)."""
    if value is not None:
        if values is not None:
            raise InvalidField(
                "Provide either `value` or `values`, not both",
                field=f"{prefix}value",
                code="invalid_request",
            )
        if len(experiment.metrics) != 1:
            raise InvalidField(
                "`value` is only valid for experiments with one metric; use `values`",
                field=f"{prefix}value",
                code="invalid_value",
            )
        one: dict[str, float | None] = {"value": value}
        if stddev is not None or stddev_sent:
            one["value_stddev"] = stddev
        values = [ValueBody.model_validate(one)]
    elif stddev is not None:
        raise InvalidField(
            "`value_stddev` needs a `value`", field=f"{prefix}value", code="missing_key"
        )
    return None if values is None else _values(experiment, values, f"{prefix}values", previous)


def validate_observation_create(
    experiment: Experiment, body: Mapping[str, Any], where: str = ""
) -> NewObservation:
    parsed = validate(ObservationBody, body, where.rstrip("."))
    return _new_observation(experiment, parsed, body, where)


def validate_observation_with_next(
    experiment: Experiment, body: Mapping[str, Any]
) -> tuple[NewObservation, Metadata | None]:
    """The observation of `POST .../observations` and the metadata of the suggestion it
    should create next (our extension, `next_suggestion`), both checked before anything
    is stored, from one parse of the body."""
    parsed = validate(ObservationBody, body, "")
    new = _new_observation(experiment, parsed, body, "")
    following = parsed.next_suggestion
    if following is None:
        return new, None
    return new, validate_metadata(following.metadata, "next_suggestion.metadata")


def _new_observation(
    experiment: Experiment, parsed: ObservationBody, body: Mapping[str, Any], where: str
) -> NewObservation:
    if (parsed.suggestion is None) == (parsed.assignments is None):
        neither = parsed.suggestion is None
        message = "Must provide exactly one of `suggestion`, `assignments`"
        if neither and experiment.tasks:
            message = "Either `suggestion` or `assignments`+`task` must be provided"
        raise InvalidField(
            f"{where}{message}",
            field=f"{where}{'suggestion' if neither else 'assignments'}",
            code="missing_key" if neither else "invalid_request",
        )
    task = observation_task(experiment, body, where)
    values = _values_of(experiment, parsed.values, parsed.value, parsed.value_stddev, where)
    if parsed.failed:
        if values:
            raise InvalidField(
                f"{where}Cannot provide `values` if observation has failed",
                field=f"{where}values",
                code="invalid_request",
            )
        values = []
    elif not values:
        raise InvalidField(
            f"{where}Missing required json key `value` (or `values`, or `failed: true`)",
            field=f"{where}value",
            code="missing_key",
        )
    return NewObservation(
        suggestion=None
        if parsed.suggestion is None
        else parse_id(parsed.suggestion, "suggestion", f"{where}suggestion"),
        assignments=None
        if parsed.assignments is None
        else validate_assignments(experiment, parsed.assignments),
        values=values,
        failed=bool(parsed.failed),
        metadata=validate_metadata(parsed.metadata, f"{where}metadata"),
        task=task,
    )


def validate_observation_batch(
    experiment: Experiment, body: Mapping[str, Any]
) -> list[NewObservation]:
    extra = set(body) - {"observations", "dry_run", "no_optimize"}
    if extra:
        key = sorted(extra)[0]
        raise InvalidField(
            f"Unknown json keys `{key}` in: the request body", field=key, code="unknown_key"
        )
    items = body.get("observations")
    if not isinstance(items, list):
        raise InvalidField(
            "`observations` must be a list of observations",
            field="observations",
            code="missing_key" if items is None else "invalid_value",
        )
    if len(items) > MAX_BATCH_OBSERVATIONS:
        raise InvalidField(
            f"At most {MAX_BATCH_OBSERVATIONS} `observations` per batch",
            field="observations",
            code="invalid_value",
        )
    out = []
    for i, item in enumerate(items):
        at, error_in = f"observations[{i}]", f"Error in observation {i + 1}/{len(items)}"
        if not isinstance(item, dict):
            raise InvalidField(f"{error_in}: must be an object", field=at, code="invalid_value")
        if item.get("next_suggestion") is not None:
            raise InvalidField(
                f"{error_in}: `next_suggestion` is not supported in a batch",
                field=f"{at}.next_suggestion",
                code="invalid_request",
            )
        try:
            out.append(validate_observation_create(experiment, item))
        except InvalidRequest as exc:
            reason = exc.reason if isinstance(exc, InvalidField) else exc.message
            raise InvalidField(
                f"{error_in}: {exc.message}",
                field=join(at, exc.field),
                code=exc.code,
                reason=reason,
            ) from exc
    return out


def validate_observation_update(
    experiment: Experiment,
    current_failed: bool,
    current_has_values: bool,
    body: Mapping[str, Any],
    previous: Sequence[MetricEvaluation] = (),
    *,
    has_suggestion: bool = False,
) -> dict[str, Any]:
    """The changes of `PUT .../observations/{id}`: a key left out keeps its value;
    `previous` are the stored values (their `value_stddev` is kept unless sent);
    `has_suggestion`: whether the observation references a suggestion now."""
    parsed = validate(ObservationUpdateBody, body)
    changes: dict[str, Any] = _reference_change(experiment, parsed, body, has_suggestion)
    changes.update(task_update(experiment, body, has_suggestion))
    if "values" in body or "value" in body:
        values = _values_of(
            experiment,
            parsed.values,
            parsed.value,
            parsed.value_stddev,
            "",
            previous,
            stddev_sent="value_stddev" in body,
        )
        changes["values"] = values or []
    if "failed" in body:
        # `failed: null` is "not failed", as sigopt-server stores it (coalesce to false).
        changes["failed"] = bool(parsed.failed)
    failed = changes.get("failed", current_failed)
    has_values = bool(changes["values"]) if "values" in changes else current_has_values
    if failed and has_values:
        raise InvalidField(
            "Observations with a value cannot have failed == true",
            field="failed",
            code="invalid_request",
        )
    if not failed and not has_values:
        raise InvalidField(
            "An observation that has not failed needs `values`", field="values", code="missing_key"
        )
    if "metadata" in body:
        changes["metadata"] = validate_metadata(parsed.metadata)
    return changes


def _refused(message: str, field: str) -> InvalidField:
    return InvalidField(message, field=field, code="invalid_request")


def _reference_change(
    experiment: Experiment, parsed: ObservationUpdateBody, body: Mapping[str, Any], linked: bool
) -> dict[str, Any]:
    """What an update's `suggestion` / `assignments` change, as sigopt-server's
    `observation/from_json.py` (`update_observation_data_assignments_task_from_json`)
    allows it: the observation keeps exactly one of the two. `{"suggestion": id}` moves
    it onto that suggestion (the store copies its assignments and checks it);
    `{"assignments": {...}}` replaces its assignments and drops its suggestion; `{}`
    changes neither (a null for the one it has not)."""
    sent_s, sent_a = "suggestion" in body, "assignments" in body
    s, a = parsed.suggestion, parsed.assignments
    if sent_s and sent_a:
        if s is None and a is None:
            raise _refused(
                "Cannot provide null for both `suggestion` and `assignments`", "suggestion"
            )
        if s is not None and a is not None:
            raise _refused(
                "Cannot set values for both `suggestion` and `assignments`", "assignments"
            )
    elif sent_s:
        if linked and s is None:
            raise _refused(
                "Cannot provide null for `suggestion` without providing `assignments`", "suggestion"
            )
        if not linked and s is not None:
            raise _refused(
                "Cannot provide `suggestion` without providing null for `assignments`", "suggestion"
            )
    elif sent_a:
        if not linked and a is None:
            raise _refused(
                "Cannot provide null for `assignments` without providing `suggestion`",
                "assignments",
            )
        if linked and a is not None:
            raise _refused(
                "Cannot provide `assignments` without providing null for `suggestion`",
                "assignments",
            )
    if s is not None:
        return {"suggestion": parse_id(s, "suggestion", "suggestion")}
    if a is not None:
        if not a:
            raise _refused("Cannot provide null or empty `assignments`", "assignments")
        return {"assignments": validate_assignments(experiment, a)}
    return {}
