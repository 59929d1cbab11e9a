"""Projects, training runs and checkpoints of the SQL stores: the contract of
`store/runs.py` on the `projects`, `training_runs` and `checkpoints` tables. A run's
document is one JSON column; its observation is inserted by the same helper as every
other observation (`insert_observation_in_tx`), in the run's own transaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sigopt_service.errors import RecordExists, RecordNotFound
from sigopt_service.models import Metadata, MetricEvaluation, Observation
from sigopt_service.run_models import Checkpoint, Project, RunState, TrainingRun
from sigopt_service.store._changes import check_update_keys, now_s, plain_changes
from sigopt_service.store.base import NewObservation, Page
from sigopt_service.store.runs import (
    PROJECT_UPDATABLE,
    RUN_UPDATABLE,
    NewProject,
    NewTrainingRun,
    RunCounts,
    RunWrite,
)
from sigopt_service.store.sql._dialect import SqlConnection
from sigopt_service.store.sql._rows import (
    claim_experiment_in_tx,
    dumps,
    dumps_optional,
    insert_observation_in_tx,
    loads_optional,
    lock_experiment_in_tx,
    note_rewrite_in_tx,
    page_in_tx,
)
from sigopt_service.store.sql._unit import SqlUnit

_PROJECT_COLUMNS = "reference_id, name, metadata, created, updated, deleted"
_RUN_COLUMNS = (
    "id, project, experiment_id, suggestion_id, observation_id, state, document, "
    "checkpoint_count, created, updated, completed, deleted"
)
_CHECKPOINT_COLUMNS = 'id, training_run_id, "values", metadata, created'


def _project_from_row(row: tuple[Any, ...]) -> Project:
    return Project(
        id=row[0],
        name=row[1],
        metadata=loads_optional(row[2]),
        created=row[3],
        updated=row[4],
        deleted=bool(row[5]),
    )


def _id_text(value: int | None) -> str | None:
    return None if value is None else str(value)


def _run_from_row(row: tuple[Any, ...]) -> TrainingRun:
    return TrainingRun.model_validate(
        {
            **json.loads(row[6]),
            "id": str(row[0]),
            "project": row[1],
            "experiment": _id_text(row[2]),
            "suggestion": _id_text(row[3]),
            "observation": _id_text(row[4]),
            "state": row[5],
            "checkpoint_count": row[7],
            "created": row[8],
            "updated": row[9],
            "completed": row[10],
            "deleted": bool(row[11]),
        }
    )


def _checkpoint_from_row(row: tuple[Any, ...]) -> Checkpoint:
    return Checkpoint(
        id=str(row[0]),
        training_run=str(row[1]),
        values=json.loads(row[2]),
        metadata=loads_optional(row[3]),
        created=row[4],
    )


def _run_in_tx(conn: SqlConnection, run_id: int) -> TrainingRun:
    row = conn.execute(f"SELECT {_RUN_COLUMNS} FROM training_runs WHERE id = ?", (run_id,))
    found = row.fetchone()
    if found is None:
        raise RecordNotFound("training_run", run_id)
    return _run_from_row(found)


def _locked_run_in_tx(conn: SqlConnection, run_id: int) -> TrainingRun:
    """The run, for a write that rewrites it: its experiment locked first (every write of
    a run with an experiment takes that lock, so the run read under it is current across
    processes, and the lock order, experiment before run, is the same everywhere)."""
    current = _run_in_tx(conn, run_id)
    if current.experiment is None or conn.dialect.lock_experiment is None:
        return current
    lock_experiment_in_tx(conn, int(current.experiment))
    return _run_in_tx(conn, run_id)


def _project_in_tx(conn: SqlConnection, project_id: str) -> Project:
    row = conn.execute(
        f"SELECT {_PROJECT_COLUMNS} FROM projects WHERE reference_id = ?", (project_id,)
    ).fetchone()
    if row is None:
        raise RecordNotFound("project", project_id)
    return _project_from_row(row)


def _observe_in_tx(
    conn: SqlConnection, run_id: int, experiment: str | None, new: NewObservation, now: int
) -> Observation:
    """Insert the run's observation (each suggestion observed once) and link it."""
    if experiment is None:
        raise ValueError("a run without an experiment has no observation")
    created = insert_observation_in_tx(conn, int(experiment), new, now, set())
    conn.execute(
        "UPDATE training_runs SET observation_id = ? WHERE id = ?", (int(created.id), run_id)
    )
    return created


