"""Loading a config: read the YAML file (numbers as YAML 1.2 reads them: `1e-5` is a number,
`_yaml.py`), validate it, apply the command-line overrides, and check the experiment
definition with the service's own validation and the worker's settings against its
parameters, so a bad definition fails before anything is sent to any service."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from orchestrator.config._messages import first_error, first_unknown_key, key_of
from orchestrator.config._yaml import ConfigLoader
from orchestrator.config.sections import OrchestratorConfig
from orchestrator.errors import ConfigError
from sigopt_service.errors import InvalidRequest
from sigopt_service.validation import (
    ExperimentCreateBody,
    InvalidField,
    MetricBody,
    validate_experiment_create,
)
from workers.base import InvalidSetting


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
        return yaml.load(text, Loader=ConfigLoader)  # a SafeLoader subclass
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
        key, msg = first_error(exc)
        raise ConfigError(msg, file=source, key=key) from exc
    _check_experiment_definition(config)
    if config.experiment.parameters is not None:
        names = [p.get("name") for p in config.experiment.parameters]
        # A conditional's value is an assignment too, so `{arch}` is a placeholder.
        names += [
            c.get("name") for c in config.experiment.conditionals or [] if isinstance(c, dict)
        ]
        check_parameters(config, [name for name in names if isinstance(name, str)])
    return config


def check_parameters(config: OrchestratorConfig, parameters: Collection[str]) -> None:
    """The worker's settings against the experiment's parameter names (a command's
    placeholders): from the file's definition at load time, or from the service for an
    existing experiment (`experiment.id`), before the run starts. Raises `ConfigError`."""
    try:
        config.workers.worker_kind().check_parameters(config.worker_settings(), parameters)
    except InvalidSetting as exc:
        raise ConfigError(str(exc), file=config.source, key=key_of("workers", exc.field)) from exc


def _experiment_error(exc: InvalidRequest) -> tuple[str, str]:
    """The service's error as (key under `experiment`, message), mapped by its `field`:
    the service's key path is the config's own (`parameters[2].bounds`: the config lists
    parameters in the order it sends them)."""
    reason = exc.reason if isinstance(exc, InvalidField) else exc.message
    if exc.field is None:
        return "experiment", reason
    return key_of("experiment", exc.field), reason


def _check_experiment_definition(config: OrchestratorConfig) -> None:
    """Run the service's own validation locally: a bad definition never reaches a service."""
    experiment = config.experiment
    if experiment.id is not None:
        return
    body = experiment.definition(config.workers.count, "check")
    # A misspelled key first, at any depth: it also makes the key it stands for missing,
    # and the service reports only its first error, often that one.
    try:
        ExperimentCreateBody.model_validate(body)
    except ValidationError as exc:
        typo = first_unknown_key(exc, ExperimentCreateBody, ("experiment",))
        if typo is not None:
            raise ConfigError(typo[1], file=config.source, key=typo[0]) from exc
    # The service reads a metric as `str | MetricBody` and reports the `str` branch's error
    # for a bad mapping; check mappings on their own for a message naming the bad field.
    for i, metric in enumerate(experiment.metrics or []):
        if isinstance(metric, Mapping):
            try:
                MetricBody.model_validate(metric, strict=True)
            except ValidationError as exc:
                key, msg = first_error(exc, ("experiment", "metrics", i))
                raise ConfigError(msg, file=config.source, key=key) from exc
    try:
        validate_experiment_create(body)
    except InvalidRequest as exc:
        key, msg = _experiment_error(exc)
        raise ConfigError(msg, file=config.source, key=key) from exc


def check_runnable(config: OrchestratorConfig) -> None:
    """Checks that look outside the file: the working directory exists, and the kind's
    own (the function imports, the command exists)."""
    workers, source = config.workers, config.source
    if workers.cwd is not None and not workers.cwd.is_dir():
        what = "is not a directory" if workers.cwd.exists() else "does not exist"
        raise ConfigError(f"directory {str(workers.cwd)!r} {what}", file=source, key="workers.cwd")
    try:
        workers.worker_kind().check_runnable(config.worker_settings())
    except InvalidSetting as exc:
        raise ConfigError(str(exc), file=source, key=key_of("workers", exc.field)) from exc


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
        # `service.url[1]`: an entry of the list `--api-url a,b` set.
        flag = flags.get((exc.key or "").split("[")[0])
        if flag is not None:
            raise ConfigError(f"{exc.message} (set by {flag})", file=path, key=exc.key) from exc
        raise
    if check:
        check_runnable(config)
    return config
