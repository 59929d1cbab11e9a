"""The API tokens of `InMemoryStore`: the contract of `store/tokens.py` on dicts."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

from sigopt_service.errors import RecordNotFound
from sigopt_service.models import Experiment
from sigopt_service.store._changes import now_s
from sigopt_service.store._listing import id_page
from sigopt_service.store.base import BaseStore, Page
from sigopt_service.store.tokens import NewToken, StoredToken, check_token_changes


class InMemoryTokens(BaseStore):
    """The token part of `InMemoryStore`: active tokens by id (a revoked one leaves the
    dict), and every hash ever stored, so one is never stored twice."""

    def __init__(self) -> None:
        super().__init__()
        self._tokens: dict[int, StoredToken] = {}
        self._hashes: set[str] = set()
        self._next_token_id = 1

    @abc.abstractmethod
    def _experiment(self, experiment_id: int) -> Experiment:
        """The stored experiment; RecordNotFound for an unknown id."""

    def _active_token(self, token_id: int) -> StoredToken:
        found = self._tokens.get(token_id)
        if found is None:
            raise RecordNotFound("token", token_id)
        return found

    def create_token(self, new: NewToken) -> StoredToken:
        if new.experiment is not None:
            self._experiment(new.experiment)
        if new.secret_hash in self._hashes:
            raise ValueError("a token with this secret hash is stored already")
        token = StoredToken(**new.model_dump(), id=self._next_token_id, created=now_s())
        self._next_token_id += 1
        self._tokens[token.id] = token
        self._hashes.add(token.secret_hash)
        return token  # frozen and holding no mutable value: no copy needed

    def get_token(self, token_id: int) -> StoredToken:
        return self._active_token(token_id)

    def list_tokens(self, *, limit: int = 100, cursor: int | None = None) -> Page[StoredToken]:
        ids, has_more = id_page(sorted(self._tokens), ascending=False, limit=limit, cursor=cursor)
        return Page([self._tokens[i] for i in ids], len(self._tokens), has_more)

    def active_tokens(self) -> list[StoredToken]:
        return [self._tokens[i] for i in sorted(self._tokens)]

    def update_token(self, token_id: int, changes: Mapping[str, Any]) -> StoredToken:
        check_token_changes(changes)
        current = self._active_token(token_id)
        new_hash = changes.get("secret_hash")
        if new_hash is not None and new_hash != current.secret_hash and new_hash in self._hashes:
            raise ValueError("a token with this secret hash is stored already")
        updated = current.model_copy(update=dict(changes))
        self._tokens[token_id] = updated
        if new_hash is not None:
            self._hashes.add(new_hash)
        return updated

    def revoke_token(self, token_id: int) -> None:
        self._active_token(token_id)
        del self._tokens[token_id]

    def record_token_use(self, token_id: int, used: int) -> None:
        current = self._active_token(token_id)
        if current.last_used is None or used > current.last_used:
            self._tokens[token_id] = current.model_copy(update={"last_used": used})
