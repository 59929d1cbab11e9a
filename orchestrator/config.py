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

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from orchestrator.client import RetryPolicy
from orchestrator.errors import ConfigError
from sigopt_service.errors import InvalidRequest
from sigopt_service.request_models import (
    BoundsBody,
    ExperimentCreateBody,
    MetricBody,
    ParameterBody,
)
from sigopt_service.validate_experiment import validate_experiment_create
from workers.errors import BrokenWorker
from workers.subprocess import check_executable


class Invalid(ValueError):
    """A cross-field check failed; `field` is the offending key, relative to its section."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


#: Where the API token is read from unless `service.token_env` names another variable.
DEFAULT_TOKEN_ENV = "SIGOPT_API_TOKEN"


class ServiceSection(Section):
    #: Base URL of a SigOpt-compatible service (without /v1). None: start the embedded one.
    url: str | None = None
    #: SQLite file of the embedded service; None: `<run dir>/service.db`.
    db: Path | None = None
    #: The environment variable holding the API token (read at start, never written).
    token_env: str = DEFAULT_TOKEN_ENV

    @model_validator(mode="after")
    def _url_shape(self) -> ServiceSection:
        if self.url is not None:
            if not self.url.startswith(("http://", "https://")):
                raise Invalid("url", f"must start with http:// or https://, got {self.url!r}")
            if self.url.rstrip("/").endswith("/v1"):
                raise Invalid(
                    "url", f"must not end in /v1 (the client appends it), got {self.url!r}"
                )
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
                raise Invalid(
                    "command",
                    "kind `subprocess` needs `command`, an argv list such as "
                    '["python", "train.py", "--lr", "{lr}"]',
                )
            if self.function is not None:
                raise Invalid(
                    "function",
                    "is for kinds `async` and `process`; kind `subprocess` runs `command`",
                )
            if self.shell and len(self.command) != 1:
                raise Invalid(
                    "command",
                    f"with `shell: true`, `command` must be one string, got {len(self.command)} "
                    "argv elements",
                )
            for i, arg in enumerate(self.command):
                if not arg:
                    raise Invalid(f"command[{i}]", "must not be empty")
        else:
            if self.command is not None:
                raise Invalid(
                    "command", f"is for kind `subprocess`; kind `{self.kind}` runs `function`"
                )
            if not self.function:
                raise Invalid(
                    "function", f'kind `{self.kind}` needs `function`: "package.module:function"'
                )
            module, sep, attr = self.function.partition(":")
            if not (module and sep and attr):
                raise Invalid(
                    "function", f"must look like package.module:function, got {self.function!r}"
                )
            if self.shell:
                raise Invalid("shell", f"is for kind `subprocess`, not `{self.kind}`")
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


def _key(*parts: int | str) -> str:
    """`("workers", "command", 0)` -> `workers.command[0]`; empty parts are skipped."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part:
            out += f".{part}" if out and not part.startswith("[") else part
    return out


def _fields_at(loc: tuple[int | str, ...]) -> list[str]:
    """The keys the section at `loc` accepts, for "did you mean" hints (empty if unknown)."""
    model: type[BaseModel] = OrchestratorConfig
    for part in loc:
        if isinstance(part, int):
            return []
        field = model.model_fields.get(part)
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return [name for name in model.model_fields if name != "source"]


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def _got(value: Any) -> str:
    text = "null" if value is None else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _first_error(exc: ValidationError, prefix: tuple[int | str, ...] = ()) -> tuple[str, str]:
    """The one error to report: an unknown key first (a typo usually also makes a required
    key "missing"), else the first one pydantic found."""
    errors = exc.errors()
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = (*prefix, *err["loc"])
    kind, value = err["type"], err.get("input")
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, Invalid):
        return _key(*loc, cause.field) or "(top level)", str(cause)
    key = _key(*loc) or "(top level)"
    if kind == "extra_forbidden":
        return key, "unknown key" + _did_you_mean(str(loc[-1]), _fields_at(tuple(loc[:-1])))
    if kind == "missing":
        return key, "required key is missing"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return key, f"must be a mapping of keys to values, got {_got(value)}"
    msg = str(err["msg"]).removeprefix("Value error, ")
    if kind == "string_type" and isinstance(value, int | float | bool):
        return key, f"{msg}, got {_got(value)} (quote it in YAML: '{value}')"
    if kind == "value_error":
        return key, msg
    return key, f"{msg}, got {_got(value)}"


