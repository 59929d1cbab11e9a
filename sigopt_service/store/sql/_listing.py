"""The listings of the SQL stores (`SqlListings`, the part that lists) and their SQL:
`ExperimentListing` (`store/_listing.py`) as a query, ordered by (`updated`, id) or id,
with a cursor that names the previous page's last row; the observations in an
`ObservationOrder` (a value, a parameter, the time), sorted and paged by the database so a page
parses its own rows only; the suggestion list's filters.

Only SQL fragments of this module reach the query text; every value travels as a parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sigopt_service.models import Experiment, Observation, Suggestion
from sigopt_service.store._listing import NEWEST_FIRST, ExperimentListing, ObservationOrder
from sigopt_service.store.base import ExperimentStateFilter, Page
from sigopt_service.store.sql._dialect import Dialect, SqlConnection
from sigopt_service.store.sql._rows import (
    EXPERIMENT_COLUMNS,
    IS_CLOSED,
    IS_OPEN,
    OBSERVATION_COLUMNS,
    SUGGESTION_COLUMNS,
    experiment_from_row,
    observation_from_row,
    page_in_tx,
    require_experiment_in_tx,
    suggestion_from_row,
)
from sigopt_service.store.sql._unit import SqlUnit


def _where(
    state: ExperimentStateFilter, listing: ExperimentListing, dialect: Dialect
) -> tuple[str, list[Any]]:
    clauses: list[str] = ["1 = 1"]
    params: list[Any] = []
    if state != "all":
        clauses.append("state = ?")
        params.append(state)
    needle = listing.needle()
    if needle is not None:
        # A position, not LIKE: `%` and `_` in a search are plain characters, as in a name.
        clauses.append(f"{dialect.find}(lower(name), ?) > 0")
        params.append(needle)
    if listing.created_from is not None:
        clauses.append("created >= ?")
        params.append(listing.created_from)
    if listing.created_before is not None:
        clauses.append("created < ?")
        params.append(listing.created_before)
    if listing.development is not None:
        clauses.append("development = ?")
        params.append(int(listing.development))
    if listing.project is not None:
        clauses.append("project = ?")
        params.append(listing.project)
    if listing.runs_only is not None:
        clauses.append("runs_only = ?")
        params.append(int(listing.runs_only))
    return " AND ".join(clauses), params


def experiment_page_in_tx(
    conn: SqlConnection,
    *,
    state: ExperimentStateFilter,
    listing: ExperimentListing,
    limit: int,
    cursor: int | None,
) -> tuple[list[tuple[Any, ...]], int, bool]:
    """Rows of one page, the total count and whether more rows follow."""
    where, params = _where(state, listing, conn.dialect)
    recent = listing.sort == "recent"
    return page_in_tx(
        conn,
        select=EXPERIMENT_COLUMNS,
        table="experiments",
        where=where,
        params=params,
        ascending=listing.ascending,
        limit=limit,
        cursor=cursor,
        key=("updated", "id") if recent else ("id",),
        # Under `recent` the cursor row's key; a cursor naming no row gives NULL.
        cursor_key="(SELECT updated, id FROM experiments WHERE id = ?)" if recent else "?",
    )


def suggestion_filter(
    experiment_id: int,
    *,
    open_only: bool,
    include_deleted: bool,
    deleted_only: bool,
    ids: Sequence[int] | None,
) -> tuple[str, list[Any]]:
    """The WHERE clause of a suggestion listing, and its parameters."""
    conditions = ["experiment_id = ?"]
    params: list[Any] = [experiment_id]
    if deleted_only:
        conditions.append("deleted = 1 AND closed = 0" if open_only else "deleted = 1")
    elif open_only:
        conditions.append(IS_OPEN)
    elif not include_deleted:
        conditions.append("deleted = 0")
    if ids is not None:
        wanted = [int(i) for i in ids]
        conditions.append(f"id IN ({', '.join('?' * len(wanted))})" if wanted else "0 = 1")
        params.extend(wanted)
    return " AND ".join(conditions), params


def _observation_value(order: ObservationOrder, dialect: Dialect) -> tuple[str, list[Any]]:
    """SQL for the value `order.key` reads from an observation row `o` (NULL when it has
    none), and its parameters: a JSON field of the stored `values` or `assignments`."""
    if order.field == "timestamp":
        return "o.created", []
    if order.field == "task":
        return dialect.task_cost, []
    if order.field == "parameter":
        return dialect.parameter_value, [order.name]
    field = "value" if order.field == "value" else "value_stddev"
    return dialect.metric_field.format(field=field), [order.name]


def sorted_observation_page_in_tx(
    conn: SqlConnection,
    experiment_id: int,
    order: ObservationOrder,
    *,
    deleted_only: bool,
    limit: int,
    cursor: int | None,
) -> tuple[list[tuple[Any, ...]], int, bool]:
    """`BaseStore.list_sorted_observations` for an order other than id: rows of one page,
    the total count and whether more rows follow. The sort key is `order.key`'s, (value
    missing, value, id), a missing value larger than any."""
    if limit < 0:
        raise ValueError("limit must be >= 0")
    value, value_params = _observation_value(order, conn.dialect)
    params: list[Any] = [*value_params, experiment_id, int(deleted_only)]
    keyed = (
        f"WITH keyed AS (SELECT o.*, {value} AS v FROM observations AS o "
        "WHERE o.experiment_id = ? AND o.deleted = ?) "
    )
    total = int(conn.execute(keyed + "SELECT COUNT(*) FROM keyed", params).fetchone()[0])
    missing = "0" if order.field == "timestamp" else conn.dialect.missing_key
    parts = ("v IS NULL", f"COALESCE(v, {missing})", "id")
    key = ", ".join(parts)
    direction, op = ("ASC", ">") if order.ascending else ("DESC", "<")
    after = ""
    if cursor is not None:
        # Where the cursor's observation sorts, read whether it is in the listing or not
        # (deleted since its page named it); one of no observation gives no row.
        after = (
            f"WHERE ({key}) {op} (SELECT {key} FROM (SELECT o.id, {value} AS v "
            "FROM observations AS o WHERE o.id = ? AND o.experiment_id = ?) AS c) "
        )
        params.extend([*value_params, cursor, experiment_id])
    params.append(limit + 1)  # one row past the page tells whether another follows
    ordering = ", ".join(f"{part} {direction}" for part in parts)
    rows = conn.execute(
        keyed + f"SELECT {OBSERVATION_COLUMNS} FROM keyed {after}ORDER BY {ordering} LIMIT ?",
        params,
    ).fetchall()
    return rows[:limit], total, len(rows) > limit


class SqlListings(SqlUnit):
    """The listing part of the SQL stores: experiments, suggestions, observations."""

    def list_experiments(
        self,
        *,
        state: ExperimentStateFilter = "active",
        limit: int = 100,
        cursor: int | None = None,
        listing: ExperimentListing = NEWEST_FIRST,
    ) -> Page[Experiment]:
        with self._transaction(write=False) as conn:
            rows, count, has_more = experiment_page_in_tx(
                conn, state=state, listing=listing, limit=limit, cursor=cursor
            )
        return Page([experiment_from_row(r) for r in rows], count, has_more)

    def list_suggestions(
        self,
        experiment_id: int,
        *,
        open_only: bool = False,
        include_deleted: bool = False,
        deleted_only: bool = False,
        ids: Sequence[int] | None = None,
        limit: int = 100,
        cursor: int | None = None,
    ) -> Page[Suggestion]:
        where, params = suggestion_filter(
            experiment_id,
            open_only=open_only,
            include_deleted=include_deleted,
            deleted_only=deleted_only,
            ids=ids,
        )
        with self._transaction(write=False) as conn:
            require_experiment_in_tx(conn, experiment_id)
            rows, count, has_more = page_in_tx(
                conn,
                select=f"{SUGGESTION_COLUMNS}, {IS_CLOSED}",
                table="suggestions",
                where=where,
                params=params,
                ascending=False,
                limit=limit,
                cursor=cursor,
            )
        return Page([suggestion_from_row(r, is_closed=bool(r[-1])) for r in rows], count, has_more)

    def list_observations(
        self,
        experiment_id: int,
        *,
        ascending: bool = False,
        include_deleted: bool = False,
        deleted_only: bool = False,
        limit: int = 100,
        cursor: int | None = None,
    ) -> Page[Observation]:
        where = "experiment_id = ?" + (
            " AND deleted = 1" if deleted_only else "" if include_deleted else " AND deleted = 0"
        )
        with self._transaction(write=False) as conn:
            require_experiment_in_tx(conn, experiment_id)
            rows, count, has_more = page_in_tx(
                conn,
                select=OBSERVATION_COLUMNS,
                table="observations",
                where=where,
                params=(experiment_id,),
                ascending=ascending,
                limit=limit,
                cursor=cursor,
            )
        return Page([observation_from_row(r) for r in rows], count, has_more)

    def list_sorted_observations(
        self,
        experiment_id: int,
        order: ObservationOrder,
        *,
        deleted_only: bool = False,
        limit: int = 100,
        cursor: int | None = None,
    ) -> Page[Observation]:
        """Sorted by the database: a page parses its own rows, not the whole history."""
        if order.is_by_id:
            return super().list_sorted_observations(
                experiment_id, order, deleted_only=deleted_only, limit=limit, cursor=cursor
            )
        with self._transaction(write=False) as conn:
            require_experiment_in_tx(conn, experiment_id)
            rows, count, has_more = sorted_observation_page_in_tx(
                conn, experiment_id, order, deleted_only=deleted_only, limit=limit, cursor=cursor
            )
        return Page([observation_from_row(r) for r in rows], count, has_more)
