"""Suggestion validation: the bodies of `POST .../suggestions` and `PUT .../suggestions/{id}`.

User-given assignments are checked against the experiment by `validate_assignments`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sigopt_service.models import Metadata
from sigopt_service.validation._common import Body, validate
from sigopt_service.validation.metadata import MetadataBody, validate_metadata


class SuggestionCreateBody(Body):
    assignments: dict[str, int | float | str] | None = None
    metadata: MetadataBody = None
    task: Any = None


class SuggestionUpdateBody(Body):
    metadata: MetadataBody = None


def validate_suggestion_create(body: Mapping[str, Any]) -> SuggestionCreateBody:
    return validate(SuggestionCreateBody, body)


def validate_suggestion_update(body: Mapping[str, Any]) -> Metadata | None:
    return validate_metadata(validate(SuggestionUpdateBody, body).metadata)
