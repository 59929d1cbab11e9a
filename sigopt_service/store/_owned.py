"""Copies of models that share no mutable container with the original: how `CachingStore`
hands out what it caches as snapshots, cheaper than a deep copy."""

from __future__ import annotations

from typing import Any

from sigopt_service.models import Experiment, Observation, Parameter


def owned_experiment(experiment: Experiment) -> Experiment:
    """A copy sharing no mutable container with `experiment`, so a caller may mutate it.

    Frozen models holding only plain values (metrics, bounds, categorical values) are
    shared; every list and dict is new. Built on a shallow copy whose `__dict__` (its
    own, fresh) gets new containers: a deep copy, or `model_copy(update=...)` per
    parameter, would cost several times as much on every suggest and observe.
    """
    copied = experiment.model_copy()
    fields = copied.__dict__
    fields["parameters"] = [_owned_parameter(p) for p in experiment.parameters]
    fields["metrics"] = list(experiment.metrics)
    fields["conditionals"] = _plain_copy(experiment.conditionals)
    fields["linear_constraints"] = _plain_copy(experiment.linear_constraints)
    if experiment.metadata is not None:
        fields["metadata"] = dict(experiment.metadata)
    if experiment.progress is not None:
        fields["progress"] = experiment.progress.model_copy(deep=True)
    return copied


def _owned_parameter(parameter: Parameter) -> Parameter:
    copied = parameter.model_copy()
    fields = copied.__dict__
    if parameter.categorical_values is not None:
        fields["categorical_values"] = list(parameter.categorical_values)
    if parameter.grid is not None:
        fields["grid"] = list(parameter.grid)
    fields["conditions"] = {k: list(v) for k, v in parameter.conditions.items()}
    if parameter.prior is not None:
        fields["prior"] = _plain_copy(parameter.prior)
    return copied


def _plain_copy(value: Any) -> Any:
    """A copy of JSON-like data (lists, dicts, scalars): new containers, shared scalars."""
    if isinstance(value, list):
        return [_plain_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain_copy(v) for k, v in value.items()}
    return value


def owned_observation(observation: Observation) -> Observation:
    """A copy sharing no mutable container with `observation` (see `owned_experiment`)."""
    copied = observation.model_copy()
    fields = copied.__dict__
    fields["assignments"] = dict(observation.assignments)
    fields["values"] = list(observation.values)
    if observation.metadata is not None:
        fields["metadata"] = dict(observation.metadata)
    return copied
