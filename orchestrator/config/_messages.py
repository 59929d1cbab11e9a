"""Config error messages: the one pydantic error to report, as (key, message) with a
"did you mean" hint for typos."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from orchestrator.config.sections import Invalid, OrchestratorConfig


def key_of(*parts: int | str) -> str:
    """`("workers", "command", 0)` -> `workers.command[0]`; empty parts are skipped."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part:
            out += f".{part}" if out and not part.startswith("[") else part
    return out


def fields_at(loc: tuple[int | str, ...]) -> list[str]:
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
    # A field read under an alias (`service.url` fills `urls`) is written as its alias.
    return [field.alias or name for name, field in model.model_fields.items() if name != "source"]


def did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""


def got(value: Any) -> str:
    text = "null" if value is None else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def first_error(exc: ValidationError, prefix: tuple[int | str, ...] = ()) -> tuple[str, str]:
    """The one error to report: an unknown key first (a typo usually also makes a required
    key "missing"), else the first one pydantic found."""
    errors = exc.errors()
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = (*prefix, *err["loc"])
    kind, value = err["type"], err.get("input")
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, Invalid):
        return key_of(*loc, cause.field) or "(top level)", str(cause)
    key = key_of(*loc) or "(top level)"
    if kind == "extra_forbidden":
        return key, "unknown key" + did_you_mean(str(loc[-1]), fields_at(tuple(loc[:-1])))
    if kind == "missing":
        return key, "required key is missing"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return key, f"must be a mapping of keys to values, got {got(value)}"
    msg = str(err["msg"]).removeprefix("Value error, ")
    if kind == "string_type" and isinstance(value, int | float | bool):
        return key, f"{msg}, got {got(value)} (quote it in YAML: '{value}')"
    if kind == "value_error":
        return key, msg
    return key, f"{msg}, got {got(value)}"


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models a field's annotation can hold: `list[str | MetricBody] | None` -> MetricBody."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in _models_in(arg)]


def _unknown_key_at(
    model: type[BaseModel], loc: Sequence[int | str]
) -> tuple[list[int | str], list[str]]:
    """An unknown key's location under `model` as the user wrote it (pydantic's union
    branch tags such as `MetricBody` left out), and the keys its mapping accepts."""
    models, path = [model], []
    for part in loc[:-1]:
        if isinstance(part, str):
            owner = next((m for m in models if part in m.model_fields), None)
            if owner is not None:
                models = _models_in(owner.model_fields[part].annotation)
            elif any(m.__name__ == part for m in models):
                # A union's branch: pydantic names it, the file does not.
                models = [m for m in models if m.__name__ == part]
                continue
        path.append(part)
    choices = [name for m in models for name in m.model_fields if name not in ("object", "source")]
    return [*path, loc[-1]], choices


def first_unknown_key(
    exc: ValidationError, model: type[BaseModel], prefix: tuple[int | str, ...] = ()
) -> tuple[str, str] | None:
    """The first unknown key `exc` found at any depth of `model` (a parameter's, its
    bounds', a metric's), as (key, "unknown key (did you mean ...)"); None if there is none.

    Picked by pydantic's error type, not its message: a misspelled key also makes the key it
    stands for "missing", and the service reports the first error, often that one."""
    for err in exc.errors():
        if err["type"] == "extra_forbidden" and err["loc"]:
            path, choices = _unknown_key_at(model, err["loc"])
            return key_of(*prefix, *path), "unknown key" + did_you_mean(str(path[-1]), choices)
    return None
