"""The durable store: `BaseStore` on one SQLite file in WAL mode.

    store = SqliteStore("runs/service.db")            # creates or migrates the schema
    experiment = store.create_experiment(new)
    store.close()

Durability: every public method runs in one transaction (`_transaction()`) and has
committed when it returns. In WAL mode with `synchronous="NORMAL"` (the default) a commit
is in the WAL file, i.e. in the OS page cache, before the method returns: it survives the
process being killed (kill -9, OOM) but the last commits may be lost on power loss or an OS
crash (the database stays consistent). `synchronous="FULL"` fsyncs the WAL on every commit
and so also survives power loss, at the price of one fsync per write call.

Schema: the version lives in `PRAGMA user_version`; `_MIGRATIONS[i]` brings version `i` to
`i + 1` and pending ones run, in order and in one transaction, when the store opens. A
database written by newer code (a higher version) is refused with `StoreError`.

Suggestion state is derived as the contract says: a suggestion is closed iff an observation
row references it; since schema v2 a `closed` flag, set in the same transaction as the
observation, caches that derivation so open counts are an index range.
Like every store, this one is not thread-safe: the service serializes calls, which is also
why the connection may be opened with `check_same_thread=False`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from service.errors import InvalidRequest, NotFound, StoreError
from service.models import (
    Assignments,
    Experiment,
    Metadata,
    Observation,
    Suggestion,
    SuggestionState,
)
from service.store import (
    EXPERIMENT_UPDATABLE,
    OBSERVATION_UPDATABLE,
    BaseStore,
    ExperimentStateFilter,
    NewExperiment,
    NewObservation,
    Page,
    check_update_keys,
    now_s,
    plain_changes,
)

#: Ordered migrations; entry `i` upgrades a database at version `i` to version `i + 1`.
#: Append only: never edit an entry that has shipped.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE experiments (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL,
            type TEXT NOT NULL,
            parameters TEXT NOT NULL,
            metrics TEXT NOT NULL,
            observation_budget INTEGER,
            parallel_bandwidth INTEGER,
            num_solutions INTEGER,
            conditionals TEXT NOT NULL,
            linear_constraints TEXT NOT NULL,
            metadata TEXT,
            project TEXT,
            state TEXT NOT NULL,
            created INTEGER NOT NULL,
            updated INTEGER NOT NULL
        )
        """,
        "CREATE INDEX experiments_by_state ON experiments (state)",
        """
        CREATE TABLE suggestions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            experiment_id INTEGER NOT NULL REFERENCES experiments (id),
            assignments TEXT NOT NULL,
            metadata TEXT,
            created INTEGER NOT NULL,
            deleted INTEGER NOT NULL DEFAULT 0
        )
        """,
        # (experiment_id, deleted) ends in the rowid, so non-deleted rows come in id order.
        "CREATE INDEX suggestions_by_experiment ON suggestions (experiment_id, deleted)",
        """
        CREATE TABLE observations (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            experiment_id INTEGER NOT NULL REFERENCES experiments (id),
            suggestion_id INTEGER REFERENCES suggestions (id),
            assignments TEXT NOT NULL,
            "values" TEXT NOT NULL,
            failed INTEGER NOT NULL,
            metadata TEXT,
            created INTEGER NOT NULL,
            deleted INTEGER NOT NULL DEFAULT 0
        )
        """,
        "CREATE INDEX observations_by_experiment ON observations (experiment_id, deleted)",
        # The derived suggestion state probes this index once per suggestion.
        "CREATE INDEX observations_by_suggestion ON observations (suggestion_id)",
    ),
    # v2: `closed` caches the derived state (an observation references the suggestion),
    # set in the same transaction as that observation, so counting open suggestions is
    # an index range instead of one probe per suggestion (the budget check runs it on
    # every suggest). Never cleared: deleting the observation does not reopen it.
    (
        "ALTER TABLE suggestions ADD COLUMN closed INTEGER NOT NULL DEFAULT 0",
        "UPDATE suggestions SET closed = 1 WHERE EXISTS "
        "(SELECT 1 FROM observations AS o WHERE o.suggestion_id = suggestions.id)",
        "DROP INDEX suggestions_by_experiment",
        "CREATE INDEX suggestions_by_experiment ON suggestions (experiment_id, deleted, closed)",
    ),
)
SCHEMA_VERSION = len(_MIGRATIONS)

