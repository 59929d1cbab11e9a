"""The validated records a store takes to create experiments and observations."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sigopt_service.models import (
    Assignments,
    ExperimentType,
    Metadata,
    Metric,
    MetricEvaluation,
    Parameter,
    Task,
)


class NewExperiment(BaseModel):
    """A validated experiment definition, before the store gives it an id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: ExperimentType = ExperimentType.OFFLINE
    parameters: list[Parameter]
    metrics: list[Metric]
    observation_budget: int | None = None
    parallel_bandwidth: int | None = 1
    num_solutions: int | None = 1
    conditionals: list[dict[str, Any]] = Field(default_factory=list)
    linear_constraints: list[dict[str, Any]] = Field(default_factory=list)
    #: Multitask: the tasks (fixed at creation); None otherwise.
    tasks: list[Task] | None = None
    metadata: Metadata | None = None
    project: str | None = None
    #: SigOpt's development experiment; fixed at creation.
    development: bool = False
    #: An AI experiment (its budget counts training runs); fixed at creation.
    runs_only: bool = False


class NewObservation(BaseModel):
    """A validated observation. With `suggestion` set, the store copies its assignments
    and its task; else `task` is the observation's own (multitask)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    suggestion: int | None = None
    assignments: Assignments | None = None
    values: list[MetricEvaluation] = Field(default_factory=list)
    failed: bool = False
    metadata: Metadata | None = None
    task: Task | None = None
