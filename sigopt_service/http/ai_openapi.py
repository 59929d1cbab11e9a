"""The AI module's part of the OpenAPI document (`openapi.py` merges it in): request and
response models of its routes, and the schemas of its path parameters that are no ids.
Run bodies are checked by hand (`validation/training_run.py`), so they have no model
here; an AI experiment's answer has none either (it is an experiment's JSON with
`budget` and runs `progress`, `http/run_json.py`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from sigopt_service.run_models import Checkpoint, Project, TrainingRun
from sigopt_service.validation.project import (
    MAX_PROJECT_ID_LENGTH,
    PROJECT_ID_PATTERN,
    ProjectCreateBody,
    ProjectUpdateBody,
)

_PROJECTS = "/v1/clients/{client_id}/projects"
_PROJECT = f"{_PROJECTS}/{{project_id}}"
_RUN = "/v1/training_runs/{training_run_id}"

AI_REQUEST_BODIES: dict[tuple[str, str], type[BaseModel]] = {
    ("POST", _PROJECTS): ProjectCreateBody,
    ("PUT", _PROJECT): ProjectUpdateBody,
}
AI_RESPONSES: dict[str, type[BaseModel]] = {
    "project": Project,
    "training_run": TrainingRun,
    "checkpoint": Checkpoint,
}
AI_OK: dict[tuple[str, str], str] = {
    ("POST", _PROJECTS): "project",
    ("GET", _PROJECTS): "pagination:project",
    ("GET", _PROJECT): "project",
    ("PUT", _PROJECT): "project",
    ("GET", f"{_PROJECT}/training_runs"): "pagination:training_run",
    ("POST", f"{_PROJECT}/training_runs"): "training_run",
    ("GET", _RUN): "training_run",
    ("PUT", _RUN): "training_run",
    ("GET", f"{_RUN}/checkpoints"): "pagination:checkpoint",
    ("POST", f"{_RUN}/checkpoints"): "checkpoint",
}
#: Path parameters that are not record ids.
AI_PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "project_id": {
        "type": "string",
        "pattern": PROJECT_ID_PATTERN,
        "maxLength": MAX_PROJECT_ID_LENGTH,
    },
}
#: Methods OpenAPI has no word for: MERGE (the run update that merges) is left out of the
#: document; PUT on the same path is described.
UNDESCRIBED_METHODS = frozenset({"MERGE"})
