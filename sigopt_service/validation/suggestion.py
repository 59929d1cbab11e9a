"""Suggestion validation: the bodies of `POST .../suggestions` and `PUT .../suggestions/{id}`.

User-given assignments are checked against the experiment by `validate_assignments`; in a
multitask experiment they come with the `task` to evaluate them on (`suggestion_task`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sigopt_service.models import Experiment, Metadata, Task
from sigopt_service.validation._common import Body, InvalidField, validate
from sigopt_service.validation._tasks import TASK_NOT_MULTITASK, refuse_task, task_of
from sigopt_service.validation.metadata import MetadataBody, validate_metadata

__all__ = [
    "TASK_NOT_MULTITASK",
    "SuggestionCreateBody",
    "SuggestionUpdateBody",
    "suggestion_task",
    "validate_suggestion_create",
    "validate_suggestion_update",
]


class SuggestionCreateBody(Body):
    assignments: dict[str, int | float | str] | None = None
    metadata: MetadataBody = None
    task: Any = None


class SuggestionUpdateBody(Body):
    metadata: MetadataBody = None


def validate_suggestion_create(
    body: Mapping[str, Any], experiment: Experiment | None = None
) -> SuggestionCreateBody:
    """The body's shape, and its `task` as `suggestion_task` allows it (no experiment:
    one that is not multitask)."""
    parsed = validate(SuggestionCreateBody, body)
    suggestion_task(experiment, body)
    return parsed


def suggestion_task(experiment: Experiment | None, body: Mapping[str, Any]) -> Task | None:
    """The task of a user-given suggestion (sigopt-server's `validate/suggestion.py`): in
    a multitask experiment `assignments` and `task` come together or not at all (then
    the optimizer chooses both); elsewhere the key `task` itself (even null) is refused."""
    if experiment is None or not experiment.tasks:
        if "task" in body:
            raise refuse_task()
        return None
    has_assignments, has_task = body.get("assignments") is not None, body.get("task") is not None
    if has_assignments != has_task:
        raise InvalidField(
            "For multitask experiments, manually created suggestions must have both "
            "`assignments` and `task`",
            field="assignments" if has_task else "task",
            code="missing_key",
        )
    return task_of(experiment, body["task"], "task") if has_task else None


def validate_suggestion_update(body: Mapping[str, Any]) -> tuple[bool, Metadata | None]:
    """Whether the body sets `metadata`, and to what. A key left out keeps the stored
    metadata; `"metadata": null` clears it (sigopt-server's suggestions/update.py)."""
    parsed = validate(SuggestionUpdateBody, body)
    return "metadata" in body, validate_metadata(parsed.metadata)
