"""The configuration's sections: pydantic models, one per YAML section, and the root
`OrchestratorConfig`. Cross-field checks raise `Invalid` naming the offending key; the loader
(`loading.py`) turns the first error into one `ConfigError`.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    field_validator,
    model_validator,
)

from orchestrator.client import RetryPolicy
from orchestrator.config._service import ServiceSection
from sigopt_service.errors import InvalidRequest
from sigopt_service.models import Experiment
from sigopt_service.validation import InvalidField, validate_assignments, validate_experiment_create
from workers.base import InvalidSetting, WorkerKind, WorkerSettings
from workers.kinds import KindName, worker_kind
from workers.resources import CUDA_ENV, detect_gpus, plan_resources


class Invalid(ValueError):
    """A cross-field check failed; `field` is the offending key, relative to its section."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class QueuedEntry(Section):
    """One `experiment.queued` item, in SigOpt's queued-suggestion shape."""

    #: Parameter name -> value, as a suggestion of the experiment has them.
    assignments: dict[str, Any]


class ExperimentSection(Section):
    """An existing experiment (`id`) or a definition in SigOpt's own shapes."""

    model_config = ConfigDict(frozen=True, extra="allow")

    id: str | None = None
    name: str | None = None
    parameters: list[dict[str, Any]] | None = None
    metrics: list[Any] | None = None
    observation_budget: int | None = Field(default=None, ge=1)
    #: None: the worker count.
    parallel_bandwidth: int | None = Field(default=None, ge=1)
    metadata: dict[str, Any] | None = None
    type: Literal["offline", "random", "grid"] = "offline"
    #: SigOpt's shapes, sent as written and checked by the service's own validation:
    #: `[{name, values}]`, and `[{type, threshold, terms: [{name, weight}]}]`.
    conditionals: list[dict[str, Any]] | None = None
    linear_constraints: list[dict[str, Any]] | None = None
    #: Multitask `[{name, cost}]` (one of cost 1): the budget is spent in task costs.
    tasks: list[dict[str, Any]] | None = None
    #: Multisolution: how many good, diverse solutions `best_assignments` returns.
    num_solutions: int | None = Field(default=None, ge=1)
    #: Assignments evaluated first, in this order (the settings in use today, say): queued
    #: on the service when `orchestrator run` creates the experiment, never on a resumed
    #: one. `[{assignments: {lr: 0.01, depth: 6}}]`.
    queued: list[QueuedEntry] | None = None

    @field_validator("queued", mode="before")
    @classmethod
    def _entries_hold_assignments(cls, value: Any) -> Any:
        # `queued: [{lr: 0.01}]` would read as an unknown key `lr`: say what an entry is.
        for i, entry in enumerate(value if isinstance(value, list) else []):
            if isinstance(entry, dict) and "assignments" not in entry:
                raise Invalid(
                    f"[{i}]",
                    "each entry is `{assignments: {name: value, ...}}`, as SigOpt queues them",
                )
        return value

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        # YAML reads `id: 123` as an int; the service's ids are strings of digits.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _id_or_definition(self) -> ExperimentSection:
        definition_keys = sorted((self.model_fields_set | set(self.model_extra or {})) - {"id"})
        if self.id is not None:
            if definition_keys:
                raise Invalid(
                    "id",
                    "give either `id` of an existing experiment or a definition, not both "
                    f"(also given: {', '.join(definition_keys)})",
                )
            if not self.id.isdigit():
                raise Invalid("id", f"must be a numeric experiment id, got {self.id!r}")
            return self
        if not definition_keys:
            raise Invalid(
                "",
                "give either `id` of an existing experiment, or a definition "
                "with `name`, `parameters` and `observation_budget`",
            )
        for key in ("name", "parameters", "observation_budget"):
            if getattr(self, key) is None:
                self._no_typo_of(key)
        for key in ("name", "parameters"):
            if getattr(self, key) is None:
                raise Invalid(
                    key,
                    "required key is missing (a definition needs `name`, `parameters` "
                    "and `observation_budget`)",
                )
        if self.observation_budget is None:
            raise Invalid("observation_budget", "required key is missing: it is when the run stops")
        return self

    def _no_typo_of(self, key: str) -> None:
        """A missing required `key` is most often misspelled: name the near miss as the
        unknown key it is, as the other sections do, rather than `key` as missing."""
        extra = sorted(self.model_extra or {})
        for typo in extra:
            if difflib.get_close_matches(typo, [key], n=1, cutoff=0.6):
                raise Invalid(typo, f"unknown key (did you mean `{key}`?)")

    @model_validator(mode="after")
    def _queued_fit_the_parameters(self) -> ExperimentSection:
        """Each queued entry is assignments a suggestion of this definition could have,
        checked by the service's own rules (a bad definition is the loader's to report)."""
        if not self.queued or self.id is not None:
            return self
        if self.tasks:  # a multitask entry needs its task, which queueing does not send yet
            raise Invalid("queued", "cannot be combined with `tasks` (multitask) yet")
        try:
            new = validate_experiment_create(self.definition(1, "check"))
        except InvalidRequest:
            return self
        experiment = Experiment(id="0", **new.model_dump())
        for i, entry in enumerate(self.queued):
            try:
                validate_assignments(experiment, entry.assignments)
            except InvalidField as exc:
                raise Invalid(f"queued[{i}].{exc.field}", exc.reason) from exc
        return self

    def queued_assignments(self) -> list[dict[str, Any]]:
        """The `queued` entries' assignments, in order (none when there are none)."""
        return [dict(entry.assignments) for entry in self.queued or []]

    def definition(self, workers: int, run_id: str) -> dict[str, Any]:
        """The body of `POST /experiments`, with the run's id in the metadata (`queued` is
        sent after it, as queued suggestions)."""
        body = self.model_dump(exclude_none=True, exclude={"id", "queued"})
        body["parallel_bandwidth"] = self.parallel_bandwidth or workers
        body["metadata"] = {**(self.metadata or {}), "orchestrator_run_id": run_id}
        return body


