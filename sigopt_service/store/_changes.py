"""Helpers every store shares, written once so each store checks and stores alike: the
one-observation-per-suggestion rule, update changes as plain data, the time stamps."""

from __future__ import annotations

import time
from collections.abc import Mapping
from enum import Enum
from typing import Any

from pydantic import BaseModel

from sigopt_service.errors import AlreadyObserved
from sigopt_service.store.base import OBSERVATION_UPDATABLE


def check_observed_once(
    suggestion_id: int, experiment_id: int, named: set[int], *, closed: bool
) -> None:
    """The one-observation-per-suggestion rule: `named` collects the batch's suggestions
    so far; raises `AlreadyObserved`."""
    if suggestion_id in named:
        raise AlreadyObserved(suggestion_id, experiment_id, in_batch=True)
    named.add(suggestion_id)
    if closed:
        raise AlreadyObserved(suggestion_id, experiment_id, in_batch=False)


def observation_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """`update_observation`'s changes checked (`check_update_keys`, and no move onto a
    suggestion that sets assignments too: the caller's bug, hence ValueError) and as plain
    data (`plain_changes`; `values` None means no values)."""
    check_update_keys(changes, OBSERVATION_UPDATABLE)
    if "suggestion" in changes and "assignments" in changes:
        raise ValueError("Cannot update both suggestion and assignments")
    if "suggestion" in changes and not isinstance(changes["suggestion"], int):
        raise ValueError("suggestion must be a suggestion id")
    values = plain_changes(changes)
    if "values" in values and values["values"] is None:
        values["values"] = []
    return values


def now_s() -> int:
    """The creation and update time stamps: whole seconds since the epoch."""
    return int(time.time())


def check_update_keys(changes: Mapping[str, Any], allowed: frozenset[str]) -> None:
    """Refuse keys a store cannot update: the caller's bug, hence ValueError."""
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise ValueError(f"Cannot update {', '.join(unknown)}")


def plain_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """Plain data for `changes`, whose values may be models, enums or lists of models.

    Shared by the stores so an update stores the same thing whichever store runs.
    """
    return {key: _plain(value) for key, value in changes.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Enum):
        return value.value
    return value