_SYNCHRONOUS = {"NORMAL": "NORMAL", "FULL": "FULL"}

_EXPERIMENT_COLUMNS = (
    "id, name, type, parameters, metrics, observation_budget, parallel_bandwidth, "
    "num_solutions, conditionals, linear_constraints, metadata, project, state, created, "
    "updated"
)
_SUGGESTION_COLUMNS = "id, experiment_id, assignments, metadata, created, deleted"
_OBSERVATION_COLUMNS = (
    'id, experiment_id, suggestion_id, assignments, "values", failed, metadata, created, deleted'
)
_IS_CLOSED = "closed"
_IS_OPEN = "deleted = 0 AND closed = 0"


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _dumps_optional(value: Any) -> str | None:
    return None if value is None else _dumps(value)


def _loads_optional(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _experiment_from_row(row: tuple[Any, ...]) -> Experiment:
    return Experiment.model_validate(
        {
            "id": str(row[0]),
            "name": row[1],
            "type": row[2],
            "parameters": json.loads(row[3]),
            "metrics": json.loads(row[4]),
            "observation_budget": row[5],
            "parallel_bandwidth": row[6],
            "num_solutions": row[7],
            "conditionals": json.loads(row[8]),
            "linear_constraints": json.loads(row[9]),
            "metadata": _loads_optional(row[10]),
            "project": row[11],
            "state": row[12],
            "created": row[13],
            "updated": row[14],
        }
    )


def _suggestion_from_row(row: tuple[Any, ...], *, is_closed: bool) -> Suggestion:
    return Suggestion(
        id=str(row[0]),
        experiment=str(row[1]),
        assignments=json.loads(row[2]),
        metadata=_loads_optional(row[3]),
        created=row[4],
        deleted=bool(row[5]),
        state=SuggestionState.CLOSED if is_closed else SuggestionState.OPEN,
    )


def _observation_from_row(row: tuple[Any, ...]) -> Observation:
    # The JSON columns are spliced into one document for pydantic-core's parser: twice as
    # fast as json.loads plus dict validation, and the history load is row-count bound.
    # Only integers and JSON this store wrote itself go in, never request text.
    suggestion = "null" if row[2] is None else f'"{int(row[2])}"'
    return Observation.model_validate_json(
        f'{{"id":"{int(row[0])}","experiment":"{int(row[1])}","suggestion":{suggestion},'
        f'"assignments":{row[3]},"values":{row[4]},"failed":{"true" if row[5] else "false"},'
        f'"metadata":{row[6] or "null"},"created":{int(row[7])},'
        f'"deleted":{"true" if row[8] else "false"}}}'
    )


def _create_private(path: Path) -> None:
    """Create a new database file readable and writable by its owner only (0o600), whatever
    the umask; SQLite gives its -wal and -shm files the database file's mode."""
    if str(path) == ":memory:" or path.exists():
        return
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass
    except OSError:
        return  # sqlite3.connect reports it, as a StoreError


class SqliteStore(BaseStore):
    """`BaseStore` on a SQLite file; see the module docstring for durability and schema."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        busy_timeout_s: float = 5.0,
    ) -> None:
        if synchronous not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        _create_private(self.path)
        try:
            # isolation_level=None: the driver never opens transactions behind our back;
            # `_transaction()` issues BEGIN/COMMIT itself.
            conn = sqlite3.connect(
                self.path,
                timeout=busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"Cannot open database {self.path}: {exc}") from exc
        self._conn = conn
        try:
            # PRAGMAs take no bound parameters; these values come from this module only.
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
            conn.execute(f"PRAGMA synchronous = {_SYNCHRONOUS[synchronous]}")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            conn.close()
            self._conn = None
            raise StoreError(f"Cannot open database {self.path}: {exc}") from exc
        try:
            self._migrate()
        except BaseException:
            conn.close()
            self._conn = None
            raise

    def __repr__(self) -> str:
        state = "open" if self._conn is not None else "closed"
        return f"<SqliteStore path={str(self.path)!r} {state}>"

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- unit of work -------------------------------------------------------------------
    @contextlib.contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One unit of work: commit on success, roll back on any exception.

        Writers take the write lock up front (BEGIN IMMEDIATE) so a busy database fails at
        BEGIN, within busy_timeout, instead of at COMMIT after the work was done. Readers
        use a deferred BEGIN so a listing's count and items come from one snapshot.
        """
        conn = self._conn
        if conn is None:
            raise StoreError("The store is closed")
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        except sqlite3.Error as exc:
            raise StoreError(f"Database error: {exc}") from exc
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            # A failed COMMIT can leave the transaction open; never leave it dangling.
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"Database error: {exc}") from exc
            raise

    def _migrate(self) -> None:
        with self._transaction() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"Database {self.path} has schema version {version}, newer than "
                    f"{SCHEMA_VERSION}, the newest this code knows; upgrade the service"
                )
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[target - 1]:
                    conn.execute(statement)
                # PRAGMA takes no bound parameters; `target` is an int from this module.
                conn.execute(f"PRAGMA user_version = {int(target)}")

    def schema_version(self) -> int:
        with self._transaction(write=False) as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

    # -- helpers inside an open transaction ---------------------------------------------
    @staticmethod
    def _experiment_row_in_tx(conn: sqlite3.Connection, experiment_id: int) -> tuple[Any, ...]:
        row = conn.execute(
            f"SELECT {_EXPERIMENT_COLUMNS} FROM experiments WHERE id = ?", (experiment_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"No experiment {experiment_id}")
        return tuple(row)

    @staticmethod
    def _require_experiment_in_tx(conn: sqlite3.Connection, experiment_id: int) -> None:
        if conn.execute("SELECT 1 FROM experiments WHERE id = ?", (experiment_id,)).fetchone():
            return
        raise NotFound(f"No experiment {experiment_id}")

    def _suggestion_in_tx(
        self, conn: sqlite3.Connection, experiment_id: int, suggestion_id: int
    ) -> Suggestion:
        self._require_experiment_in_tx(conn, experiment_id)
        row = conn.execute(
            f"SELECT {_SUGGESTION_COLUMNS}, {_IS_CLOSED} "
            "FROM suggestions WHERE id = ? AND experiment_id = ?",
            (suggestion_id, experiment_id),
        ).fetchone()
        if row is None:
            raise NotFound(f"No suggestion {suggestion_id} for experiment {experiment_id}")
        return _suggestion_from_row(row, is_closed=bool(row[6]))

    def _observation_in_tx(
        self, conn: sqlite3.Connection, experiment_id: int, observation_id: int
    ) -> Observation:
        self._require_experiment_in_tx(conn, experiment_id)
        row = conn.execute(
            f"SELECT {_OBSERVATION_COLUMNS} FROM observations WHERE id = ? AND experiment_id = ?",
            (observation_id, experiment_id),
        ).fetchone()
        if row is None:
            raise NotFound(f"No observation {observation_id} for experiment {experiment_id}")
        return _observation_from_row(row)

    @staticmethod
    def _page_in_tx(
        conn: sqlite3.Connection,
        *,
        select: str,
        table: str,
        where: str,
        params: Sequence[Any],
        ascending: bool,
        limit: int,
        cursor: int | None,
    ) -> tuple[list[tuple[Any, ...]], int, bool]:
        """Rows of one page, the total count and whether more rows follow.

        `select`, `table` and `where` are SQL fragments from this module, never input;
        every value travels in `params`.
        """
        if limit < 0:
            raise ValueError("limit must be >= 0")
        count = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", params).fetchone()
        total = int(count[0])
        if cursor is None and (limit == 0 or total == 0):
            return [], total, total > 0
        order = "ASC" if ascending else "DESC"
        after = ""
        page_params = list(params)
        if cursor is not None:
            after = " AND id > ?" if ascending else " AND id < ?"
            page_params.append(cursor)
        # One row past the page tells whether another page follows.
        page_params.append(limit + 1)
        rows = conn.execute(
            f"SELECT {select} FROM {table} WHERE {where}{after} ORDER BY id {order} LIMIT ?",
            page_params,
        ).fetchall()
        return rows[:limit], total, len(rows) > limit

    # -- experiments --------------------------------------------------------------------
    def create_experiment(self, new: NewExperiment) -> Experiment:
        data = new.model_dump(mode="json")
        now = now_s()
        with self._transaction() as conn:
            cur = conn.execute(
                "INSERT INTO experiments (name, type, parameters, metrics, observation_budget, "
                "parallel_bandwidth, num_solutions, conditionals, linear_constraints, metadata, "
                "project, state, created, updated) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?)",
                (
                    data["name"],
                    data["type"],
                    _dumps(data["parameters"]),
                    _dumps(data["metrics"]),
                    data["observation_budget"],
                    data["parallel_bandwidth"],
                    data["num_solutions"],
                    _dumps(data["conditionals"]),
                    _dumps(data["linear_constraints"]),
                    _dumps_optional(data["metadata"]),
                    data["project"],
                    now,
                    now,
                ),
            )
            experiment_id = cur.lastrowid
        # `data` is a fresh dump, so the caller keeps owning `new`.
        return Experiment.model_validate(
            {**data, "id": str(experiment_id), "created": now, "updated": now}
        )

    def get_experiment(self, experiment_id: int) -> Experiment:
        with self._transaction(write=False) as conn:
            return _experiment_from_row(self._experiment_row_in_tx(conn, experiment_id))

    def list_experiments(
        self,
        *,
        state: ExperimentStateFilter = "active",
        limit: int = 100,
        cursor: int | None = None,
    ) -> Page[Experiment]:
        where, params = ("1 = 1", ()) if state == "all" else ("state = ?", (state,))
        with self._transaction(write=False) as conn:
            rows, count, has_more = self._page_in_tx(
                conn,
                select=_EXPERIMENT_COLUMNS,
                table="experiments",
                where=where,
                params=params,
                ascending=False,
                limit=limit,
                cursor=cursor,
            )
        return Page([_experiment_from_row(r) for r in rows], count, has_more)

    def update_experiment(self, experiment_id: int, changes: Mapping[str, Any]) -> Experiment:
        check_update_keys(changes, EXPERIMENT_UPDATABLE)
        with self._transaction() as conn:
            current = _experiment_from_row(self._experiment_row_in_tx(conn, experiment_id))
            updated = Experiment.model_validate(
                {**current.model_dump(), **plain_changes(changes), "updated": now_s()}
            )
            data = updated.model_dump(mode="json")
            conn.execute(
                "UPDATE experiments SET name = ?, state = ?, observation_budget = ?, "
                "parallel_bandwidth = ?, metadata = ?, parameters = ?, metrics = ?, "
                "project = ?, updated = ? WHERE id = ?",
                (
                    data["name"],
                    data["state"],
                    data["observation_budget"],
                    data["parallel_bandwidth"],
                    _dumps_optional(data["metadata"]),
                    _dumps(data["parameters"]),
                    _dumps(data["metrics"]),
                    data["project"],
                    data["updated"],
                    experiment_id,
                ),
            )
        return updated

    # -- suggestions --------------------------------------------------------------------
    def create_suggestion(
        self, experiment_id: int, assignments: Assignments, metadata: Metadata | None = None
    ) -> Suggestion:
        assignments_json = _dumps(assignments)
        metadata_json = _dumps_optional(metadata)
        now = now_s()
        with self._transaction() as conn:
            self._require_experiment_in_tx(conn, experiment_id)
            cur = conn.execute(
                "INSERT INTO suggestions (experiment_id, assignments, metadata, created) "
                "VALUES (?, ?, ?, ?)",
                (experiment_id, assignments_json, metadata_json, now),
            )
            suggestion_id = cur.lastrowid
        return Suggestion(
            id=str(suggestion_id),
            experiment=str(experiment_id),
            # Validation copies the dicts: the caller keeps owning its arguments.
            assignments=assignments,
            metadata=metadata,
            created=now,
        )

    def get_suggestion(self, experiment_id: int, suggestion_id: int) -> Suggestion:
        with self._transaction(write=False) as conn:
            return self._suggestion_in_tx(conn, experiment_id, suggestion_id)

    def list_suggestions(
        self,
        experiment_id: int,
        *,
        open_only: bool = False,
        include_deleted: bool = False,
        ids: Sequence[int] | None = None,
        limit: int = 100,
        cursor: int | None = None,
    ) -> Page[Suggestion]:
        conditions = ["experiment_id = ?"]
        params: list[Any] = [experiment_id]
        if open_only:
            conditions.append(_IS_OPEN)
        elif not include_deleted:
            conditions.append("deleted = 0")
        if ids is not None:
            conditions.append("id IN (SELECT value FROM json_each(?))")
            params.append(_dumps([int(i) for i in ids]))
        with self._transaction(write=False) as conn:
            self._require_experiment_in_tx(conn, experiment_id)
            rows, count, has_more = self._page_in_tx(
                conn,
                select=f"{_SUGGESTION_COLUMNS}, {_IS_CLOSED}",
                table="suggestions",
                where=" AND ".join(conditions),
                params=params,
                ascending=False,
                limit=limit,
                cursor=cursor,
            )
        return Page([_suggestion_from_row(r, is_closed=bool(r[6])) for r in rows], count, has_more)

    def update_suggestion(
        self, experiment_id: int, suggestion_id: int, metadata: Metadata | None
    ) -> Suggestion:
        with self._transaction() as conn:
            current = self._suggestion_in_tx(conn, experiment_id, suggestion_id)
            conn.execute(
                "UPDATE suggestions SET metadata = ? WHERE id = ?",
                (_dumps_optional(metadata), suggestion_id),
            )
        return current.model_copy(update={"metadata": None if metadata is None else dict(metadata)})

    def delete_suggestion(self, experiment_id: int, suggestion_id: int) -> None:
        with self._transaction() as conn:
            self._suggestion_in_tx(conn, experiment_id, suggestion_id)
            conn.execute("UPDATE suggestions SET deleted = 1 WHERE id = ?", (suggestion_id,))

    def delete_suggestions(self, experiment_id: int, *, open_only: bool) -> int:
        where = _IS_OPEN if open_only else "deleted = 0"
        with self._transaction() as conn:
            self._require_experiment_in_tx(conn, experiment_id)
            cur = conn.execute(
                f"UPDATE suggestions SET deleted = 1 WHERE experiment_id = ? AND {where}",
                (experiment_id,),
            )
            return cur.rowcount

    def suggestion_count(self, experiment_id: int) -> int:
        with self._transaction(write=False) as conn:
            self._require_experiment_in_tx(conn, experiment_id)
            row = conn.execute(
                "SELECT COUNT(*) FROM suggestions WHERE experiment_id = ?", (experiment_id,)
            ).fetchone()
            return int(row[0])

    # -- observations -------------------------------------------------------------------
    def _insert_observation_in_tx(
        self, conn: sqlite3.Connection, experiment_id: int, item: NewObservation, now: int
    ) -> Observation:
        if item.suggestion is None:
            assignments_json = _dumps(item.assignments or {})
        else:
            row = conn.execute(
                "SELECT assignments FROM suggestions "
                "WHERE id = ? AND experiment_id = ? AND deleted = 0",
                (item.suggestion, experiment_id),
            ).fetchone()
            if row is None:
                raise InvalidRequest(
                    f"No suggestion: {item.suggestion} for experiment: {experiment_id}"
                )
            assignments_json = row[0]
            conn.execute("UPDATE suggestions SET closed = 1 WHERE id = ?", (item.suggestion,))
        values = [v.model_dump(mode="json") for v in item.values]
        cur = conn.execute(
            "INSERT INTO observations (experiment_id, suggestion_id, assignments, "
            '"values", failed, metadata, created) VALUES (?, ?, ?, ?, ?, ?, ?)',
            (
                experiment_id,
                item.suggestion,
                assignments_json,
                _dumps(values),
                int(item.failed),
                _dumps_optional(item.metadata),
                now,
            ),
        )
        return Observation(
            id=str(cur.lastrowid),
            experiment=str(experiment_id),
            suggestion=None if item.suggestion is None else str(item.suggestion),
            # Fresh from JSON, so neither the caller's nor the suggestion's dict is shared.
            assignments=json.loads(assignments_json),
            values=list(item.values),
            failed=item.failed,
            metadata=item.metadata,
            created=now,
        )

    def create_observations(
        self, experiment_id: int, new: Sequence[NewObservation]
    ) -> list[Observation]:
        now = now_s()
        # One transaction for the batch: an unknown suggestion rolls back every insert.
        with self._transaction() as conn:
            self._require_experiment_in_tx(conn, experiment_id)
            return [self._insert_observation_in_tx(conn, experiment_id, n, now) for n in new]

    def get_observation(self, experiment_id: int, observation_id: int) -> Observation:
        with self._transaction(write=False) as conn:
            return self._observation_in_tx(conn, experiment_id, observation_id)

    def list_observations(
        self,
        experiment_id: int,
        *,
        ascending: bool = False,
        include_deleted: bool = False,
        limit: int = 100,
        cursor: int | None = None,
    ) -> Page[Observation]:
        where = "experiment_id = ?" if include_deleted else "experiment_id = ? AND deleted = 0"
        with self._transaction(write=False) as conn:
            self._require_experiment_in_tx(conn, experiment_id)
            rows, count, has_more = self._page_in_tx(
                conn,
                select=_OBSERVATION_COLUMNS,
                table="observations",
                where=where,
                params=(experiment_id,),
                ascending=ascending,
                limit=limit,
                cursor=cursor,
            )
        return Page([_observation_from_row(r) for r in rows], count, has_more)

    def update_observation(
        self, experiment_id: int, observation_id: int, changes: Mapping[str, Any]
    ) -> Observation:
        check_update_keys(changes, OBSERVATION_UPDATABLE)
        values = plain_changes(changes)
        if "values" in values and values["values"] is None:
            values["values"] = []
        with self._transaction() as conn:
            current = self._observation_in_tx(conn, experiment_id, observation_id)
            updated = Observation.model_validate({**current.model_dump(), **values})
            conn.execute(
                'UPDATE observations SET "values" = ?, failed = ?, metadata = ? WHERE id = ?',
                (
                    _dumps([v.model_dump(mode="json") for v in updated.values]),
                    int(updated.failed),
                    _dumps_optional(updated.metadata),
                    observation_id,
                ),
            )
        return updated

    def delete_observation(self, experiment_id: int, observation_id: int) -> None:
        with self._transaction() as conn:
            self._observation_in_tx(conn, experiment_id, observation_id)
            conn.execute("UPDATE observations SET deleted = 1 WHERE id = ?", (observation_id,))

    def delete_observations(self, experiment_id: int) -> int:
        with self._transaction() as conn:
            self._require_experiment_in_tx(conn, experiment_id)
            cur = conn.execute(
                "UPDATE observations SET deleted = 1 WHERE experiment_id = ? AND deleted = 0",
                (experiment_id,),
            )
            return cur.rowcount

    def all_observations(self, experiment_id: int) -> list[Observation]:
        with self._transaction(write=False) as conn:
            self._require_experiment_in_tx(conn, experiment_id)
            rows = conn.execute(
                f"SELECT {_OBSERVATION_COLUMNS} FROM observations "
                "WHERE experiment_id = ? AND deleted = 0 ORDER BY id",
                (experiment_id,),
            ).fetchall()
        return [_observation_from_row(r) for r in rows]

    def open_suggestions(self, experiment_id: int) -> list[Suggestion]:
        with self._transaction(write=False) as conn:
            self._require_experiment_in_tx(conn, experiment_id)
            rows = conn.execute(
                f"SELECT {_SUGGESTION_COLUMNS} FROM suggestions "
                f"WHERE experiment_id = ? AND {_IS_OPEN} ORDER BY id",
                (experiment_id,),
            ).fetchall()
        return [_suggestion_from_row(r, is_closed=False) for r in rows]
