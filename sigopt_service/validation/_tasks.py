"""Multitask: an experiment's `tasks` on create, and the `task` a suggestion, queued
suggestion or observation names, with sigopt-server's rules and wording
(`handlers/experiments/create.py` `get_tasks_from_json` and
`_maybe_set_tasks_for_multitask_experiment`, `task/from_json.py`).

    tasks = tasks_for_create(body_tasks, budget=..., metrics=..., num_solutions=...)
    task = task_of(experiment, {"name": "cheap"}, "task")   # or the bare name "cheap"

An experiment is multitask when it has tasks (at least two, then): `Experiment.tasks` is
None otherwise, and every `task` key is refused on it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from sigopt_service.limits import MAX_NAME_LENGTH, MAX_PARAMETERS
from sigopt_service.models import Experiment, Metric, MetricStrategy, Task
from sigopt_service.validation._common import Body, InvalidField, NameStr, validate

#: sigopt-server's wording (`handlers/validate/suggestion.py`).
TASK_NOT_MULTITASK = "`task` should only be present for multitask experiments"
#: At most this many tasks: each is a fidelity the optimizer schedules, not a category list.
MAX_TASKS = MAX_PARAMETERS


class TaskBody(Body):
    name: NameStr = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    cost: float
    object: Literal["task"] | None = None


def _invalid(message: str, field: str) -> InvalidField:
    return InvalidField(message, field=field, code="invalid_value")


def tasks_for_create(
    raw: list[Any] | None,
    *,
    budget: int | None,
    metrics: list[Metric],
    num_solutions: int | None,
) -> list[Task] | None:
    """The tasks of a new experiment, costliest first, or None when it is not multitask
    (`tasks` absent, null or empty, as sigopt-server reads an empty list)."""
    if not raw:
        return None
    if len(raw) > MAX_TASKS:
        raise _invalid(f"For multitask experiments, at most {MAX_TASKS} tasks", "tasks")
    tasks: list[Task] = []
    for i, item in enumerate(raw):
        body = validate(TaskBody, item, f"tasks[{i}]")
        if not (math.isfinite(body.cost) and 0 < body.cost <= 1):
            raise _invalid(
                "For multitask experiments, costs must all be positive and less than or "
                "equal to 1.",
                f"tasks[{i}].cost",
            )
        tasks.append(Task(name=body.name, cost=body.cost))
    for key, what in (("cost", "costs"), ("name", "names")):
        seen: set[Any] = set()
        for i, task in enumerate(tasks):
            value = getattr(task, key)
            if value in seen:
                raise _invalid(
                    f"For multitask experiments, all task {what} must be distinct.",
                    f"tasks[{i}].{key}",
                )
            seen.add(value)
    if all(t.cost != 1 for t in tasks):
        raise _invalid(
            "For multitask experiments, exactly one task must have cost == 1 (none present).",
            "tasks",
        )
    if len(tasks) < 2:
        raise _invalid("For multitask experiments, at least 2 tasks must be present.", "tasks")
    _check_experiment(budget, metrics, num_solutions)
    return sorted(tasks, key=lambda t: -t.cost)


def _check_experiment(budget: int | None, metrics: list[Metric], num_solutions: int | None) -> None:
    """What else a multitask experiment must be (`_maybe_set_tasks_for_multitask_experiment`)."""
    if budget is None:
        raise InvalidField(
            "observation_budget is required for an experiment with tasks (multitask)",
            field="observation_budget",
            code="missing_key",
        )
    if sum(m.strategy is MetricStrategy.OPTIMIZE for m in metrics) > 1:
        raise _invalid("Experiments cannot have both tasks and multiple optimized metrics", "tasks")
    if any(m.strategy is MetricStrategy.CONSTRAINT for m in metrics):
        raise _invalid("Experiments cannot have both tasks and constraint metrics", "tasks")
    if (num_solutions or 1) > 1:
        raise _invalid("Multisolution Experiments cannot be multitask", "num_solutions")


def task_of(experiment: Experiment, raw: Any, field: str) -> Task:
    """The experiment's task that `raw` names: its name, or an object with `name` (a task
    as the API renders it, `cost` and `object` ignored, as sigopt-server reads it)."""
    name = raw.get("name") if isinstance(raw, dict) else raw
    if name is None:
        raise InvalidField(
            "A task name must be defined when creating suggestions for a multitask experiment.",
            field=f"{field}.name" if isinstance(raw, dict) else field,
            code="missing_key",
        )
    if not isinstance(name, str):
        raise InvalidField(
            f"Invalid value for `{field}`: a task name (a string) or a task object",
            field=field,
            code="invalid_value",
        )
    task = experiment.task_named(name)
    if task is None:
        raise InvalidField(
            f"No task named {name} for experiment {experiment.id}.",
            field=field,
            code="invalid_value",
            reason=f"no task named {name!r:.60}",
        )
    return task


def refuse_task(field: str = "task") -> InvalidField:
    """The error for a `task` key on an experiment that is not multitask."""
    return InvalidField(TASK_NOT_MULTITASK, field=field, code="invalid_request")


def observation_task(experiment: Experiment, body: Mapping[str, Any], where: str) -> Task | None:
    """The task of a new observation (`set_observation_data_assignments_task_from_json`):
    with `suggestion`, its suggestion's (the store copies it; `task` is refused); with
    `assignments` in a multitask experiment, the `task` given, which is required.
    `where` prefixes the key paths (`observations[3].`)."""
    if not experiment.tasks:
        if body.get("task") is not None:
            raise InvalidField(
                f"{where}Only multitask experiments should have a task present.",
                field=f"{where}task",
                code="invalid_request",
            )
        return None
    if body.get("suggestion") is not None:
        if "task" in body:
            raise InvalidField(
                f"{where}Cannot provide/update `task` when `suggestion` is provided",
                field=f"{where}task",
                code="invalid_request",
            )
        return None
    if body.get("task") is None:
        raise InvalidField(
            f"{where}Must provide `assignments` and `task` when creating observations manually",
            field=f"{where}task",
            code="missing_key",
        )
    return task_of(experiment, body["task"], f"{where}task")


def task_update(experiment: Experiment, body: Mapping[str, Any], linked: bool) -> dict[str, Task]:
    """The `task` change of an observation update (`_check_task_update`): a task may be
    set only on an observation left without a suggestion, and one moving off its
    suggestion onto `assignments` needs it. `linked`: it has a suggestion now."""
    if not experiment.tasks:
        if "task" in body:
            raise InvalidField(
                f"Cannot provide `task` for experiment {experiment.id} which is not multitask",
                field="task",
                code="invalid_request",
            )
        return {}
    suggestion, assignments = body.get("suggestion"), body.get("assignments")
    task = body.get("task")
    if task is None:
        if linked and suggestion is None and assignments is not None:
            raise InvalidField(
                "Must provide both `task` and `assignments` when updating observation to "
                "remove suggestion",
                field="task",
                code="missing_key",
            )
        return {}
    if assignments is None and suggestion is not None:
        raise InvalidField(
            "Cannot provide `task` when updating observation to change associated suggestion",
            field="task",
            code="invalid_request",
        )
    if assignments is None and linked:
        raise InvalidField(
            "Cannot provide `task` for observation update for observation with associated "
            "suggestion",
            field="task",
            code="invalid_request",
        )
    return {"task": task_of(experiment, task, "task")}
