"""`DelegatingTokens`: the token methods of `DelegatingStore`, each handed to the store it
wraps (a module of its own, so the wrapper's token part reads as the contract's does)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sigopt_service.store.base import BaseStore, Page
from sigopt_service.store.tokens import NewToken, StoredToken, TokenStore


class DelegatingTokens(TokenStore):
    """Every token method is the `inner` store's; nothing about tokens is cached here (the
    service keeps its own lookup table of active tokens, `usecases/_tokens.py`)."""

    inner: BaseStore

    def create_token(self, new: NewToken) -> StoredToken:
        return self.inner.create_token(new)

    def get_token(self, token_id: int) -> StoredToken:
        return self.inner.get_token(token_id)

    def list_tokens(self, *, limit: int = 100, cursor: int | None = None) -> Page[StoredToken]:
        return self.inner.list_tokens(limit=limit, cursor=cursor)

    def active_tokens(self) -> list[StoredToken]:
        return self.inner.active_tokens()

    def find_token(self, secret_hash: str) -> StoredToken | None:
        return self.inner.find_token(secret_hash)

    def update_token(self, token_id: int, changes: Mapping[str, Any]) -> StoredToken:
        return self.inner.update_token(token_id, changes)

    def revoke_token(self, token_id: int) -> None:
        self.inner.revoke_token(token_id)

    def record_token_use(self, token_id: int, used: int) -> None:
        self.inner.record_token_use(token_id, used)
