"""The OpenAPI 3.1 document of the API, built from the route table and the pydantic models.

Served at `/v1/openapi.json` so the API can be browsed and fuzzed (schemathesis,
`python -m benchmarks.fuzz`). Request schemas come from the validation package's strict body
models, response schemas from `models.py`; query parameters and statuses are listed here.
The document is exact where a schema can be: anything it calls invalid, the service
refuses with a 4xx. Cross-field rules (min < max, at least 2 categories) it cannot say.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from sigopt_service.http.ai_openapi import (
    AI_OK,
    AI_PATH_PARAMETERS,
    AI_REQUEST_BODIES,
    AI_RESPONSES,
    UNDESCRIBED_METHODS,
)
from sigopt_service.http.query import MAX_PAGE_LIMIT, MAX_SEARCH_LENGTH
from sigopt_service.http.tokens_openapi import (
    ALWAYS_FORBIDDEN_PATHS,
    TOKEN_OK,
    TOKEN_PATH_PARAMETERS,
    TOKEN_REQUEST_BODIES,
)
from sigopt_service.limits import MAX_BATCH_OBSERVATIONS
from sigopt_service.models import (
    BestAssignments,
    ErrorBody,
    Experiment,
    Observation,
    Paging,
    QueuedSuggestion,
    Suggestion,
)
from sigopt_service.store import EXPERIMENT_SORTS
from sigopt_service.validation import (
    ExperimentCreateBody,
    ExperimentUpdateBody,
    ObservationBody,
    ObservationUpdateBody,
    SuggestionCreateBody,
    SuggestionUpdateBody,
)
from sigopt_service.validation.queued_suggestion import QueuedSuggestionCreateBody

_PATH_PARAM = re.compile(r"{(\w+)}")
_EXPERIMENT = "/v1/experiments/{experiment_id}"

# (method, path template) -> request body model
_REQUEST_BODIES: dict[tuple[str, str], type[BaseModel]] = {
    ("POST", "/v1/experiments"): ExperimentCreateBody,
    ("POST", "/v1/clients/{client_id}/experiments"): ExperimentCreateBody,
    ("PUT", _EXPERIMENT): ExperimentUpdateBody,
    ("POST", f"{_EXPERIMENT}/suggestions"): SuggestionCreateBody,
    ("PUT", f"{_EXPERIMENT}/suggestions/{{suggestion_id}}"): SuggestionUpdateBody,
    ("POST", f"{_EXPERIMENT}/observations"): ObservationBody,
    ("PUT", f"{_EXPERIMENT}/observations/{{observation_id}}"): ObservationUpdateBody,
    ("POST", f"{_EXPERIMENT}/queued_suggestions"): QueuedSuggestionCreateBody,
    **AI_REQUEST_BODIES,
    **TOKEN_REQUEST_BODIES,
}

_RESPONSES: dict[str, type[BaseModel]] = {
    "experiment": Experiment,
    "suggestion": Suggestion,
    "observation": Observation,
    "best_assignments": BestAssignments,
    "queued_suggestion": QueuedSuggestion,
    "error": ErrorBody,
    **AI_RESPONSES,
}

# Query strings: booleans as the service parses them (1/0/true/false, any case).
_BOOL = {"type": "string", "pattern": "^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|1|0)$"}
_LIMIT = {"type": "integer", "minimum": 0, "maximum": MAX_PAGE_LIMIT}
_MARKER = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9_-]+$"}
_ID = {"type": "string", "pattern": "^[0-9]{1,19}$"}
_IDS = {"type": "string", "pattern": "^[0-9]{1,19}(,[0-9]{1,19})*$", "maxLength": 2000}
_PAGED = [("limit", _LIMIT), ("before", _MARKER)]

_TIMESTAMP = {"type": "string", "pattern": "^[0-9]{1,15}$"}
_EXPERIMENT_LIST: list[tuple[str, dict[str, Any]]] = [
    *_PAGED,
    ("after", _MARKER),
    ("state", {"type": "string", "enum": ["active", "deleted", "all"]}),
    ("sort", {"type": "string", "enum": list(EXPERIMENT_SORTS)}),
    ("ascending", _BOOL),
    ("search", {"type": "string", "maxLength": MAX_SEARCH_LENGTH}),
    ("period_start", _TIMESTAMP),
    ("period_end", _TIMESTAMP),
    ("development", _BOOL),
    ("include_ai", _BOOL),
    ("user", _ID),
]

_QUERY: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = {
    ("GET", "/v1/experiments"): _EXPERIMENT_LIST,
    ("GET", "/v1/clients/{client_id}/experiments"): _EXPERIMENT_LIST,
    ("GET", "/v1/clients/{client_id}/tokens"): _PAGED,
    ("GET", f"{_EXPERIMENT}/suggestions"): [
        *_PAGED,
        ("state", {"type": "string", "enum": ["open"]}),
        ("deleted", _BOOL),
        ("id", _IDS),
    ],
    ("DELETE", f"{_EXPERIMENT}/suggestions"): [("state", {"type": "string", "enum": ["open"]})],
    ("POST", f"{_EXPERIMENT}/suggestions"): [("within_budget", _BOOL)],
    ("POST", f"{_EXPERIMENT}/observations"): [("within_budget", _BOOL)],
    ("GET", f"{_EXPERIMENT}/observations"): [
        *_PAGED,
        ("after", _MARKER),
        ("ascending", _BOOL),
        ("deleted", _BOOL),
        # The metric or parameter a name gives must be the experiment's (else a 400).
        (
            "sort",
            {
                "type": "string",
                "maxLength": 200,
                "pattern": "^(id|timestamp|value|value_stddev|(value|value_stddev|parameter)-.+)$",
            },
        ),
    ],
    ("GET", f"{_EXPERIMENT}/queued_suggestions"): [*_PAGED, ("after", _MARKER)],
}

# Success bodies that are no single model: (method, path) -> inline schema or response name.
_OK: dict[tuple[str, str], dict[str, Any] | str] = {
    ("POST", "/v1/experiments"): "experiment",
    ("GET", "/v1/experiments"): "pagination:experiment",
    ("POST", "/v1/clients/{client_id}/experiments"): "experiment",
    ("GET", "/v1/clients/{client_id}/experiments"): "pagination:experiment",
    ("GET", _EXPERIMENT): "experiment",
    ("PUT", _EXPERIMENT): "experiment",
    ("POST", f"{_EXPERIMENT}/suggestions"): "suggestion",
    ("GET", f"{_EXPERIMENT}/suggestions"): "pagination:suggestion",
    ("GET", f"{_EXPERIMENT}/suggestions/{{suggestion_id}}"): "suggestion",
    ("PUT", f"{_EXPERIMENT}/suggestions/{{suggestion_id}}"): "suggestion",
    ("POST", f"{_EXPERIMENT}/observations"): "observation",
    ("POST", f"{_EXPERIMENT}/observations/batch"): "pagination:observation",
    ("GET", f"{_EXPERIMENT}/observations"): "pagination:observation",
    ("GET", f"{_EXPERIMENT}/observations/{{observation_id}}"): "observation",
    ("PUT", f"{_EXPERIMENT}/observations/{{observation_id}}"): "observation",
    ("GET", f"{_EXPERIMENT}/best_assignments"): "pagination:best_assignments",
    ("POST", f"{_EXPERIMENT}/queued_suggestions"): "queued_suggestion",
    ("GET", f"{_EXPERIMENT}/queued_suggestions"): "pagination:queued_suggestion",
    ("GET", f"{_EXPERIMENT}/queued_suggestions/{{queued_suggestion_id}}"): "queued_suggestion",
    ("GET", f"{_EXPERIMENT}/stopping_criteria"): {
        "type": "object",
        "required": ["object", "should_stop", "reasons"],
        "properties": {
            "object": {"const": "stopping_criteria"},
            "should_stop": {"type": "boolean"},
            "reasons": {"type": "array", "items": {"type": "string"}},
        },
    },
    ("GET", f"{_EXPERIMENT}/metric_importances"): {
        "type": "object",
        "required": ["object", "count", "data", "paging"],
        "properties": {
            "object": {"const": "pagination"},
            "count": {"type": "integer", "minimum": 0},
            "data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["object", "metric", "importances"],
                    "properties": {
                        "object": {"const": "metric_importances"},
                        "metric": {"type": ["string", "null"]},
                        "importances": {
                            "type": "object",
                            "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1},
                        },
                    },
                },
            },
            "paging": {"$ref": "#/components/schemas/Paging"},
        },
    },
    ("GET", "/v1/openapi.json"): {"type": "object"},
    **AI_OK,
    **TOKEN_OK,
}

#: The batch body is checked by hand (`validate_observation_batch`); this is its shape.
_BATCH_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["observations"],
    "properties": {
        "observations": {
            "type": "array",
            "maxItems": MAX_BATCH_OBSERVATIONS,
            "items": {"$ref": "#/components/schemas/ObservationBody"},
        },
        "dry_run": {"type": "boolean"},
        "no_optimize": {"type": "boolean"},
    },
}

_ERRORS = {
    "400": "Invalid request: `field` names the key path, `code` says what is wrong",
    "404": "Unknown id (also a non-numeric id, an id of another experiment, a client but 1)",
    "409": "A transition the store forbids (second observation, budget reached)",
    "413": "Request body larger than the limit",
    "415": "Body not sent as UTF-8 JSON",
    "429": "Rate limited (only with a configured limit); see Retry-After",
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _ok_schema(spec: dict[str, Any] | str | None) -> dict[str, Any] | None:
    if spec is None or isinstance(spec, dict):
        return spec
    if spec.startswith("pagination:"):
        item = _RESPONSES[spec.split(":", 1)[1]].__name__
        return {
            "type": "object",
            "required": ["object", "count", "data", "paging"],
            "properties": {
                "object": {"const": "pagination"},
                "count": {"type": "integer", "minimum": 0},
                "data": {"type": "array", "items": _ref(item)},
                "paging": _ref("Paging"),
            },
        }
    return _ref(_RESPONSES[spec].__name__)


@cache
def _schemas() -> dict[str, Any]:
    modes: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (m, "validation") for m in _REQUEST_BODIES.values()
    ]
    responses: list[type[BaseModel]] = [*_RESPONSES.values(), Paging]
    modes += [(m, "serialization") for m in responses]
    _, top = models_json_schema(modes, ref_template="#/components/schemas/{model}")
    return dict(top.get("$defs", {}))


def _operation(method: str, path: str, summary: str, *, auth: bool) -> dict[str, Any]:
    error = {"application/json": {"schema": _ref("ErrorBody")}}
    responses: dict[str, Any] = {
        code: {"description": text, "content": error} for code, text in _ERRORS.items()
    }
    if auth:
        responses["401"] = {"description": "No or unknown API token", "content": error}
    if auth or path in ALWAYS_FORBIDDEN_PATHS:
        responses["403"] = {
            "description": "The token's scope (read-only, one experiment, not an admin) "
            "does not reach this request",
            "content": error,
        }
    if method == "DELETE":
        ok_schema: dict[str, Any] | None = {"type": "object", "maxProperties": 0}
    else:
        ok_schema = _ok_schema(_OK.get((method, path)))
    ok: dict[str, Any] = {"description": "OK"}
    if ok_schema is not None:
        ok["content"] = {"application/json": {"schema": ok_schema}}
    responses["200"] = ok
    op: dict[str, Any] = {
        "summary": summary,
        "operationId": f"{method.lower()}_{path.strip('/').replace('/', '_')}",
        "parameters": [
            {
                "name": p,
                "in": "path",
                "required": True,
                "schema": AI_PATH_PARAMETERS.get(p, TOKEN_PATH_PARAMETERS.get(p, _ID)),
            }
            for p in _PATH_PARAM.findall(path)
        ]
        + [
            {"name": n, "in": "query", "required": False, "schema": s}
            for n, s in _QUERY.get((method, path), [])
        ],
        "responses": responses,
    }
    body: dict[str, Any] | None = None
    if (method, path) in _REQUEST_BODIES:
        body = _ref(_REQUEST_BODIES[method, path].__name__)
    elif path.endswith("/observations/batch"):
        body = _BATCH_BODY
    if body is not None:
        op["requestBody"] = {"required": False, "content": {"application/json": {"schema": body}}}
    if path == "/v1/openapi.json":
        op["security"] = []  # public, so it can be fetched without a token
    return op


def openapi_document(
    routes: Sequence[tuple[str, str, Any, str]], *, auth: bool = True
) -> dict[str, Any]:
    """The document; `auth` says whether this service requires a token (HTTP Basic)."""
    paths: dict[str, dict[str, Any]] = {}
    for method, path, _, summary in routes:
        if method in UNDESCRIBED_METHODS:
            continue
        paths.setdefault(path, {})[method.lower()] = _operation(method, path, summary, auth=auth)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "SigOpt-compatible optimization service", "version": "v1"},
        "components": {"schemas": _schemas()},
        "paths": paths,
    }
    if auth:
        document["components"]["securitySchemes"] = {"basic": {"type": "http", "scheme": "basic"}}
        document["security"] = [{"basic": []}]
    return document
