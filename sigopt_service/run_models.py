"""Wire models of SigOpt's AI module: projects, training runs and their checkpoints.

Pydantic only, as `models.py` (whose conventions hold: ids are strings, times epoch
seconds, parsing ignores unknown keys), so the orchestrator's client parses a run the
service answered into the very same `TrainingRun`. The shapes are sigopt-server's
`ProjectJsonBuilder`, `TrainingRunJsonBuilder` and `CheckpointJsonBuilder`; the JSON the
HTTP layer sends adds the `object` keys of the nested maps (`http/run_json.py`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from sigopt_service.models import Metadata, MetricEvaluation, WireModel

#: The client this service has (every record's `client`; `http/clients.py`).
CLIENT_ID = "1"


class RunState(StrEnum):
    """A training run's state. `completed` and `failed` are final for the client (it never
    moves a run back), but the API allows any change, as sigopt-server does."""

    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"

    def is_finished(self) -> bool:
        return self is not RunState.ACTIVE


class Project(WireModel):
    object: Literal["project"] = "project"
    #: The project's reference id, chosen by its creator (`[a-z0-9-_.]{1,32}`).
    id: str
    name: str
    client: str = CLIENT_ID
    user: str | None = None
    created: int = 0
    updated: int = 0
    metadata: Metadata | None = None
    #: Non-deleted experiments (classic and AI) and training runs in the project; the use
    #: case fills them in, a store's snapshot says 0.
    experiment_count: int = 0
    training_run_count: int = 0
    deleted: bool = False


#: The keys of a run's document (`TrainingRun.document()`): what PUT replaces and MERGE
#: merges into, as sigopt-server's `TrainingRunData`.
RUN_DOCUMENT_FIELDS = (
    "name",
    "assignments",
    "assignments_meta",
    "assignments_sources",
    "datasets",
    "dev_metadata",
    "favorite",
    "logs",
    "metadata",
    "model",
    "source_code",
    "sys_metadata",
    "values",
)


class TrainingRun(WireModel):
    """One training run. The free-form parts (`assignments`, `datasets`, `logs`, `model`,
    `source_code`, the metadata maps) are kept as the client sent them, merged by MERGE."""

    object: Literal["training_run"] = "training_run"
    id: str
    name: str | None = None
    state: RunState = RunState.ACTIVE
    project: str | None = None
    experiment: str | None = None
    #: The suggestion it evaluates (an AI experiment's run, or a classic experiment's
    #: suggestion the orchestrator runs) and the observation it became (AI runs only).
    suggestion: str | None = None
    observation: str | None = None
    client: str = CLIENT_ID
    user: str | None = None
    assignments: dict[str, Any] = Field(default_factory=dict)
    #: Metric name -> its evaluation (`name` repeats the key).
    values: dict[str, MetricEvaluation] = Field(default_factory=dict)
    metadata: dict[str, Any] | None = None
    dev_metadata: dict[str, Any] | None = None
    sys_metadata: dict[str, Any] | None = None
    datasets: dict[str, dict[str, Any]] = Field(default_factory=dict)
    logs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    model: dict[str, Any] = Field(default_factory=dict)
    source_code: dict[str, Any] = Field(default_factory=dict)
    assignments_meta: dict[str, dict[str, Any]] = Field(default_factory=dict)
    assignments_sources: dict[str, dict[str, Any]] = Field(default_factory=dict)
    favorite: bool = False
    checkpoint_count: int = 0
    created: int = 0
    updated: int = 0
    #: When it first reached `completed` or `failed`; None while active.
    completed: int | None = None
    deleted: bool = False

    @property
    def finished(self) -> bool:
        """sigopt-server's `finished`: it became an observation or reached a final state."""
        return self.observation is not None or self.completed is not None

    def document(self) -> dict[str, Any]:
        """The document fields that are set, as plain JSON data (what a store keeps)."""
        dumped = self.model_dump(mode="json", include=set(RUN_DOCUMENT_FIELDS))
        return {k: v for k, v in dumped.items() if v not in (None, {}, False)}


class Checkpoint(WireModel):
    """A checkpoint of a run's metrics during training (`sigopt.log_checkpoint`)."""

    object: Literal["checkpoint"] = "checkpoint"
    id: str
    training_run: str
    values: list[MetricEvaluation] = Field(default_factory=list)
    metadata: Metadata | None = None
    created: int = 0
    #: sigopt-server's early stopping is not offered: never asked to stop.
    should_stop: bool = False
    stopping_reasons: dict[str, bool] = Field(default_factory=dict)