class ClusterSection(Section):
    """`workers.cluster`: a Dask cluster class the run starts, and its size."""

    #: Any importable Dask cluster class, "package.module.Class" (or "package.module:Class").
    class_: str = Field(alias="class", min_length=1)
    #: Keyword arguments of the class (for SLURMCluster: cores, memory, queue, walltime ...).
    options: dict[str, Any] = Field(default_factory=dict)
    #: How many Dask workers to ask for; None: `workers.count`.
    scale: int | None = Field(default=None, ge=1)


class WorkersSection(Section):
    #: One of `workers.kinds.KINDS`; each kind checks the keys below it needs (`_kind_needs`).
    kind: KindName
    count: int = Field(ge=1, le=4096)
    #: subprocess: an argv template, e.g. ["{python}", "train.py", "--lr", "{lr}"]; `{python}`
    #: is the interpreter running the orchestrator.
    command: list[str] | None = None
    #: async and process: "package.module:function".
    function: str | None = None
    #: Seconds per evaluation; past it the evaluation is killed and reported failed.
    timeout: float | None = Field(default=None, gt=0)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: Path | None = None
    #: subprocess: run `command` (one string) through /bin/sh; values are shell-quoted.
    shell: bool = False
    #: How often an evaluation is re-run after an infrastructure fault (lost worker).
    max_retries: int = Field(default=2, ge=0, le=100)
    #: dask: a running scheduler's address, `tcp://host:8786`; absent, the run starts
    #: `cluster`, else a LocalCluster of `count` processes with one thread each.
    scheduler: str | None = None
    #: dask: the cluster to start, e.g. `{class: dask_jobqueue.SLURMCluster, options:
    #: {...}, scale: 16}`.
    cluster: ClusterSection | None = None
    #: dask: the Dask worker resources each evaluation holds, e.g. `{GPU: 1}`.
    resources: dict[str, float] = Field(default_factory=dict)
    #: GPU ids shared out among running evaluations, or `auto` (`CUDA_VISIBLE_DEVICES`,
    #: else `nvidia-smi -L`, else none), resolved to the ids when the config is read.
    gpus: list[NonNegativeInt] | None = None
    #: GPUs each running evaluation holds alone; None: 1 when `gpus` are given.
    gpus_per_evaluation: int | None = Field(default=None, ge=1)
    #: Cores each running evaluation is pinned to alone (and its BLAS/OpenMP threads).
    cpus_per_evaluation: int | None = Field(default=None, ge=1)

    @field_validator("gpus", mode="before")
    @classmethod
    def _gpus_found(cls, gpus: Any) -> Any:
        if not isinstance(gpus, str):
            return gpus
        if gpus != "auto":
            raise Invalid("", f"must be a list of GPU ids or `auto`, got {gpus!r}")
        try:
            return list(detect_gpus(os.environ))
        except ValueError as exc:
            raise Invalid("", str(exc)) from exc

    def worker_kind(self) -> WorkerKind:
        """The descriptor of `kind`: what it needs, how it is checked and built."""
        return worker_kind(self.kind)

    def settings(self, *, kill_grace_s: float = 5.0) -> WorkerSettings:
        """The plain values the kind reads (`OrchestratorConfig.worker_settings` adds the
        configured kill grace)."""
        return WorkerSettings(
            count=self.count,
            command=self.command,
            function=self.function,
            env=self.env,
            cwd=self.cwd,
            shell=self.shell,
            kill_grace_s=kill_grace_s,
            scheduler=self.scheduler,
            cluster_class=self.cluster.class_ if self.cluster else None,
            cluster_options=self.cluster.options if self.cluster else {},
            cluster_scale=self.cluster.scale if self.cluster else None,
            resources=self.resources,
            gpus=tuple(self.gpus or ()),
            # `auto` that found none: the run shares no GPUs (the config runs anywhere).
            gpus_per_evaluation=None if self.gpus == [] else self.gpus_per_evaluation,
            cpus_per_evaluation=self.cpus_per_evaluation,
        )

    @model_validator(mode="after")
    def _kind_needs(self) -> WorkersSection:
        if not self.worker_kind().uses_cluster:
            for key in ("scheduler", "cluster", "resources"):
                if getattr(self, key):
                    raise Invalid(
                        key, f"is for kind `dask`; kind `{self.kind}` runs on this machine"
                    )
        try:
            self.worker_kind().check_settings(self.settings())
        except InvalidSetting as exc:
            raise Invalid(exc.field, str(exc)) from exc
        return self

    @model_validator(mode="after")
    def _resources_fit(self) -> WorkersSection:
        """`count` evaluations at once fit the GPUs and cores (the error says the numbers)."""
        if self.worker_kind().uses_cluster:
            for key in ("gpus", "gpus_per_evaluation", "cpus_per_evaluation"):
                if getattr(self, key) is not None:
                    raise Invalid(
                        key,
                        "shares this machine's GPUs and cores out; on a cluster use `resources`",
                    )
        if self.gpus and CUDA_ENV in self.env:
            raise Invalid(
                "env", f"sets {CUDA_ENV}, which `gpus` hands out per evaluation: drop one of them"
            )
        try:
            plan_resources(self.settings())
        except InvalidSetting as exc:
            raise Invalid(exc.field, str(exc)) from exc
        return self


