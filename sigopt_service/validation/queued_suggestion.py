"""Queued-suggestion validation: the body of `POST /experiments/{id}/queued_suggestions`.

sigopt-server reads it as a suggestion's data (`suggestion/from_json.py`): `assignments`,
checked as a user-given suggestion's are (`validate_assignments`), and `task`, required in
a multitask experiment and refused in any other. Any other key is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sigopt_service.models import Assignments, Experiment, Task
from sigopt_service.validation._common import Body, guarded, validate
from sigopt_service.validation._tasks import refuse_task, task_of
from sigopt_service.validation.assignments import validate_assignments


class QueuedSuggestionCreateBody(Body):
    assignments: dict[str, int | float | str]
    task: Any = None


@guarded
def validate_queued_suggestion_create(
    experiment: Experiment, body: Mapping[str, Any]
) -> tuple[Assignments, Task | None]:
    """The assignments to queue, as a suggestion of `experiment` would take them, and
    their task (multitask)."""
    parsed = validate(QueuedSuggestionCreateBody, body)
    task = None
    if experiment.tasks:
        task = task_of(experiment, parsed.task, "task")
    elif "task" in body:
        raise refuse_task()
    return validate_assignments(experiment, parsed.assignments), task