def _load_yaml(path: Path) -> Any:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError("file not found", file=path) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a YAML file", file=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"cannot read: {reason}", file=path) from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        if "\t" in problem or "'\\t'" in problem:
            problem += " (indent with spaces, not tabs)"
        elif "mapping values are not allowed" in problem:
            problem += " (check the indentation, or quote a value that contains ': ')"
        raise ConfigError(f"invalid YAML{where}: {problem}", file=path) from exc


def parse_config(raw: Any, source: Path | None = None) -> OrchestratorConfig:
    """Validate the loaded YAML: the first problem becomes one `ConfigError` naming its key."""
    if raw is None:
        raise ConfigError(
            "the file is empty; it needs `experiment` and `workers` sections", file=source
        )
    if not isinstance(raw, Mapping):
        raise ConfigError(
            "the file must hold a mapping with `experiment` and `workers` sections, "
            f"not a {type(raw).__name__}",
            file=source,
        )
    if "source" in raw:
        raise ConfigError("unknown key", file=source, key="source")
    try:
        config = OrchestratorConfig.model_validate({**raw, "source": source})
    except ValidationError as exc:
        key, msg = _first_error(exc)
        raise ConfigError(msg, file=source, key=key) from exc
    _check_experiment_definition(config)
    return config


# The service's messages name the offending field in backticks (service/validation*.py).
_UNKNOWN = re.compile(r"Unknown json keys `([^`]+)` in: (.+)")
_MISSING = re.compile(r"Missing required json key `([^`]+)`")
_INVALID = re.compile(r"Invalid value for `([^`]+)`: (.+)", re.DOTALL)
_KEY_PATH = re.compile(r"[A-Za-z_]\w*(?:\[\d+\]|\.[A-Za-z_]\w*)*")
_SERVICE_MODELS: dict[str, type[BaseModel]] = {
    "": ExperimentCreateBody,
    "parameters": ParameterBody,
    "bounds": BoundsBody,
    "metrics": MetricBody,
}


def _service_fields(parent: str) -> list[str]:
    last = re.sub(r"\[\d+\]$", "", parent.rsplit(".", 1)[-1])
    model = _SERVICE_MODELS.get(last)
    return [name for name in model.model_fields if name != "object"] if model else []


def _named(kind: str, items: list[Any] | None, message: str) -> int | None:
    """The index of the parameter or metric a message names ("Parameter x must ...")."""
    for i, item in enumerate(items or []):
        name = item.get("name") if isinstance(item, Mapping) else item
        if not isinstance(name, str) or not name:
            continue
        n = re.escape(name)
        if re.search(rf"\b{kind} {n}(?=[\s:,.(]|$)|{kind}s? .*: {n}$", message, re.IGNORECASE):
            return i
    return None


def _experiment_error(message: str, experiment: ExperimentSection) -> tuple[str, str]:
    """Turn the service's message into (key under `experiment`, message)."""
    if m := _UNKNOWN.fullmatch(message):
        parent = "" if m[2] == "the request body" else m[2]
        hint = _did_you_mean(m[1], _service_fields(parent))
        return _key("experiment", parent, m[1]), "unknown key" + hint
    if m := _MISSING.fullmatch(message):
        return _key("experiment", m[1]), "required key is missing"
    if m := _INVALID.fullmatch(message):
        return _key("experiment", m[1]), m[2]
    fields = [f for f in re.findall(r"`([^`]+)`", message) if _KEY_PATH.fullmatch(f)]
    if m := re.fullmatch(r"Duplicate parameter names: (.+)", message):
        first = m[1].split(", ")[0]
        names = [p.get("name") for p in experiment.parameters or []]
        second = [i for i, n in enumerate(names) if n == first][1:2]
        where = f"parameters[{second[0]}].name" if second else "parameters"
        return _key("experiment", where), f"duplicate parameter name {first!r}"
    if message.startswith(("Duplicate metric names", "Every metric must have a `name`")):
        return "experiment.metrics", message
    if message.startswith("Experiments must have at least one parameter"):
        return "experiment.parameters", "must list at least one parameter"
    for kind, items in (("parameter", experiment.parameters), ("metric", experiment.metrics)):
        i = _named(kind, items, message)
        if i is not None:
            field = next((f for f in fields if not f.startswith(f"{kind}s")), "")
            if not field and "transformation" in message:
                field = "transformation"
            return _key("experiment", f"{kind}s", i, field), message
    if fields:
        return _key("experiment", fields[0]), message
    return "experiment", message


