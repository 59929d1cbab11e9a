"""Wire models of SigOpt's REST API v1: the JSON objects the service emits.

Pydantic only, so that the orchestrator's client parses responses into the very same
types (`Suggestion.model_validate(body)`). Ids are strings and timestamps epoch seconds,
as the official client reads them (spec section 2). Parsing ignores unknown keys so the
client also reads other SigOpt-compatible servers; the service builds these objects
itself and never parses requests with them (request rules live in `validation/`).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_serializer

AssignmentValue = int | float | str
Assignments = dict[str, AssignmentValue]
Metadata = dict[str, str | int | float | bool | None]


class WireModel(BaseModel):
    """Frozen snapshot; later writes never mutate an object already handed out."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class ParameterType(StrEnum):
    DOUBLE = "double"
    INT = "int"
    CATEGORICAL = "categorical"


class ExperimentType(StrEnum):
    OFFLINE = "offline"
    RANDOM = "random"
    GRID = "grid"


class ExperimentState(StrEnum):
    ACTIVE = "active"
    DELETED = "deleted"


class Objective(StrEnum):
    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"


class MetricStrategy(StrEnum):
    OPTIMIZE = "optimize"
    STORE = "store"
    CONSTRAINT = "constraint"


class SuggestionState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Bounds(WireModel):
    object: Literal["bounds"] = "bounds"
    min: float
    max: float


class CategoricalValue(WireModel):
    object: Literal["categorical_value"] = "categorical_value"
    name: str
    enum_index: int


class Parameter(WireModel):
    object: Literal["parameter"] = "parameter"
    name: str
    type: ParameterType
    bounds: Bounds | None = None
    categorical_values: list[CategoricalValue] | None = None
    transformation: Literal["log"] | None = None
    grid: list[AssignmentValue] | None = None
    default_value: AssignmentValue | None = None
    precision: int | None = None
    conditions: dict[str, list[str]] = Field(default_factory=dict)
    #: As the client sent it (`{"name": "normal", "mean": .., "scale": ..}`), or None.
    prior: dict[str, Any] | None = None

    def category_names(self) -> list[str]:
        return [c.name for c in self.categorical_values or []]

    def is_active(self, assignments: Mapping[str, AssignmentValue]) -> bool:
        """Whether the parameter takes part in a point whose conditionals have these
        values: every one of its `conditions` names a conditional whose value is among the
        listed ones (sigopt-server's `parameter_conditions_satisfied`). A parameter
        without conditions is always active."""
        return all(assignments.get(name) in values for name, values in self.conditions.items())


class Metric(WireModel):
    object: Literal["metric"] = "metric"
    name: str | None = None
    objective: Objective = Objective.MAXIMIZE
    strategy: MetricStrategy = MetricStrategy.OPTIMIZE
    threshold: float | None = None


class Task(WireModel):
    """One task of a multitask experiment: a cheaper approximation of the objective
    (`cost` in (0, 1]) or the real one (cost 1), as sigopt-server's `TaskJsonBuilder`."""

    object: Literal["task"] = "task"
    name: str
    cost: float


class MetricEvaluation(WireModel):
    object: Literal["metric_evaluation"] = "metric_evaluation"
    name: str | None = None
    value: float | None = None
    value_stddev: float | None = None


class Observation(WireModel):
    object: Literal["observation"] = "observation"
    id: str
    experiment: str
    suggestion: str | None = None
    assignments: Assignments = Field(default_factory=dict)
    values: list[MetricEvaluation] = Field(default_factory=list)
    failed: bool = False
    metadata: Metadata | None = None
    created: int = 0
    deleted: bool = False
    #: Multitask only: the task it was evaluated on (its suggestion's, or as given).
    task: Task | None = None

    # Deprecated single-metric fields that hosted SigOpt emitted and the client still reads.
    @property
    def value(self) -> float | None:
        return self.values[0].value if len(self.values) == 1 else None

    @property
    def value_stddev(self) -> float | None:
        return self.values[0].value_stddev if len(self.values) == 1 else None

    def to_wire(self) -> dict[str, Any]:
        body = self.model_dump(mode="json")
        body["value"] = self.value
        body["value_stddev"] = self.value_stddev
        return body


class Suggestion(WireModel):
    object: Literal["suggestion"] = "suggestion"
    id: str
    experiment: str
    assignments: Assignments
    state: SuggestionState = SuggestionState.OPEN
    metadata: Metadata | None = None
    created: int = 0
    deleted: bool = False
    #: Multitask only: the task to evaluate the assignments on.
    task: Task | None = None


