"""`TokenRegistry`: the service's stored API tokens, looked up in memory by the SHA-256 of
the secret a request carries, and every change to them (create, rotate, update, revoke).

```python
issued = await registry.create({"name": "ci", "permissions": "read"})
issued.secret                          # shown once; the store keeps sha256(secret) only
token = await registry.identify(secret)   # the active token, or Unauthorized
await registry.revoke(token.id)        # the next request with it is a 401
```
A secret is `secrets.token_urlsafe(32)` (256 random bits), so a plain SHA-256 is all the
hashing it needs (no salt, no slow hash: nothing to guess), and a lookup is a dict probe on
the hash: no comparison of secrets to time.

The table of active tokens is loaded from the store on first use and then changed only
here, in the same step as the store, so no cached entry outlives a revoke: revoking or
rotating takes the old secret out of the table before the store write (put back if that
write fails), and changes run one at a time. That holds while this process is the
database's only writer, as the caching store assumes too. Around a database other service
processes share (`BaseStore.is_shared`, PostgreSQL) there is no table: every request
looks its secret's hash up in the store (one indexed read), so a token revoked or rotated
through any process is refused by all of them from the next request on.

Last use: every successful `identify` notes the time in memory (what reads return); it
is written to the store at most once a minute per token (`LAST_USE_WRITE_EVERY_S`), not
at all by a read-only service.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
import structlog

from sigopt_service.errors import DatabaseError, RecordNotFound, Unauthorized
from sigopt_service.store import BaseStore, NewToken, Page, StoredToken
from sigopt_service.usecases._calls import StoreCalls
from sigopt_service.validation.token import (
    TokenRequest,
    validate_experiment_token_create,
    validate_token_create,
    validate_token_update,
)

log = structlog.get_logger()

#: Writes of a token's last use are at least this far apart (its time in memory is exact).
LAST_USE_WRITE_EVERY_S = 60


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    """A token together with its secret: what creating or rotating it answers, once."""

    token: StoredToken
    secret: str = field(repr=False)


class TokenRegistry:
    """The active stored tokens by secret hash, and the use cases that change them."""

    def __init__(
        self,
        calls: StoreCalls,
        store: BaseStore,
        *,
        read_only: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._calls = calls
        self._store = store
        self._read_only = read_only
        self._clock = clock
        #: secret hash -> active token; None until loaded.
        self._by_hash: dict[str, StoredToken] | None = None
        self._hash_of: dict[int, str] = {}
        self._used: dict[int, int] = {}  # token id -> last use, exact
        self._written: dict[int, int] = {}  # token id -> last use written to the store
        # Loading and every change, one at a time: two rotations of one token never race.
        self._changing = anyio.Lock()

    def __repr__(self) -> str:
        loaded = "not loaded" if self._by_hash is None else f"active={len(self._by_hash)}"
        return f"<TokenRegistry {loaded} read_only={self._read_only}>"

    def now(self) -> int:
        return int(self._clock())

    # -- lookups --------------------------------------------------------------------------
    async def identify(self, secret: str) -> StoredToken:
        """The active, unexpired token whose secret this is (its use noted); otherwise
        `Unauthorized`."""
        if self._store.is_shared:
            token = await self._calls.call(self._store.find_token, hash_secret(secret))
        else:
            token = (await self._table()).get(hash_secret(secret))
        if token is None:
            raise Unauthorized("Invalid API token.")
        now = self.now()
        if token.expires is not None and token.expires <= now:
            when = datetime.fromtimestamp(token.expires, UTC).isoformat()
            raise Unauthorized(f"This API token expired at {when}.")
        await self._note_use(token.id, now)
        return self._with_last_use(token)

    async def get(self, token_id: int) -> StoredToken:
        return self._with_last_use(await self._calls.call(self._store.get_token, token_id))

    async def listing(self, *, limit: int, cursor: int | None) -> Page[StoredToken]:
        page = await self._calls.call(self._store.list_tokens, limit=limit, cursor=cursor)
        return Page([self._with_last_use(t) for t in page.items], page.count, page.has_more)

    # -- changes --------------------------------------------------------------------------
    async def create(self, body: Mapping[str, Any]) -> IssuedToken:
        """A token of every experiment, or of one (`experiment`), from a request body."""
        return await self._issue(validate_token_create(body, now=self.now()))

    async def create_for_experiment(
        self, experiment_id: int, body: Mapping[str, Any]
    ) -> IssuedToken:
        """The experiment's read-only share token (RecordNotFound for no experiment)."""
        return await self._issue(
            validate_experiment_token_create(experiment_id, body, now=self.now())
        )

    async def update(
        self, token_id: int, body: Mapping[str, Any]
    ) -> tuple[StoredToken, str | None]:
        """Apply `PUT /v1/tokens/{id}`: the token, and its new secret if it was rotated."""
        wanted = validate_token_update(body, now=self.now())
        changes = dict(wanted.changes)
        secret = new_secret() if wanted.rotate else None
        if secret is not None:
            changes["secret_hash"] = hash_secret(secret)
        table = await self._table()
        async with self._changing:
            old_hash = self._hash_of.get(token_id)
            # Out of the table first: a rotated secret is refused from this moment on.
            withdrawn = table.pop(old_hash, None) if secret is not None and old_hash else None
            try:
                updated = await self._calls.call(self._store.update_token, token_id, changes)
            except Exception:
                # The write failed, nothing changed: the old secret is good again. Not on
                # cancellation: the queued write still lands (`StoreThread`), so the old
                # secret stays refused (failing closed).
                if withdrawn is not None and old_hash is not None:
                    table[old_hash] = withdrawn
                raise
            table.pop(self._hash_of.get(token_id, ""), None)
            self._keep(table, updated)
        return self._with_last_use(updated), secret

    async def revoke(self, token_id: int) -> None:
        table = await self._table()
        async with self._changing:
            old_hash = self._hash_of.get(token_id)
            withdrawn = table.pop(old_hash, None) if old_hash else None
            try:
                await self._calls.call(self._store.revoke_token, token_id)
            except Exception:  # as in `update`: not on cancellation
                if withdrawn is not None and old_hash is not None:
                    table[old_hash] = withdrawn
                raise
            self._forget(token_id)

    # -- inside ---------------------------------------------------------------------------
    async def _table(self) -> dict[str, StoredToken]:
        if self._by_hash is None:
            async with self._changing:
                if self._by_hash is None:
                    active = await self._calls.call(self._store.active_tokens)
                    table: dict[str, StoredToken] = {}
                    for token in active:
                        self._keep(table, token)
                    self._by_hash = table
        return self._by_hash

    def _keep(self, table: dict[str, StoredToken], token: StoredToken) -> None:
        table[token.secret_hash] = token
        self._hash_of[token.id] = token.secret_hash
        if token.last_used is not None:
            self._written.setdefault(token.id, token.last_used)

    def _forget(self, token_id: int) -> None:
        self._hash_of.pop(token_id, None)
        self._used.pop(token_id, None)
        self._written.pop(token_id, None)

    async def _issue(self, request: TokenRequest) -> IssuedToken:
        secret = new_secret()
        new = NewToken(
            secret_hash=hash_secret(secret),
            name=request.name,
            permissions=request.permissions,
            experiment=request.experiment,
            expires=request.expires,
        )
        table = await self._table()
        async with self._changing:
            created = await self._calls.call(self._store.create_token, new)
            self._keep(table, created)
        return IssuedToken(created, secret)

    def _with_last_use(self, token: StoredToken) -> StoredToken:
        used = self._used.get(token.id)
        if used is None or (token.last_used is not None and token.last_used >= used):
            return token
        return token.model_copy(update={"last_used": used})

    async def _note_use(self, token_id: int, now: int) -> None:
        """Keep the time; write it when the last write is a minute old (awaited here, so
        no task outlives the request; that is one request a minute per token)."""
        self._used[token_id] = now
        written = self._written.get(token_id)
        if self._read_only or (written is not None and now - written < LAST_USE_WRITE_EVERY_S):
            return
        self._written[token_id] = now
        try:
            await self._calls.call(self._store.record_token_use, token_id, now)
        except RecordNotFound:
            # Revoked between the lookup and this write: the revoke said all there is.
            self._forget(token_id)
        except DatabaseError as exc:
            # The request itself does not depend on it; the next use a minute on retries.
            log.warning("token_use_not_recorded", token_id=token_id, error=str(exc))
