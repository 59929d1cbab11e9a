"""The API tokens of the SQL stores: the contract of `store/tokens.py` on the `tokens` table.

A token is active while `revoked` is NULL; revoking sets it to the time. The secret never
reaches this module: `secret_hash` (unique, revoked rows included) is all there is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sigopt_service.errors import RecordNotFound
from sigopt_service.store._changes import now_s
from sigopt_service.store.base import Page
from sigopt_service.store.sql._dialect import SqlConnection
from sigopt_service.store.sql._rows import page_in_tx, require_experiment_in_tx
from sigopt_service.store.sql._unit import SqlUnit
from sigopt_service.store.tokens import NewToken, StoredToken, check_token_changes

TOKEN_COLUMNS = "id, secret_hash, name, permissions, experiment_id, expires, created, last_used"
_ACTIVE = "revoked IS NULL"
#: Column of each updatable key (`TOKEN_UPDATABLE`); SQL fragments from this module only.
_COLUMNS = {"name": "name", "expires": "expires", "secret_hash": "secret_hash"}


def token_from_row(row: tuple[Any, ...]) -> StoredToken:
    return StoredToken(
        id=row[0],
        secret_hash=row[1],
        name=row[2],
        permissions=row[3],
        experiment=row[4],
        expires=row[5],
        created=row[6],
        last_used=row[7],
    )


def active_row_in_tx(conn: SqlConnection, token_id: int) -> tuple[Any, ...]:
    row = conn.execute(
        f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = ? AND {_ACTIVE}", (token_id,)
    ).fetchone()
    if row is None:
        raise RecordNotFound("token", token_id)
    return tuple(row)


def _execute_unique(conn: SqlConnection, statement: str, values: tuple[Any, ...]) -> Any:
    """`statement`, with a duplicate `secret_hash` as the contract's `ValueError` (raised
    inside the transaction, which rolls back; the unit of work maps only driver errors)."""
    try:
        return conn.execute(statement, values)
    except conn.IntegrityError as exc:
        raise ValueError(f"a token with this secret hash is stored already ({exc})") from exc


class SqlTokens(SqlUnit):
    """The token part of the SQL stores."""

    def create_token(self, new: NewToken) -> StoredToken:
        now = now_s()
        values = (new.secret_hash, new.name, new.permissions, new.experiment, new.expires, now)
        with self._transaction() as conn:
            if new.experiment is not None:
                require_experiment_in_tx(conn, new.experiment)
            try:
                token_id = conn.insert(
                    "INSERT INTO tokens (secret_hash, name, permissions, experiment_id, "
                    "expires, created) VALUES (?, ?, ?, ?, ?, ?)",
                    values,
                )
            except conn.IntegrityError as exc:
                raise ValueError(
                    f"a token with this secret hash is stored already ({exc})"
                ) from exc
        return StoredToken(**new.model_dump(), id=token_id, created=now)

    def get_token(self, token_id: int) -> StoredToken:
        with self._transaction(write=False) as conn:
            return token_from_row(active_row_in_tx(conn, token_id))

    def list_tokens(self, *, limit: int = 100, cursor: int | None = None) -> Page[StoredToken]:
        with self._transaction(write=False) as conn:
            rows, count, has_more = page_in_tx(
                conn,
                select=TOKEN_COLUMNS,
                table="tokens",
                where=_ACTIVE,
                params=(),
                ascending=False,
                limit=limit,
                cursor=cursor,
            )
        return Page([token_from_row(r) for r in rows], count, has_more)

    def active_tokens(self) -> list[StoredToken]:
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE {_ACTIVE} ORDER BY id"
            ).fetchall()
        return [token_from_row(r) for r in rows]

    def find_token(self, secret_hash: str) -> StoredToken | None:
        with self._transaction(write=False) as conn:
            row = conn.execute(
                f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE secret_hash = ? AND {_ACTIVE}",
                (secret_hash,),
            ).fetchone()
        return None if row is None else token_from_row(row)

    def update_token(self, token_id: int, changes: Mapping[str, Any]) -> StoredToken:
        check_token_changes(changes)
        with self._transaction() as conn:
            current = token_from_row(active_row_in_tx(conn, token_id))
            for key, value in changes.items():
                _execute_unique(
                    conn, f"UPDATE tokens SET {_COLUMNS[key]} = ? WHERE id = ?", (value, token_id)
                )
        return current.model_copy(update=dict(changes))

    def revoke_token(self, token_id: int) -> None:
        with self._transaction() as conn:
            active_row_in_tx(conn, token_id)
            conn.execute("UPDATE tokens SET revoked = ? WHERE id = ?", (now_s(), token_id))

    def record_token_use(self, token_id: int, used: int) -> None:
        with self._transaction() as conn:
            active_row_in_tx(conn, token_id)
            conn.execute(
                "UPDATE tokens SET last_used = ? WHERE id = ? "
                "AND (last_used IS NULL OR last_used < ?)",
                (used, token_id, used),
            )
