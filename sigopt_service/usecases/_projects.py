"""Project use cases on the store thread: create, fetch, list, update, each project with
its counts of (non-deleted) experiments and training runs, as sigopt-server renders one."""

from __future__ import annotations

from typing import Any

from sigopt_service.errors import Conflict, RecordExists
from sigopt_service.run_models import Project
from sigopt_service.store import ExperimentListing
from sigopt_service.usecases._core import Core
from sigopt_service.validation.project import validate_project_create, validate_project_update


def with_counts(core: Core, project: Project) -> Project:
    experiments = core.store.list_experiments(
        state="active", listing=ExperimentListing(project=project.id), limit=0
    ).count
    runs = sum(1 for r in core.store.all_training_runs(project=project.id) if not r.deleted)
    return project.model_copy(update={"experiment_count": experiments, "training_run_count": runs})


def create(core: Core, body: dict[str, Any]) -> Project:
    new = validate_project_create(body)
    try:
        created = core.store.create_project(new)
    except RecordExists as exc:
        # The client turns this 409 into `ConflictingProjectException`.
        raise Conflict(
            f"The experiment project with id `{new.id}` already exists.", field="id"
        ) from exc
    return with_counts(core, created)


def fetch(core: Core, project_id: str) -> Project:
    return with_counts(core, core.store.get_project(project_id))


def listing(core: Core, *, include_deleted: bool, sort: str, ascending: bool) -> list[Project]:
    """Every project (the deleted ones too with `include_deleted`), most recently updated
    first (`sort="updated"`) or newest first (`"created"`), reversed with `ascending`."""
    stored = core.store.all_projects()  # oldest first: the position breaks ties
    age = {p.id: i for i, p in enumerate(stored)}
    projects = [p for p in stored if include_deleted or not p.deleted]
    if sort == "updated":
        projects.sort(key=lambda p: (p.updated, age[p.id]), reverse=not ascending)
    elif not ascending:
        projects.reverse()
    return [with_counts(core, p) for p in projects]


def update(core: Core, project_id: str, body: dict[str, Any]) -> Project:
    core.store.get_project(project_id)
    changes = validate_project_update(body)
    updated = core.store.update_project(project_id, changes) if changes else None
    return with_counts(core, updated or core.store.get_project(project_id))
