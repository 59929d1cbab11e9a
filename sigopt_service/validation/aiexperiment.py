"""AI experiment bodies (`POST /clients/{id}/projects/{p}/aiexperiments`,
`PUT /aiexperiments/{id}`): a classic experiment's body whose budget is called `budget`
(sigopt-server's `get_budget_param` for `runs_only`), checked by the very same rules.

An AI experiment is a classic experiment with `runs_only` set and a project: one
optimizer, one budget (`observation_budget` in the store, `budget` on the wire). Keys
that only classic experiments have (`observation_budget`, `development`, `runs_only`,
`project` in the body) are refused, naming the key; an error about the budget names
`budget`, the key the client sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sigopt_service.models import Experiment
from sigopt_service.store import NewExperiment
from sigopt_service.validation._common import InvalidField, guarded
from sigopt_service.validation.experiment import (
    validate_experiment_create,
    validate_experiment_update,
)

__all__ = ["validate_aiexperiment_create", "validate_aiexperiment_update"]

_CLASSIC = "observation_budget"
_BUDGET = "budget"


def _refuse_classic_keys(body: Mapping[str, Any], *, creating: bool) -> None:
    if _CLASSIC in body:
        raise InvalidField(
            f"{_CLASSIC} is no longer a valid field, please use {_BUDGET} instead.",
            field=_CLASSIC,
            code="unknown_key",
        )
    refused = ("development", "runs_only", "project") if creating else ("project",)
    for key in refused:
        if key in body:
            raise InvalidField(
                f"`{key}` is not a valid field of an AI experiment"
                + (" (its project is the one in the path)" if key == "project" else ""),
                field=key,
                code="unknown_key",
            )


def _classic_body(body: Mapping[str, Any]) -> dict[str, Any]:
    translated = {k: v for k, v in body.items() if k != _BUDGET}
    if _BUDGET in body:
        translated[_CLASSIC] = body[_BUDGET]
    return translated


def _as_budget(exc: InvalidField) -> InvalidField:
    """The error of the classic rules, about the key the client sent."""
    if not (exc.field or "").startswith(_CLASSIC):
        return exc
    return InvalidField(
        exc.message.replace(_CLASSIC, _BUDGET),
        field=_BUDGET + (exc.field or "")[len(_CLASSIC) :],
        code=exc.code,
        reason=exc.reason.replace(_CLASSIC, _BUDGET),
    )


def _named_metrics(body: Mapping[str, Any]) -> None:
    """Every metric of an AI experiment has a name (sigopt-server's `get_metric_name`)."""
    metrics = body.get("metrics")
    if not metrics:
        raise InvalidField(
            "AI experiments must have at least 1 metric.", field="metrics", code="missing_key"
        )
    if isinstance(metrics, list):
        for i, metric in enumerate(metrics):
            if isinstance(metric, Mapping) and metric.get("name") is None:
                raise InvalidField(
                    "All metrics require a name", field=f"metrics[{i}].name", code="missing_key"
                )


@guarded
def validate_aiexperiment_create(body: Mapping[str, Any], project: str) -> NewExperiment:
    _refuse_classic_keys(body, creating=True)
    _named_metrics(body)
    try:
        new = validate_experiment_create(_classic_body(body))
    except InvalidField as exc:
        raise _as_budget(exc) from exc
    return new.model_copy(update={"project": project, "runs_only": True})


@guarded
def validate_aiexperiment_update(experiment: Experiment, body: Mapping[str, Any]) -> dict[str, Any]:
    """The store changes, as `validate_experiment_update` makes them."""
    _refuse_classic_keys(body, creating=False)
    try:
        return validate_experiment_update(experiment, _classic_body(body))
    except InvalidField as exc:
        raise _as_budget(exc) from exc
