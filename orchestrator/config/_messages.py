"""Config error messages: the one pydantic error to report, as (key, message) with a
"did you mean" hint for typos."""

from __future__ import annotations

import difflib
from typing import Any

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
    return [name for name in model.model_fields if name != "source"]


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