class QueuedSuggestion(WireModel):
    """Assignments queued for a later suggestion: `suggestions().create()` serves the oldest
    one before asking the optimizer (sigopt-server's `QueuedSuggestionJsonBuilder`)."""

    object: Literal["queued_suggestion"] = "queued_suggestion"
    id: str
    experiment: str
    assignments: Assignments
    created: int = 0
    #: Multitask only: the task its suggestion will have.
    task: Task | None = None


class Progress(WireModel):
    object: Literal["progress"] = "progress"
    observation_count: int = 0
    observation_budget_consumed: float = 0
    first_observation: Observation | None = None
    last_observation: Observation | None = None
    best_observation: Observation | None = None

    @field_serializer("first_observation", "last_observation", "best_observation")
    def _observation_with_value(self, obs: Observation | None) -> dict[str, Any] | None:
        return None if obs is None else obs.to_wire()


class RunsProgress(WireModel):
    """An AI experiment's `progress` (sigopt-server's `RunProgressJsonBuilder`): its
    non-deleted training runs, finished (completed or failed) or still active, and what
    is left of the budget (None without one). `loop()` stops once that reaches 0."""

    object: Literal["progress"] = "progress"
    active_run_count: int = 0
    finished_run_count: int = 0
    total_run_count: int = 0
    remaining_budget: int | None = None


class Experiment(WireModel):
    object: Literal["experiment"] = "experiment"
    id: str
    name: str
    type: ExperimentType = ExperimentType.OFFLINE
    parameters: list[Parameter]
    metrics: list[Metric]
    observation_budget: int | None = None
    parallel_bandwidth: int | None = None  # null unless set, as SigOpt answers
    num_solutions: int | None = 1
    conditionals: list[dict[str, Any]] = Field(default_factory=list)
    linear_constraints: list[dict[str, Any]] = Field(default_factory=list)
    #: Multitask only (null otherwise): the tasks, costliest first, as SigOpt lists them.
    tasks: list[Task] | None = None
    metadata: Metadata | None = None
    project: str | None = None
    state: ExperimentState = ExperimentState.ACTIVE
    created: int = 0
    updated: int = 0
    client: str | None = None
    user: str | None = None
    development: bool = False
    #: An AI experiment (`/v1/aiexperiments`): its budget counts training runs.
    runs_only: bool = False
    progress: Progress | None = None
    #: An AI experiment's `progress` (rendered in place of `progress` on its wire form,
    #: `http/aiexperiments.py`); never part of a classic experiment's JSON.
    runs_progress: RunsProgress | None = Field(default=None, exclude=True)

    def optimized_metrics(self) -> list[Metric]:
        return [m for m in self.metrics if m.strategy is MetricStrategy.OPTIMIZE]

    def constraint_metrics(self) -> list[Metric]:
        return [m for m in self.metrics if m.strategy is MetricStrategy.CONSTRAINT]

    def task_named(self, name: str) -> Task | None:
        """The experiment's task called `name`, None if it has none such."""
        return next((t for t in self.tasks or () if t.name == name), None)


class BestAssignments(WireModel):
    object: Literal["best_assignments"] = "best_assignments"
    id: str
    assignments: Assignments
    values: list[MetricEvaluation]
    metadata: Metadata | None = None
    #: Multitask only: the task's name (sigopt-server's `ObservationDataJsonBuilder`
    #: renders it as a string here, not as a task object).
    task: str | None = None

    @property
    def value(self) -> float | None:
        return self.values[0].value if len(self.values) == 1 else None

    def to_wire(self) -> dict[str, Any]:
        body = self.model_dump(mode="json")
        body["value"] = self.value
        body["value_stddev"] = self.values[0].value_stddev if len(self.values) == 1 else None
        return body


class Paging(WireModel):
    before: str | None = None
    after: str | None = None


T = TypeVar("T", bound=WireModel)


class Pagination(WireModel, Generic[T]):
    object: Literal["pagination"] = "pagination"
    count: int
    data: list[T]
    paging: Paging = Field(default_factory=Paging)


class ErrorBody(WireModel):
    """A 4xx/5xx body: SigOpt's `message` and `status`, plus the key path the error is
    about (None where none applies) and a stable code (`sigopt_service.errors.CODES`)."""

    message: str
    status: int
    field: str | None = None
    code: str | None = None
