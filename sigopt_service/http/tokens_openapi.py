"""The API tokens' part of the OpenAPI document (`openapi.py` merges it in): request
models, the token object's schema, the list's query, and the `{token_id}` path parameter,
which is an id or `self`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from sigopt_service.validation.token import (
    ExperimentTokenCreateBody,
    TokenCreateBody,
    TokenUpdateBody,
)

_CLIENT_TOKENS = "/v1/clients/{client_id}/tokens"
_TOKEN = "/v1/tokens/{token_id}"
_NULLABLE_STRING = {"type": ["string", "null"]}
_NULLABLE_INTEGER = {"type": ["integer", "null"]}

TOKEN_REQUEST_BODIES: dict[tuple[str, str], type[BaseModel]] = {
    ("POST", _CLIENT_TOKENS): TokenCreateBody,
    ("POST", "/v1/experiments/{experiment_id}/tokens"): ExperimentTokenCreateBody,
    ("PUT", _TOKEN): TokenUpdateBody,
}
#: A token as `http/tokens.py` renders it (`id` and `created` are null for a token given
#: to the service at start, `token` but in the answer that creates or rotates it).
TOKEN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "object",
        "id",
        "name",
        "token",
        "token_type",
        "permissions",
        "scope",
        "all_experiments",
        "experiment",
        "client",
        "development",
        "expires",
        "created",
        "last_used",
    ],
    "properties": {
        "object": {"const": "token"},
        "id": _NULLABLE_STRING,
        "name": _NULLABLE_STRING,
        "token": _NULLABLE_STRING,
        "token_type": {"enum": ["client-api", "guest"]},
        "permissions": {"enum": ["admin", "write", "read"]},
        "scope": {"enum": ["all_endpoints", "shared_experiment"]},
        "all_experiments": {"type": "boolean"},
        "experiment": _NULLABLE_STRING,
        "training_run": {"type": "null"},
        "client": {"type": "string"},
        "user": {"type": "null"},
        "development": {"type": "boolean"},
        "expires": _NULLABLE_INTEGER,
        "created": _NULLABLE_INTEGER,
        "last_used": _NULLABLE_INTEGER,
    },
}
TOKEN_OK: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", _CLIENT_TOKENS): {
        "type": "object",
        "required": ["object", "count", "data", "paging"],
        "properties": {
            "object": {"const": "pagination"},
            "count": {"type": "integer", "minimum": 0},
            "data": {"type": "array", "items": TOKEN_SCHEMA},
            "paging": {"$ref": "#/components/schemas/Paging"},
        },
    },
    ("POST", _CLIENT_TOKENS): TOKEN_SCHEMA,
    ("POST", "/v1/experiments/{experiment_id}/tokens"): TOKEN_SCHEMA,
    ("GET", _TOKEN): TOKEN_SCHEMA,
    ("PUT", _TOKEN): TOKEN_SCHEMA,
}
TOKEN_PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "token_id": {"type": "string", "pattern": "^([0-9]{1,19}|self)$"},
}
#: Routes that answer 403 even on a service without tokens (a token not stored).
ALWAYS_FORBIDDEN_PATHS = frozenset({_TOKEN})