def _check_experiment_definition(config: OrchestratorConfig) -> None:
    """Run the service's own validation locally: a bad definition never reaches a service."""
    experiment = config.experiment
    if experiment.id is not None:
        return
    # The service reads a metric as `str | MetricBody` and reports the `str` branch's error
    # for a bad mapping; check mappings on their own for a message naming the bad field.
    for i, metric in enumerate(experiment.metrics or []):
        if isinstance(metric, Mapping):
            try:
                MetricBody.model_validate(metric, strict=True)
            except ValidationError as exc:
                key, msg = _first_error(exc, ("experiment", "metrics", i))
                if msg == "unknown key":
                    msg += _did_you_mean(key.rsplit(".", 1)[-1], _service_fields("metrics"))
                raise ConfigError(msg, file=config.source, key=key) from exc
    body = experiment.definition(config.workers.count, "check")
    try:
        validate_experiment_create(body)
    except InvalidRequest as exc:
        key, msg = _experiment_error(exc.message, experiment)
        raise ConfigError(msg, file=config.source, key=key) from exc


_PYTHON = re.compile(r"python[\d.]*(\.exe)?")


def check_runnable(config: OrchestratorConfig) -> None:
    """Checks that look outside the file: the function imports, the command exists."""
    workers, source = config.workers, config.source
    if workers.cwd is not None and not workers.cwd.is_dir():
        what = "is not a directory" if workers.cwd.exists() else "does not exist"
        raise ConfigError(f"directory {str(workers.cwd)!r} {what}", file=source, key="workers.cwd")
    if workers.kind == "subprocess" and workers.command and not workers.shell:
        base = workers.cwd or Path.cwd()
        program = workers.command[0]
        try:
            # With the environment the command will get, not the orchestrator's alone.
            check_executable(program, {**os.environ, **workers.env}, workers.cwd)
        except BrokenWorker as exc:
            raise ConfigError(str(exc), file=source, key="workers.command[0]") from exc
        # `python train.py ...`: a missing script would fail every evaluation; say so now.
        if len(workers.command) > 1 and _PYTHON.fullmatch(Path(program).name):
            script = workers.command[1]
            if script.endswith(".py") and "{" not in script and not (base / script).is_file():
                raise ConfigError(
                    f"script {script!r} does not exist (looked for {str(base / script)!r})",
                    file=source,
                    key="workers.command[1]",
                )
    if workers.kind in ("async", "process") and workers.function:
        from workers.async_function import import_target

        try:
            import_target(workers.function)
        except BrokenWorker as exc:
            raise ConfigError(str(exc), file=source, key="workers.function") from exc


def _override(raw: Any, section: str, key: str, value: Any) -> None:
    current = raw.get(section)
    raw[section] = {**(current if isinstance(current, Mapping) else {}), key: value}


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
    flags: dict[str, str] = {}
    if isinstance(raw, Mapping):
        raw = dict(raw)
        if workers is not None:
            _override(raw, "workers", "count", workers)
            flags["workers.count"] = "--workers"
        if api_url is not None:
            _override(raw, "service", "url", api_url)
            flags["service.url"] = "--api-url"
        if experiment_id is not None:
            raw["experiment"] = {"id": experiment_id}
            flags["experiment.id"] = "--experiment-id"
    try:
        config = parse_config(raw, path)
    except ConfigError as exc:
        if exc.key in flags:
            raise ConfigError(
                f"{exc.message} (set by {flags[exc.key]})", file=path, key=exc.key
            ) from exc
        raise
    if check:
        check_runnable(config)
    return config
