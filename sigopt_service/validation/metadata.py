"""Metadata of experiments, suggestions and observations: SigOpt's limits, nulls dropped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import WithJsonSchema

from sigopt_service.limits import (
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_KEYS,
    MAX_METADATA_STRING_LENGTH,
)
from sigopt_service.models import Metadata
from sigopt_service.validation._common import InvalidField, finite, invalid_value

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


def validate_metadata(raw: Mapping[str, Any] | None, where: str = "metadata") -> Metadata | None:
    """SigOpt's limits: 100 keys of <= 100 chars, strings <= 500 chars; nulls are dropped."""
    if raw is None:
        return None
    if len(raw) > MAX_METADATA_KEYS:
        raise InvalidField(
            f"`{where}` has {len(raw)} keys; at most {MAX_METADATA_KEYS}",
            field=where,
            code="invalid_value",
        )
    out: Metadata = {}
    for key, value in raw.items():
        if len(key) > MAX_METADATA_KEY_LENGTH:
            raise InvalidField(
                f"`{where}` key {key[:40]!r}... is longer than "
                f"{MAX_METADATA_KEY_LENGTH} characters",
                field=where,
                code="invalid_value",
            )
        if value is None:
            continue
        if isinstance(value, str):
            if len(value) > MAX_METADATA_STRING_LENGTH:
                raise InvalidField(
                    f"`{where}.{key}` is longer than {MAX_METADATA_STRING_LENGTH} characters",
                    field=f"{where}.{key}",
                    code="invalid_value",
                )
        elif isinstance(value, bool | int | float):
            if isinstance(value, float):
                finite(value, f"{where}.{key}")
        else:
            raise invalid_value(
                f"{where}.{key}",
                f"metadata values must be strings, numbers or null, got {type(value).__name__}",
            )
        out[key] = value
    return out
