"""The token part of the store contract (`sigopt_service/store/tokens.py`), on every store
in STORE_MODES, and the schema migration that adds the tokens table to an older file."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sigopt_service.errors import RecordNotFound
from sigopt_service.store import BaseStore, NewToken, SqliteStore
from sigopt_service.store.sqlite import MIGRATIONS, SCHEMA_VERSION
from tests.sigopt_service.store.helpers import new_experiment


def _hash(n: int) -> str:
    return f"{n:064x}"


def _token(n: int, **fields: Any) -> NewToken:
    return NewToken(secret_hash=_hash(n), **fields)


class TestTokenContract:
    def test_create_get_and_list(self, store: BaseStore) -> None:
        """Tokens get increasing ids and keep every field; lists page newest first."""
        eid = int(store.create_experiment(new_experiment()).id)
        made = [
            store.create_token(_token(1, name="ci", permissions="read")),
            store.create_token(_token(2, permissions="admin", expires=2_000_000_000)),
            store.create_token(_token(3, permissions="read", experiment=eid)),
        ]
        ids = [t.id for t in made]
        assert ids == sorted(ids) and ids[0] >= 1
        first = made[0]
        assert (first.name, first.permissions, first.experiment, first.expires) == (
            "ci",
            "read",
            None,
            None,
        )
        assert first.created > 0 and first.last_used is None
        assert store.get_token(ids[2]) == made[2]
        assert made[2].experiment == eid and made[1].expires == 2_000_000_000
        page = store.list_tokens(limit=2)
        assert [t.id for t in page.items] == ids[:0:-1] and page.count == 3 and page.has_more
        rest = store.list_tokens(limit=2, cursor=ids[1])
        assert [t.id for t in rest.items] == [ids[0]] and not rest.has_more
        assert [t.id for t in store.active_tokens()] == ids

    def test_unknown_experiment_and_duplicate_hash_are_refused(self, store: BaseStore) -> None:
        """A token of no experiment is RecordNotFound; a hash stored already (revoked
        included) is a ValueError; neither stores anything."""
        with pytest.raises(RecordNotFound, match="No experiment 99"):
            store.create_token(_token(1, experiment=99))
        kept = store.create_token(_token(1))
        with pytest.raises(ValueError, match="secret hash"):
            store.create_token(_token(1))
        store.revoke_token(kept.id)
        with pytest.raises(ValueError, match="secret hash"):
            store.create_token(_token(1))
        assert store.list_tokens().count == 0

    def test_revoked_token_is_gone(self, store: BaseStore) -> None:
        """After revoke: not found for any read or write, out of every list."""
        token = store.create_token(_token(1))
        other = store.create_token(_token(2))
        store.revoke_token(token.id)
        for call in (
            lambda: store.get_token(token.id),
            lambda: store.revoke_token(token.id),
            lambda: store.update_token(token.id, {"name": "x"}),
            lambda: store.record_token_use(token.id, 5),
        ):
            with pytest.raises(RecordNotFound, match=f"No token {token.id}$"):
                call()
        assert [t.id for t in store.active_tokens()] == [other.id]
        assert store.list_tokens().count == 1
        assert store.create_token(_token(3)).id > other.id  # ids are never reused

    def test_update_and_rotate(self, store: BaseStore) -> None:
        """Only the given keys change; a new hash replaces the old one; other keys are
        a ValueError."""
        token = store.create_token(_token(1, name="a", expires=2_000_000_000))
        renamed = store.update_token(token.id, {"name": "b", "expires": None})
        assert (renamed.name, renamed.expires, renamed.secret_hash) == ("b", None, _hash(1))
        rotated = store.update_token(token.id, {"secret_hash": _hash(9)})
        assert rotated.secret_hash == _hash(9) and rotated.name == "b"
        assert store.get_token(token.id) == rotated
        assert token.name == "a"  # the earlier snapshot is unchanged
        with pytest.raises(ValueError, match="not updatable"):
            store.update_token(token.id, {"permissions": "admin"})
        with pytest.raises(ValueError, match="hex"):
            store.update_token(token.id, {"secret_hash": "SECRET"})

    def test_last_use_only_moves_forward(self, store: BaseStore) -> None:
        """`record_token_use` keeps the latest time it was given."""
        token = store.create_token(_token(1))
        store.record_token_use(token.id, 100)
        store.record_token_use(token.id, 50)
        assert store.get_token(token.id).last_used == 100
        store.record_token_use(token.id, 160)
        assert store.get_token(token.id).last_used == 160


def _tokens_migration() -> int:
    """The index of the migration that adds the tokens table."""
    return next(
        i
        for i, statements in enumerate(MIGRATIONS)
        if any("CREATE TABLE tokens" in s for s in statements)
    )


def test_older_database_migrates_to_tokens(tmp_path: Path) -> None:
    """A file at the version before the tokens table (with an experiment in it) opens at
    the current version: its experiment is kept and takes share tokens."""
    index = _tokens_migration()
    path = tmp_path / "old.db"
    raw = sqlite3.connect(path)
    for migration in MIGRATIONS[:index]:
        for statement in migration:
            raw.execute(statement)
    raw.execute(
        "INSERT INTO experiments (id, name, type, parameters, metrics, observation_budget, "
        "parallel_bandwidth, num_solutions, conditionals, linear_constraints, metadata, "
        "project, state, created, updated) "
        "VALUES (1, 'old', 'offline', '[]', '[]', 10, 1, 1, '[]', '[]', NULL, NULL, "
        "'active', 5, 6)"
    )
    raw.execute(f"PRAGMA user_version = {index}")
    raw.commit()
    raw.close()
    store = SqliteStore(path)
    try:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.get_experiment(1).name == "old"
        assert store.list_tokens().count == 0
        token = store.create_token(_token(1, permissions="read", experiment=1))
        assert store.get_token(token.id).experiment == 1
    finally:
        store.close()
