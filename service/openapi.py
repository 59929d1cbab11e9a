"""The OpenAPI 3.1 document of the API, built from the route table and the pydantic models.

Served at `/v1/openapi.json` so the API can be browsed and fuzzed (schemathesis). Request
schemas come from `validation.py`'s strict body models, response schemas from `models.py`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from service import models, validation

_PATH_PARAM = re.compile(r"{(\w+)}")

# (method, path template) -> request body model
_REQUEST_BODIES: dict[tuple[str, str], type[BaseModel]] = {
    ("POST", "/v1/experiments"): validation.ExperimentCreateBody,
    ("PUT", "/v1/experiments/{experiment_id}"): validation.ExperimentUpdateBody,
    ("POST", "/v1/experiments/{experiment_id}/suggestions"): validation.SuggestionCreateBody,
    (
        "PUT",
        "/v1/experiments/{experiment_id}/suggestions/{suggestion_id}",
    ): validation.SuggestionUpdateBody,
    ("POST", "/v1/experiments/{experiment_id}/observations"): validation.ObservationBody,
    (
        "PUT",
        "/v1/experiments/{experiment_id}/observations/{observation_id}",
    ): validation.ObservationUpdateBody,
}

_RESPONSES: dict[str, type[BaseModel]] = {
    "experiment": models.Experiment,
    "suggestion": models.Suggestion,
    "observation": models.Observation,
    "error": models.ErrorBody,
}

_QUERY: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "paged": [
        ("limit", {"type": "integer", "minimum": 0, "maximum": 1000}),
        ("before", {"type": "string"}),
        ("after", {"type": "string"}),
    ],
}


def _response_model(path: str, method: str) -> str | None:
    if method == "DELETE":
        return None
    for name in ("observation", "suggestion", "experiment"):
        if f"/{name}s/{{{name}_id}}" in path or (path.endswith(f"/{name}s") and method == "POST"):
            return name
    if path == "/v1/experiments/{experiment_id}":
        return "experiment"
    return None


@cache
def _schemas() -> dict[str, Any]:
    modes: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (m, "validation") for m in _REQUEST_BODIES.values()
    ]
    modes += [(m, "serialization") for m in _RESPONSES.values()]
    _, top = models_json_schema(modes, ref_template="#/components/schemas/{model}")
    return dict(top.get("$defs", {}))


def openapi_document(routes: Sequence[tuple[str, str, Any, str]]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path, _, summary in routes:
        op: dict[str, Any] = {
            "summary": summary,
            "parameters": [
                {
                    "name": p,
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[0-9]+$"},
                }
                for p in _PATH_PARAM.findall(path)
            ],
            "responses": {
                "400": {
                    "description": "Invalid request",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}
                    },
                },
                "404": {
                    "description": "Unknown id",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}
                    },
                },
            },
        }
        if method == "GET" and not _PATH_PARAM.findall(path.rsplit("/", 1)[-1]):
            op["parameters"] += [
                {"name": n, "in": "query", "required": False, "schema": s}
                for n, s in _QUERY["paged"]
            ]
        body = _REQUEST_BODIES.get((method, path))
        if body is not None:
            op["requestBody"] = {
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{body.__name__}"}
                    }
                },
            }
        model = _response_model(path, method)
        ok: dict[str, Any] = {"description": "OK"}
        if model is not None:
            ok["content"] = {
                "application/json": {
                    "schema": {"$ref": f"#/components/schemas/{_RESPONSES[model].__name__}"}
                }
            }
        op["responses"]["200"] = ok
        paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "SigOpt-compatible optimization service", "version": "v1"},
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
        },
        "security": [{"basic": []}],
        "paths": paths,
    }
