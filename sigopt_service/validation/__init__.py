"""Request validation: raw JSON from a client in, validated store inputs out.

One module per resource: `experiment` (with `parameter`), `observation`, `suggestion`,
and `metadata` / `assignments`, which the others share. Structure is checked by strict
pydantic body models (unknown keys, types; the OpenAPI document shows them); the
cross-field rules SigOpt adds on top are checked by hand, where pydantic has no
vocabulary. Every breach raises an `InvalidField` (an `InvalidRequest`) carrying the key
path (`field`), a stable `code` and the bare `reason`, so callers map errors by field,
never by message text. Query strings and the JSON text itself are the HTTP layer's.
"""

from __future__ import annotations

from sigopt_service.validation._common import InvalidField, key_path, parse_id
from sigopt_service.validation.assignments import validate_assignments
from sigopt_service.validation.experiment import (
    ExperimentCreateBody,
    ExperimentUpdateBody,
    MetricBody,
    validate_experiment_create,
    validate_experiment_update,
)
from sigopt_service.validation.metadata import (
    METADATA_JSON_SCHEMA,
    MetadataBody,
    validate_metadata,
)
from sigopt_service.validation.observation import (
    NextSuggestionBody,
    ObservationBody,
    ObservationUpdateBody,
    ValueBody,
    validate_observation_batch,
    validate_observation_create,
    validate_observation_update,
    validate_observation_with_next,
)
from sigopt_service.validation.parameter import BoundsBody, CategoricalBody, ParameterBody
from sigopt_service.validation.suggestion import (
    SuggestionCreateBody,
    SuggestionUpdateBody,
    suggestion_task,
    validate_suggestion_create,
    validate_suggestion_update,
)

__all__ = [
    "METADATA_JSON_SCHEMA",
    "BoundsBody",
    "CategoricalBody",
    "ExperimentCreateBody",
    "ExperimentUpdateBody",
    "InvalidField",
    "MetadataBody",
    "MetricBody",
    "NextSuggestionBody",
    "ObservationBody",
    "ObservationUpdateBody",
    "ParameterBody",
    "SuggestionCreateBody",
    "SuggestionUpdateBody",
    "ValueBody",
    "key_path",
    "parse_id",
    "suggestion_task",
    "validate_assignments",
    "validate_experiment_create",
    "validate_experiment_update",
    "validate_metadata",
    "validate_observation_batch",
    "validate_observation_create",
    "validate_observation_update",
    "validate_observation_with_next",
    "validate_suggestion_create",
    "validate_suggestion_update",
]