class SqlRuns(SqlUnit):
    """The AI-module part of the SQL stores."""

    # -- projects -------------------------------------------------------------------------
    def create_project(self, new: NewProject) -> Project:
        now = now_s()
        with self._transaction() as conn:
            taken = conn.execute("SELECT 1 FROM projects WHERE reference_id = ?", (new.id,))
            if taken.fetchone() is not None:
                raise RecordExists("project", new.id)
            try:
                conn.execute(
                    "INSERT INTO projects (reference_id, name, metadata, created, updated) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (new.id, new.name, dumps_optional(new.metadata), now, now),
                )
            except conn.IntegrityError as exc:
                # Another service process created it since the check (PostgreSQL).
                raise RecordExists("project", new.id) from exc
        return Project(id=new.id, name=new.name, metadata=new.metadata, created=now, updated=now)

    def get_project(self, project_id: str) -> Project:
        with self._transaction(write=False) as conn:
            return _project_in_tx(conn, project_id)

    def all_projects(self) -> list[Project]:
        with self._transaction(write=False) as conn:
            rows = conn.execute(f"SELECT {_PROJECT_COLUMNS} FROM projects ORDER BY id").fetchall()
        return [_project_from_row(r) for r in rows]

    def update_project(self, project_id: str, changes: Mapping[str, Any]) -> Project:
        check_update_keys(changes, PROJECT_UPDATABLE)
        with self._transaction() as conn:
            current = _project_in_tx(conn, project_id)
            updated = Project.model_validate(
                {**current.model_dump(), **plain_changes(changes), "updated": now_s()}
            )
            conn.execute(
                "UPDATE projects SET name = ?, metadata = ?, deleted = ?, updated = ? "
                "WHERE reference_id = ?",
                (
                    updated.name,
                    dumps_optional(updated.metadata),
                    int(updated.deleted),
                    updated.updated,
                    project_id,
                ),
            )
        return updated

    # -- training runs --------------------------------------------------------------------
    def create_training_run(
        self, new: NewTrainingRun, observation: NewObservation | None = None
    ) -> RunWrite:
        now = now_s()
        completed = now if new.state.is_finished() else None
        with self._transaction() as conn:
            if new.experiment is not None:
                claim_experiment_in_tx(conn, new.experiment)
            run_id = conn.insert(
                "INSERT INTO training_runs (project, experiment_id, suggestion_id, state, "
                "document, created, updated, completed) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ",
                (
                    new.project,
                    new.experiment,
                    new.suggestion,
                    new.state.value,
                    dumps(new.document),
                    now,
                    now,
                    completed,
                ),
            )
            experiment = _id_text(new.experiment)
            created = (
                None
                if observation is None
                else _observe_in_tx(conn, run_id, experiment, observation, now)
            )
            run = _run_in_tx(conn, run_id)
        return run, created

    def get_training_run(self, run_id: int) -> TrainingRun:
        with self._transaction(write=False) as conn:
            return _run_in_tx(conn, run_id)

    def update_training_run(
        self,
        run_id: int,
        changes: Mapping[str, Any],
        observation: NewObservation | None = None,
    ) -> RunWrite:
        check_update_keys(changes, RUN_UPDATABLE)
        now = now_s()
        with self._transaction() as conn:
            current = _locked_run_in_tx(conn, run_id)
            state = RunState(changes.get("state", current.state))
            document = changes.get("document", current.document())
            completed = current.completed
            if completed is None and state.is_finished():
                completed = now
            suggestion = changes.get("suggestion", current.suggestion)
            conn.execute(
                "UPDATE training_runs SET project = ?, suggestion_id = ?, state = ?, "
                "document = ?, updated = ?, completed = ? WHERE id = ?",
                (
                    changes.get("project", current.project),
                    None if suggestion is None else int(suggestion),
                    state.value,
                    dumps(document),
                    now,
                    completed,
                    run_id,
                ),
            )
            created = (
                None
                if observation is None
                else _observe_in_tx(conn, run_id, current.experiment, observation, now)
            )
            run = _run_in_tx(conn, run_id)
        return run, created

    def set_training_run_deleted(self, run_id: int, deleted: bool) -> TrainingRun:
        with self._transaction() as conn:
            current = _locked_run_in_tx(conn, run_id)
            flag = int(deleted)
            if current.suggestion is not None:
                conn.execute(
                    "UPDATE suggestions SET deleted = ? WHERE id = ?", (flag, current.suggestion)
                )
            if current.observation is not None:
                conn.execute(
                    "UPDATE observations SET deleted = ? WHERE id = ?", (flag, current.observation)
                )
            conn.execute(
                "UPDATE training_runs SET deleted = ?, updated = ? WHERE id = ?",
                (flag, now_s(), run_id),
            )
            if current.experiment is not None:
                note_rewrite_in_tx(conn, int(current.experiment))
            return _run_in_tx(conn, run_id)

    def all_training_runs(
        self, *, project: str | None = None, experiment: int | None = None
    ) -> list[TrainingRun]:
        where: list[str] = ["1 = 1"]
        params: list[str | int] = []
        if project is not None:
            where.append("project = ?")
            params.append(project)
        if experiment is not None:
            where.append("experiment_id = ?")
            params.append(experiment)
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM training_runs WHERE {' AND '.join(where)} ORDER BY id",
                params,
            ).fetchall()
        return [_run_from_row(r) for r in rows]

    def training_run_counts(self, experiment_id: int) -> RunCounts:
        with self._transaction(write=False) as conn:
            row = conn.execute(
                "SELECT COUNT(*), COUNT(completed) FROM training_runs "
                "WHERE experiment_id = ? AND deleted = 0",
                (experiment_id,),
            ).fetchone()
        return RunCounts(active=int(row[0]) - int(row[1]), finished=int(row[1]))

    def delete_experiment_training_runs(self, experiment_id: int) -> int:
        with self._transaction() as conn:
            claim_experiment_in_tx(conn, experiment_id)
            cur = conn.execute(
                "UPDATE training_runs SET deleted = 1 WHERE experiment_id = ? AND deleted = 0",
                (experiment_id,),
            )
            for table in ("suggestions", "observations"):
                # Table names from this line only, never input.
                conn.execute(
                    f"UPDATE {table} SET deleted = 1 WHERE experiment_id = ? AND deleted = 0",
                    (experiment_id,),
                )
            note_rewrite_in_tx(conn, experiment_id)
            return cur.rowcount

    # -- checkpoints ----------------------------------------------------------------------
    def create_checkpoint(
        self, run_id: int, values: Sequence[MetricEvaluation], metadata: Metadata | None
    ) -> Checkpoint:
        now = now_s()
        values_json = dumps([v.model_dump(mode="json") for v in values])
        with self._transaction() as conn:
            _run_in_tx(conn, run_id)
            checkpoint_id = conn.insert(
                'INSERT INTO checkpoints (training_run_id, "values", metadata, created) '
                "VALUES (?, ?, ?, ?)",
                (run_id, values_json, dumps_optional(metadata), now),
            )
            conn.execute(
                "UPDATE training_runs SET checkpoint_count = checkpoint_count + 1, updated = ? "
                "WHERE id = ?",
                (now, run_id),
            )
        return _checkpoint_from_row(
            (checkpoint_id, run_id, values_json, dumps_optional(metadata), now)
        )

    def get_checkpoint(self, run_id: int, checkpoint_id: int) -> Checkpoint:
        with self._transaction(write=False) as conn:
            _run_in_tx(conn, run_id)
            row = conn.execute(
                f"SELECT {_CHECKPOINT_COLUMNS} FROM checkpoints "
                "WHERE id = ? AND training_run_id = ?",
                (checkpoint_id, run_id),
            ).fetchone()
        if row is None:
            raise RecordNotFound("checkpoint", checkpoint_id)
        return _checkpoint_from_row(row)

    def list_checkpoints(
        self, run_id: int, *, limit: int = 100, cursor: int | None = None
    ) -> Page[Checkpoint]:
        with self._transaction(write=False) as conn:
            _run_in_tx(conn, run_id)
            rows, count, has_more = page_in_tx(
                conn,
                select=_CHECKPOINT_COLUMNS,
                table="checkpoints",
                where="training_run_id = ?",
                params=(run_id,),
                ascending=False,
                limit=limit,
                cursor=cursor,
            )
        return Page([_checkpoint_from_row(r) for r in rows], count, has_more)
