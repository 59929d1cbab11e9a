"""Suggestion validation: the bodies of `POST .../suggestions` and `PUT .../suggestions/{id}`.

User-given assignments are checked against the experiment by `validate_assignments`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sigopt_service.models import Metadata
from sigopt_service.validation._common import Body, InvalidField, validate
from sigopt_service.validation.metadata import MetadataBody, validate_metadata

#: sigopt-server's wording (handlers/validate/suggestion.py): no experiment here is multitask.
TASK_NOT_MULTITASK = "`task` should only be present for multitask experiments"


class SuggestionCreateBody(Body):
    assignments: dict[str, int | float | str] | None = None
    metadata: MetadataBody = None
    task: Any = None


class SuggestionUpdateBody(Body):
    metadata: MetadataBody = None


def validate_suggestion_create(body: Mapping[str, Any]) -> SuggestionCreateBody:
    parsed = validate(SuggestionCreateBody, body)
    if "task" in body:
        # sigopt-server refuses the key itself (even null) outside multitask experiments.
        raise InvalidField(TASK_NOT_MULTITASK, field="task", code="invalid_request")
    return parsed


def validate_suggestion_update(body: Mapping[str, Any]) -> tuple[bool, Metadata | None]:
    """Whether the body sets `metadata`, and to what. A key left out keeps the stored
    metadata; `"metadata": null` clears it (sigopt-server's suggestions/update.py)."""
    parsed = validate(SuggestionUpdateBody, body)
    return "metadata" in body, validate_metadata(parsed.metadata)
