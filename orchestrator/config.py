"""The run's configuration: one YAML file, validated with pydantic, plus command-line overrides.

```python
config = load_config(Path("configs/quickstart.yaml"), workers=8)   # raises ConfigError
```
Only this module and `cli.py` read files, the environment or flags; everything else gets
its section of the config through its constructor. Every error is a `ConfigError` whose
message names the key and the file (`configs/x.yaml: workers.count: ...`). An experiment
definition is checked here with the service's own validation, so a bad definition fails
before anything is sent to any service.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from orchestrator.errors import ConfigError
from service.errors import InvalidRequest
from service.validation import validate_experiment_create


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ServiceSection(Section):
    #: Base URL of a SigOpt-compatible service (without /v1). None: start the embedded one.
    url: str | None = None
    #: SQLite file of the embedded service; None: `<run dir>/service.db`.
    db: Path | None = None
    #: The environment variable holding the API token (read at start, never written).
    token_env: str = "SIGOPT_API_TOKEN"

    @model_validator(mode="after")
    def _url_shape(self) -> ServiceSection:
        if self.url is not None:
            if not self.url.startswith(("http://", "https://")):
                raise ValueError(f"url must start with http:// or https://, got {self.url!r}")
            if self.url.rstrip("/").endswith("/v1"):
                raise ValueError("url must not end in /v1: the client appends it")
        return self


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

    @model_validator(mode="after")
    def _id_or_definition(self) -> ExperimentSection:
        if self.id is None and (self.name is None or self.parameters is None):
            raise ValueError(
                "give either `id` of an existing experiment, or a definition "
                "with `name`, `parameters` and `observation_budget`"
            )
        if self.id is None and self.observation_budget is None:
            raise ValueError("`observation_budget` is required: it is when the run stops")
        if self.id is not None and (
            self.name
            or self.parameters
            or self.metrics
            or self.observation_budget
            or self.model_extra
        ):
            raise ValueError("give either `id` of an existing experiment or a definition, not both")
        if self.id is not None and not str(self.id).isdigit():
            raise ValueError(f"`id` must be a numeric experiment id, got {self.id!r}")
        return self

    def definition(self, workers: int, run_id: str) -> dict[str, Any]:
        """The body of `POST /experiments`, with the run's id in the metadata."""
        body = self.model_dump(exclude_none=True, exclude={"id"})
        body["parallel_bandwidth"] = self.parallel_bandwidth or workers
        body["metadata"] = {**(self.metadata or {}), "orchestrator_run_id": run_id}
        return body


WorkerKind = Literal["async", "process", "subprocess"]


class WorkersSection(Section):
    kind: WorkerKind
    count: int = Field(ge=1, le=4096)
    #: subprocess: an argv template, e.g. ["python", "train.py", "--lr", "{lr}"].
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

    @model_validator(mode="after")
    def _kind_needs(self) -> WorkersSection:
        if self.kind == "subprocess":
            if not self.command:
                raise ValueError(
                    "kind `subprocess` needs `command`, an argv list such as "
                    '["python", "train.py", "--lr", "{lr}"]'
                )
            if self.function is not None:
                raise ValueError("`function` is for kinds `async` and `process`, not subprocess")
            if self.shell and len(self.command) != 1:
                raise ValueError("with `shell: true`, `command` must be one string")
        else:
            if not self.function:
                raise ValueError(f'kind `{self.kind}` needs `function`: "package.module:function"')
            if self.command is not None:
                raise ValueError(f"`command` is for kind `subprocess`, not `{self.kind}`")
            if ":" not in self.function:
                raise ValueError(
                    f"`function` must look like package.module:function, got {self.function!r}"
                )
        return self


class RetrySection(Section):
    max_attempts: int = Field(default=8, ge=1, le=100)
    max_total_s: float = Field(default=120.0, gt=0)
    initial_backoff_s: float = Field(default=0.1, ge=0)
    max_backoff_s: float = Field(default=10.0, ge=0)
    retry_server_errors: bool = True


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
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]+$")
    #: Where run folders go (relative paths are relative to the working directory).
    dir: Path = Path("runs")
    #: What happens to suggestions whose evaluation was cancelled by a stop.
    on_stop: Literal["leave_open", "delete"] = "leave_open"


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


def _key(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _first_error(exc: ValidationError) -> tuple[str, str]:
    err = exc.errors()[0]
    key = _key(tuple(err["loc"]))
    if err["type"] == "extra_forbidden":
        return key, "unknown key"
    if err["type"] == "missing":
        return key, "required key is missing"
    msg = str(err["msg"]).removeprefix("Value error, ")
    return key, msg


def _load_yaml(path: Path) -> Any:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError("file not found", file=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=path) from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"invalid YAML{where}: {problem}", file=path) from exc


def parse_config(raw: Any, source: Path | None = None) -> OrchestratorConfig:
    if not isinstance(raw, Mapping):
        raise ConfigError(
            "the file must hold a mapping with `experiment` and `workers` sections", file=source
        )
    try:
        config = OrchestratorConfig.model_validate({**raw, "source": source})
    except ValidationError as exc:
        key, msg = _first_error(exc)
        raise ConfigError(msg, file=source, key=key) from exc
    if "source" in raw:
        raise ConfigError("unknown key", file=source, key="source")
    _check_experiment_definition(config)
    return config


def _check_experiment_definition(config: OrchestratorConfig) -> None:
    """Run the service's own validation locally: a bad definition never reaches a service."""
    if config.experiment.id is not None:
        return
    body = config.experiment.definition(config.workers.count, "check")
    try:
        validate_experiment_create(body)
    except InvalidRequest as exc:
        raise ConfigError(exc.message, file=config.source, key="experiment") from exc


def check_runnable(config: OrchestratorConfig) -> None:
    """Checks that look outside the file: the function imports, the command exists."""
    workers, source = config.workers, config.source
    if workers.cwd is not None and not workers.cwd.is_dir():
        raise ConfigError(
            f"directory {str(workers.cwd)!r} does not exist", file=source, key="workers.cwd"
        )
    if workers.kind == "subprocess" and workers.command and not workers.shell:
        program = workers.command[0]
        base = workers.cwd or Path.cwd()
        found = (
            shutil.which(program)
            if os.sep not in program
            else (str(base / program) if os.access(base / program, os.X_OK) else None)
        )
        if found is None:
            raise ConfigError(
                f"command {program!r} is not an executable on PATH",
                file=source,
                key="workers.command[0]",
            )
    if workers.kind in ("async", "process") and workers.function:
        from workers.async_function import import_target
        from workers.errors import BrokenWorker

        try:
            import_target(workers.function)
        except BrokenWorker as exc:
            raise ConfigError(str(exc), file=source, key="workers.function") from exc


def load_config(
    path: Path,
    *,
    workers: int | None = None,
    api_url: str | None = None,
    experiment_id: str | None = None,
    check: bool = True,
) -> OrchestratorConfig:
    """Read, validate and apply the command-line overrides (`--workers`, `--api-url`,
    `--experiment-id`), which win over the file."""
    raw = _load_yaml(path)
    if isinstance(raw, dict):
        raw = dict(raw)
        if workers is not None:
            raw["workers"] = {**(raw.get("workers") or {}), "count": workers}
        if api_url is not None:
            raw["service"] = {**(raw.get("service") or {}), "url": api_url}
        if experiment_id is not None:
            raw["experiment"] = {"id": experiment_id}
    config = parse_config(raw, path)
    if check:
        check_runnable(config)
    return config
