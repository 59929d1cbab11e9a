"""Training run bodies (`POST .../training_runs`, `PUT` and `MERGE /training_runs/{id}`) and
checkpoint bodies, as sigopt-server's `training_runs/parser.py` reads them.

A run body's document fields (`run_models.RUN_DOCUMENT_FIELDS`) are checked here and kept
as sent; `merged_document` then applies them to the stored document: PUT replaces each
field it names, MERGE merges objects key by key (the client's `log_metric` sends one
metric, `log_metadata` one key); in both, a null removes what it names, as sigopt-server's
`jsonb_strip_nulls`. Every refusal names its key path (`values.accuracy.value`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sigopt_service.limits import (
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_KEYS,
    MAX_METADATA_STRING_LENGTH,
    MAX_METRICS,
    MAX_NAME_LENGTH,
)
from sigopt_service.models import Experiment, MetricEvaluation
from sigopt_service.run_models import RUN_DOCUMENT_FIELDS, RunState
from sigopt_service.validation._common import InvalidField, finite, guarded, invalid_value
from sigopt_service.validation.metadata import validate_metadata
from sigopt_service.validation.project import is_project_id

__all__ = [
    "MAX_CHECKPOINTS",
    "MAX_LOG_LENGTH",
    "RunBody",
    "merged_document",
    "validate_checkpoint",
    "validate_run_body",
]

#: sigopt-server caps a log stream at 1,124 characters (and cuts it there); the client
#: cuts its logs to less. Longer ones are refused here, never cut.
MAX_LOG_LENGTH = 64 * 1024
#: sigopt-server's `_get_max_checkpoints`.
MAX_CHECKPOINTS = 200
#: sigopt-server's `MAX_SOURCE_LENGTH` of an assignment's source.
MAX_SOURCE_LENGTH = 30
#: The source sigopt-server reserves for the optimizer's assignments.
OPTIMIZED_SOURCE = "SigOpt"
_KEYS = frozenset({*RUN_DOCUMENT_FIELDS, "state", "deleted", "project"})
_BODY = "the request body"


@dataclass(frozen=True)
class RunBody:
    """A checked run body: the document fields it names (a null: remove), and the rest."""

    document: dict[str, Any] = field(default_factory=dict)
    state: RunState | None = None
    deleted: bool | None = None
    project: str | None = None


def _object(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise invalid_value(where, f"expected an object, got {type(raw).__name__}")
    return dict(raw)


def _text(raw: Any, where: str, limit: int, *, nullable: bool = True) -> str | None:
    if raw is None and nullable:
        return None
    if not isinstance(raw, str):
        raise invalid_value(where, f"expected a string, got {type(raw).__name__}")
    if len(raw) > limit:
        raise invalid_value(where, f"longer than {limit} characters")
    return raw


def _only(raw: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise InvalidField(
            f"Unknown json keys `{unknown[0]}` in: {where}",
            field=unknown[0] if where == _BODY else f"{where}.{unknown[0]}",
            code="unknown_key",
            reason="unknown key",
        )


def _key(key: str, where: str, limit: int = MAX_METADATA_KEY_LENGTH) -> str:
    if not key or len(key) > limit:
        raise invalid_value(where, f"keys must be 1 to {limit} characters, got {key[:40]!r}")
    return key


def _flat_map(raw: Any, where: str) -> dict[str, Any]:
    """assignments and the metadata maps: strings, numbers, booleans; null removes."""
    out = _object(raw, where)
    for key, value in out.items():
        _key(key, where)
        at = f"{where}.{key}"
        if isinstance(value, str):
            _text(value, at, MAX_METADATA_STRING_LENGTH)
        elif isinstance(value, float):
            finite(value, at)
        elif value is not None and not isinstance(value, bool | int):
            raise invalid_value(
                at, f"values must be strings, numbers, booleans or null, got {type(value).__name__}"
            )
    return out


def _nested(raw: Any, where: str, check: Any) -> dict[str, Any]:
    """A map of name -> object (or null), each object checked by `check(obj, where)`."""
    out = _object(raw, where)
    for key, value in out.items():
        _key(key, where)
        if value is not None:
            out[key] = check(_object(value, f"{where}.{key}"), f"{where}.{key}")
    return out


def _value(obj: dict[str, Any], where: str) -> dict[str, Any]:
    _only(obj, ("value", "value_stddev", "name", "object"), where)
    out: dict[str, Any] = {}
    for key in ("value", "value_stddev"):
        if key in obj and obj[key] is not None:
            number = obj[key]
            if isinstance(number, bool) or not isinstance(number, int | float):
                raise invalid_value(f"{where}.{key}", f"expected a number, got {number!r:.40}")
            out[key] = finite(float(number), f"{where}.{key}")
        elif key in obj:
            out[key] = None
    if (out.get("value_stddev") or 0) < 0:
        raise invalid_value(f"{where}.value_stddev", "must be >= 0")
    return out


def _log(obj: dict[str, Any], where: str) -> dict[str, Any]:
    _only(obj, ("content", "object"), where)
    return {"content": _text(obj.get("content"), f"{where}.content", MAX_LOG_LENGTH)}


def _free(obj: dict[str, Any], where: str) -> dict[str, Any]:
    return obj


def _source(obj: dict[str, Any], where: str) -> dict[str, Any]:
    _only(obj, ("source",), where)
    source = _text(obj.get("source"), f"{where}.source", MAX_SOURCE_LENGTH, nullable=False)
    if source == OPTIMIZED_SOURCE:
        raise invalid_value(f"{where}.source", f"{OPTIMIZED_SOURCE} is reserved and set by it")
    return {"source": source}


def _sources(obj: dict[str, Any], where: str) -> dict[str, Any]:
    _only(obj, ("default_show", "sort"), where)
    show, sort = obj.get("default_show"), obj.get("sort")
    if not isinstance(show, bool):
        raise invalid_value(f"{where}.default_show", "expected a boolean")
    if isinstance(sort, bool) or not isinstance(sort, int | float):
        raise invalid_value(f"{where}.sort", "expected a number")
    return {"default_show": show, "sort": finite(sort, f"{where}.sort")}


def _model(raw: Any, where: str) -> dict[str, Any]:
    obj = _object(raw, where)
    _only(obj, ("type", "object"), where)
    return {"type": _text(obj.get("type"), f"{where}.type", MAX_NAME_LENGTH)}


def _source_code(raw: Any, where: str) -> dict[str, Any]:
    obj = _object(raw, where)
    _only(obj, ("content", "hash", "object"), where)
    return {
        "content": _text(obj.get("content"), f"{where}.content", 2**31),
        "hash": _text(obj.get("hash"), f"{where}.hash", 200),
    }


def _document_field(key: str, raw: Any) -> Any:
    if raw is None:
        return None
    if key == "name":
        name = _text(raw, "name", MAX_NAME_LENGTH, nullable=False)
        if not (name or "").strip():
            raise invalid_value("name", "names cannot be empty")
        return name
    if key == "favorite":
        if not isinstance(raw, bool):
            raise invalid_value("favorite", "expected a boolean")
        return raw
    if key in ("assignments", "metadata", "dev_metadata"):
        return _flat_map(raw, key)
    if key == "values":
        for name, item in _object(raw, "values").items():
            if isinstance(item, Mapping) and item.get("name") not in (None, name):
                raise invalid_value(f"values.{name}.name", "must be the metric's own key")
        values = _nested(raw, "values", _value)
        if len(values) > MAX_METRICS:
            raise invalid_value("values", f"at most {MAX_METRICS} metrics")
        return values
    checks = {
        "logs": lambda r: _nested(r, "logs", _log),
        "datasets": lambda r: _nested(r, "datasets", _free),
        "assignments_meta": lambda r: _nested(r, "assignments_meta", _source),
        "assignments_sources": lambda r: _nested(r, "assignments_sources", _sources),
        "sys_metadata": lambda r: _object(r, "sys_metadata"),
        "model": lambda r: _model(r, "model"),
        "source_code": lambda r: _source_code(r, "source_code"),
    }
    return checks[key](raw)


@guarded
def validate_run_body(body: Mapping[str, Any], *, creating: bool) -> RunBody:
    """Check a run body (create: a run's first document; else PUT or MERGE)."""
    _only(dict(body), tuple(sorted(_KEYS)), _BODY)
    for key in ("state", "name", "project"):
        if key in body and body[key] is None and not (creating and key == "project"):
            raise invalid_value(key, f"Cannot remove {key} from a run")
    if creating and "name" not in body:
        raise InvalidField("Missing required json key `name`", field="name", code="missing_key")
    for key in ("project", "deleted") if creating else ():
        if key in body:
            raise InvalidField(
                f"`{key}` is not a valid JSON key for this endpoint.",
                field=key,
                code="unknown_key",
            )
    state = body.get("state")
    if state is not None and state not in {s.value for s in RunState}:
        raise invalid_value("state", f"Invalid state: {state!r:.40} (active, completed, failed)")
    deleted = body.get("deleted")
    if deleted is not None and not isinstance(deleted, bool):
        raise invalid_value("deleted", "expected a boolean")
    project = body.get("project")
    if project is not None and not (isinstance(project, str) and is_project_id(project)):
        raise invalid_value("project", f"{project!r:.40} is not a project id")
    document = {k: _document_field(k, body[k]) for k in RUN_DOCUMENT_FIELDS if k in body}
    return RunBody(
        document=document,
        state=None if state is None else RunState(state),
        deleted=deleted,
        project=project,
    )


def _merge(current: Any, sent: Any) -> Any:
    if isinstance(current, dict) and isinstance(sent, dict):
        merged = dict(current)
        for key, value in sent.items():
            merged[key] = _merge(current.get(key), value)
        return merged
    return sent


def _strip_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    return value


@guarded
def merged_document(
    current: Mapping[str, Any], sent: Mapping[str, Any], *, merge: bool
) -> dict[str, Any]:
    """The stored document after a body's document fields (`RunBody.document`): each one
    replaced (PUT, or on create) or merged into (MERGE); nulls removed, and the result
    checked as a whole (every metric has a value, metadata within its limits)."""
    document = dict(current)
    for key, value in sent.items():
        document[key] = _merge(document.get(key), value) if merge else value
    document = {k: _strip_nulls(v) for k, v in document.items() if v is not None}
    for name, item in document.get("values", {}).items():
        if "value" not in item:
            raise InvalidField(
                f"Missing required json key `values.{name}.value`",
                field=f"values.{name}.value",
                code="missing_key",
            )
        item["name"] = name
    for key in ("metadata", "dev_metadata", "assignments"):
        if len(document.get(key, {})) > MAX_METADATA_KEYS:
            raise invalid_value(key, f"at most {MAX_METADATA_KEYS} keys")
    return document


@guarded
def validate_checkpoint(
    experiment: Experiment | None, body: Mapping[str, Any]
) -> tuple[list[MetricEvaluation], dict[str, Any] | None]:
    """`{"values": [{"name", "value", "value_stddev"?}], "metadata"?}`; with an
    experiment, each name must be one of its metrics (sigopt-server's checkpoint rules)."""
    _only(dict(body), ("values", "metadata"), _BODY)
    raw = body.get("values")
    if not isinstance(raw, list):
        raise InvalidField(
            "Missing required json key `values` (a list)", field="values", code="missing_key"
        )
    names = None if experiment is None else {m.name for m in experiment.metrics}
    values: list[MetricEvaluation] = []
    for i, item in enumerate(raw):
        where = f"values[{i}]"
        checked = _value(_object(item, where), where)
        name = _text(_object(item, where).get("name"), f"{where}.name", MAX_NAME_LENGTH)
        if name is None or "value" not in checked or checked["value"] is None:
            raise invalid_value(where, "each checkpoint value needs a `name` and a `value`")
        if names is not None and name not in names:
            raise invalid_value(f"{where}.name", f"{name!r:.40} is not a metric of the experiment")
        values.append(MetricEvaluation(name=name, **checked))
    return values, validate_metadata(body.get("metadata"))
