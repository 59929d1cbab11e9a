"""Project bodies (`POST /clients/{id}/projects`, `PUT .../projects/{id}`), as
sigopt-server's `handlers/validate/project.py` schemas: an id of `[a-z0-9-_.]` (1 to 32
characters) chosen by the creator, a name of 1 to 100 characters, metadata; an update
may also (un)delete the project."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from sigopt_service.limits import MAX_NAME_LENGTH
from sigopt_service.store import NewProject
from sigopt_service.validation._common import Body, NameStr, guarded, validate
from sigopt_service.validation.metadata import MetadataBody, validate_metadata

#: sigopt-server's project ids (`ID_STRING_PATTERN`, `MAX_ID_LENGTH`).
PROJECT_ID_PATTERN = r"^[a-z0-9\-_.]+$"
MAX_PROJECT_ID_LENGTH = 32
_PROJECT_ID = re.compile(rf"[a-z0-9\-_.]{{1,{MAX_PROJECT_ID_LENGTH}}}")


def is_project_id(text: str) -> bool:
    """Whether a project could have this id (a path's, a run's `project`)."""
    return _PROJECT_ID.fullmatch(text) is not None


class ProjectCreateBody(Body):
    id: str = Field(min_length=1, max_length=MAX_PROJECT_ID_LENGTH, pattern=PROJECT_ID_PATTERN)
    name: NameStr = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    metadata: MetadataBody = None


class ProjectUpdateBody(Body):
    name: NameStr | None = Field(default=None, min_length=1, max_length=MAX_NAME_LENGTH)
    metadata: MetadataBody = None
    deleted: bool | None = None


@guarded
def validate_project_create(body: Mapping[str, Any]) -> NewProject:
    parsed = validate(ProjectCreateBody, body)
    return NewProject(id=parsed.id, name=parsed.name, metadata=validate_metadata(parsed.metadata))


@guarded
def validate_project_update(body: Mapping[str, Any]) -> dict[str, Any]:
    """The store changes: keys absent stay; `metadata` null clears it; `name` and
    `deleted` null change nothing (sigopt-server's update reads them so)."""
    parsed = validate(ProjectUpdateBody, body)
    changes: dict[str, Any] = {}
    if parsed.name is not None:
        changes["name"] = parsed.name
    if "metadata" in body:
        changes["metadata"] = validate_metadata(parsed.metadata)
    if parsed.deleted is not None:
        changes["deleted"] = parsed.deleted
    return changes
