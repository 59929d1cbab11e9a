"""`update_observation` of the SQL stores inside an open transaction: new values, failed flag and
metadata, and the moves of the contract (`store/base.py`): onto another suggestion, whose
assignments it copies, or onto assignments of its own, dropping the suggestion.

The `closed` flag of a suggestion caches "some observation (deleted or not) references
it"; a move sets it on the suggestion moved onto and recomputes it on the one left.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sigopt_service.models import Observation
from sigopt_service.store.sql._dialect import SqlConnection
from sigopt_service.store.sql._rows import (
    close_suggestion_in_tx,
    dumps,
    dumps_optional,
    observation_in_tx,
    task_text,
)


def update_observation_in_tx(
    conn: SqlConnection,
    experiment_id: int,
    observation_id: int,
    values: Mapping[str, Any],
    allow_duplicates: bool,
) -> Observation:
    """Apply `values` (checked keys, plain data) to the observation; its new snapshot."""
    current = observation_in_tx(conn, experiment_id, observation_id)
    fields = dict(values)
    if "suggestion" in fields:
        fields.update(
            _move_onto_in_tx(conn, experiment_id, current, fields["suggestion"], allow_duplicates)
        )
    elif "assignments" in fields:
        fields["suggestion"] = None
    updated = Observation.model_validate({**current.model_dump(), **fields})
    conn.execute(
        'UPDATE observations SET "values" = ?, failed = ?, metadata = ?, suggestion_id = ?, '
        "assignments = ?, task = ? WHERE id = ?",
        (
            dumps([v.model_dump(mode="json") for v in updated.values]),
            int(updated.failed),
            dumps_optional(updated.metadata),
            None if updated.suggestion is None else int(updated.suggestion),
            dumps(updated.assignments),
            task_text(updated.task),
            observation_id,
        ),
    )
    if current.suggestion is not None and updated.suggestion != current.suggestion:
        # The suggestion left stays closed iff another observation still references it.
        conn.execute(
            "UPDATE suggestions SET closed = CASE WHEN EXISTS "
            "(SELECT 1 FROM observations WHERE suggestion_id = suggestions.id) "
            "THEN 1 ELSE 0 END WHERE id = ?",
            (int(current.suggestion),),
        )
    return updated


def _move_onto_in_tx(
    conn: SqlConnection,
    experiment_id: int,
    current: Observation,
    suggestion_id: int,
    allow_duplicates: bool,
) -> dict[str, Any]:
    """Check the suggestion moved onto and close it; the observation's new fields (the
    suggestion's assignments and task)."""
    unchecked = allow_duplicates or str(suggestion_id) == current.suggestion
    assignments_json, task_json = close_suggestion_in_tx(
        conn, experiment_id, suggestion_id, None if unchecked else set()
    )
    return {
        "suggestion": str(suggestion_id),
        "assignments": json.loads(assignments_json),
        "task": None if task_json is None else json.loads(task_json),
    }
