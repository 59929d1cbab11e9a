"""The experiment listing in SQL: `ExperimentListing` (`store/_listing.py`) as a query,
ordered by (`updated`, id) or id, with a cursor that names the previous page's last row.

Only SQL fragments of this module reach the query text; every value travels as a parameter.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sigopt_service.store._listing import ExperimentListing
from sigopt_service.store.base import ExperimentStateFilter
from sigopt_service.store.sqlite._rows import EXPERIMENT_COLUMNS

_BY_ID = " WHERE id = ?"


def _where(state: ExperimentStateFilter, listing: ExperimentListing) -> tuple[str, list[Any]]:
    clauses: list[str] = ["1 = 1"]
    params: list[Any] = []
    if state != "all":
        clauses.append("state = ?")
        params.append(state)
    needle = listing.needle()
    if needle is not None:
        # instr, not LIKE: `%` and `_` in a search are plain characters, as in a name.
        clauses.append("instr(lower(name), ?) > 0")
        params.append(needle)
    if listing.created_from is not None:
        clauses.append("created >= ?")
        params.append(listing.created_from)
    if listing.created_before is not None:
        clauses.append("created < ?")
        params.append(listing.created_before)
    return " AND ".join(clauses), params


def experiment_page_in_tx(
    conn: sqlite3.Connection,
    *,
    state: ExperimentStateFilter,
    listing: ExperimentListing,
    limit: int,
    cursor: int | None,
) -> tuple[list[tuple[Any, ...]], int, bool]:
    """Rows of one page, the total count and whether more rows follow."""
    if limit < 0:
        raise ValueError("limit must be >= 0")
    where, params = _where(state, listing)
    count = conn.execute(f"SELECT COUNT(*) FROM experiments WHERE {where}", params).fetchone()
    total = int(count[0])
    direction = "ASC" if listing.ascending else "DESC"
    op = ">" if listing.ascending else "<"
    page_where, page_params = where, list(params)
    if listing.sort == "recent":
        order = f"updated {direction}, id {direction}"
        if cursor is not None:
            # The cursor row's key; a cursor naming no row gives NULL: no row follows it.
            page_where += f" AND (updated, id) {op} (SELECT updated, id FROM experiments{_BY_ID})"
            page_params.append(cursor)
    else:
        order = f"id {direction}"
        if cursor is not None:
            page_where += f" AND id {op} ?"
            page_params.append(cursor)
    page_params.append(limit + 1)  # one row past the page tells whether another follows
    rows = conn.execute(
        f"SELECT {EXPERIMENT_COLUMNS} FROM experiments WHERE {page_where} ORDER BY {order} LIMIT ?",
        page_params,
    ).fetchall()
    return rows[:limit], total, len(rows) > limit