class RetrySection(Section):
    """`RetryPolicy`, whose defaults these are: a config and a library user get the same."""

    max_attempts: int = Field(default=RetryPolicy.max_attempts, ge=1, le=100)
    max_total_s: float = Field(default=RetryPolicy.max_total_s, gt=0)
    initial_backoff_s: float = Field(default=RetryPolicy.initial_backoff_s, ge=0)
    max_backoff_s: float = Field(default=RetryPolicy.max_backoff_s, ge=0)
    retry_server_errors: bool = RetryPolicy.retry_server_errors


class FailuresSection(Section):
    """The breaker: the run ends when evaluations keep failing (a broken objective)."""

    max_consecutive: int | None = Field(default=10, ge=1)
    max_fraction: float | None = Field(default=0.5, gt=0, le=1)
    #: `max_fraction` applies once this many evaluations have finished.
    min_finished: int = Field(default=10, ge=1)


class LoggingSection(Section):
    format: Literal["auto", "json", "console"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"


class TimeoutsSection(Section):
    connect_s: float = Field(default=10.0, gt=0)
    request_s: float = Field(default=60.0, gt=0)
    #: After the first stop signal, how long running evaluations may finish.
    drain_s: float = Field(default=300.0, ge=0)
    #: Between SIGTERM and SIGKILL of an evaluation's process group.
    kill_grace_s: float = Field(default=5.0, ge=0)


class RunSection(Section):
    #: Run name; None: the config file's stem. Restarting with the same name resumes.
    name: str | None = None
    #: Where run folders go (relative paths are relative to the working directory).
    dir: Path = Path("runs")
    #: What happens to suggestions whose evaluation was cancelled by a stop.
    on_stop: Literal["leave_open", "delete"] = "leave_open"

    @field_validator("name")
    @classmethod
    def _name_is_a_folder_name(cls, value: str | None) -> str | None:
        if value is not None and (
            not re.fullmatch(r"[A-Za-z0-9._-]+", value) or value in (".", "..")
        ):
            raise ValueError(
                f"must be letters, digits, '.', '_' or '-' (it names the run folder), got {value!r}"
            )
        return value


class OrchestratorConfig(Section):
    service: ServiceSection = Field(default_factory=ServiceSection)
    experiment: ExperimentSection
    workers: WorkersSection
    retry: RetrySection = Field(default_factory=RetrySection)
    failures: FailuresSection = Field(default_factory=FailuresSection)
    logging: LoggingSection = Field(default_factory=LoggingSection)
    timeouts: TimeoutsSection = Field(default_factory=TimeoutsSection)
    run: RunSection = Field(default_factory=RunSection)
    #: The file this came from (set by `load_config`), for messages and defaults.
    source: Path | None = None

    def run_name(self) -> str:
        return self.run.name or (self.source.stem if self.source else "run")

    def run_dir(self) -> Path:
        return self.run.dir / self.run_name()

    def service_db(self) -> Path:
        return self.service.db or self.run_dir() / "service.db"

    def import_path(self) -> tuple[Path, ...]:
        """Where a `function`'s module is looked for before the working directory:
        `workers.cwd`, then the config file's folder (absolute, so a worker that changes
        directory finds them still)."""
        folders = [self.workers.cwd, self.source.parent if self.source else None]
        return tuple(dict.fromkeys(f.absolute() for f in folders if f is not None))

    def worker_settings(self) -> WorkerSettings:
        """What the worker kind is built from: the `workers` section, the kill grace and
        the import path."""
        return dataclasses.replace(
            self.workers.settings(kill_grace_s=self.timeouts.kill_grace_s),
            import_path=self.import_path(),
        )
