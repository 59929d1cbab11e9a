"""The token part of the store contract: `TokenStore`, mixed into `BaseStore`, and the
records it takes and gives (`NewToken`, `StoredToken`).

Contract, for every store (checked by `tests/sigopt_service/store/test_contract_tokens.py`):

- A token is stored as the SHA-256 of its secret (`secret_hash`, 64 lowercase hex
  digits), never the secret: the store never sees one. `secret_hash` is unique among all
  tokens, revoked ones included (a `ValueError` otherwise: the caller made the secret).
- Ids are positive ints, increasing, never reused, as for every record.
- A token is active until `revoke_token`; a revoked token is gone for every read and
  write (`RecordNotFound("token", id)`, "No token 5") and lists leave it out, but its row
  stays (soft delete, like every delete here). An expired token is still active here:
  whether `expires` has passed is the caller's check (at the time the caller knows).
- `experiment` names an existing experiment (`RecordNotFound` otherwise, deleted ones
  allowed: their data stays readable); None is a token of every experiment.
- `update_token` replaces the keys it is given (`TOKEN_UPDATABLE`: `name`, `expires`,
  `secret_hash`, which is how a rotation lands); any other key is a `ValueError`.
- `record_token_use` sets `last_used` (a later time only: an older one changes nothing).
- Results are frozen snapshots; listings are newest first, paged as `BaseStore`'s.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # `base.py` imports this module: the type only, no cycle
    from sigopt_service.store.base import Page

__all__ = [
    "TOKEN_UPDATABLE",
    "NewToken",
    "StoredToken",
    "TokenPermission",
    "TokenStore",
    "check_token_changes",
]

#: What a token may do: `admin` everything (tokens included), `write` everything but
#: managing tokens, `read` GET and HEAD only. An experiment's token is always `read`.
TokenPermission = Literal["admin", "write", "read"]
#: Keys `update_token` accepts.
TOKEN_UPDATABLE = frozenset({"name", "expires", "secret_hash"})
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class NewToken(BaseModel):
    """A token to store: the hash of its secret and what it may do."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    secret_hash: str = Field(pattern=_SHA256_HEX.pattern, repr=False)
    name: str | None = None
    permissions: TokenPermission = "write"
    #: The one experiment the token reaches (SigOpt's share token); None: every one.
    experiment: int | None = None
    #: Unix time after which the token is refused; None: never.
    expires: int | None = None


class StoredToken(NewToken):
    """A stored, active token."""

    id: int
    created: int
    #: When it was last used (recorded at most once a minute by the service); None: never.
    last_used: int | None = None


def check_token_changes(changes: Mapping[str, Any]) -> None:
    """`ValueError` for a key outside `TOKEN_UPDATABLE` or a malformed `secret_hash`."""
    unknown = set(changes) - TOKEN_UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    secret_hash = changes.get("secret_hash")
    if secret_hash is not None and not _SHA256_HEX.fullmatch(secret_hash):
        raise ValueError("secret_hash must be 64 lowercase hex digits")


class TokenStore(abc.ABC):
    """The token methods every store has (see the module docstring for the contract)."""

    @abc.abstractmethod
    def create_token(self, new: NewToken) -> StoredToken:
        """Store an active token; RecordNotFound for an unknown `experiment`."""

    @abc.abstractmethod
    def get_token(self, token_id: int) -> StoredToken:
        """The active token; RecordNotFound if unknown or revoked."""

    @abc.abstractmethod
    def list_tokens(self, *, limit: int = 100, cursor: int | None = None) -> Page[StoredToken]:
        """One page of the active tokens, newest first; `count` over all pages."""

    @abc.abstractmethod
    def active_tokens(self) -> list[StoredToken]:
        """Every active token, oldest first (what the service looks secrets up in)."""

    def find_token(self, secret_hash: str) -> StoredToken | None:
        """The active token with this secret hash, or None: the lookup of a service that
        shares its database with other processes and so may keep no table of its own.
        Here: a scan of `active_tokens`; a store with an index answers the same faster."""
        return next((t for t in self.active_tokens() if t.secret_hash == secret_hash), None)

    @abc.abstractmethod
    def update_token(self, token_id: int, changes: Mapping[str, Any]) -> StoredToken:
        """Replace the given fields (keys in `TOKEN_UPDATABLE`) of an active token."""

    @abc.abstractmethod
    def revoke_token(self, token_id: int) -> None:
        """Revoke an active token: from now on it is gone (RecordNotFound if it is)."""

    @abc.abstractmethod
    def record_token_use(self, token_id: int, used: int) -> None:
        """Set `last_used` to `used` unless it is later already; RecordNotFound for a
        token that is not active."""
