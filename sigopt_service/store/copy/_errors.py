"""`CopyError`: why a copy did not happen. Raised before the first row is written, or by a
failure that rolled the destination's transaction back: either way the destination holds
what it held before (at most the empty schema its store created)."""

from __future__ import annotations

from typing import Literal

from sigopt_service.errors import DatabaseError

#: Which database an error is about.
Side = Literal["source", "destination"]
#: Why, as a stable code (callers branch on it, never on the message):
#: `missing` no such file; `not_a_store` not a service database; `newer_schema` written
#: by newer code; `unreadable` / `unreachable` the database cannot be opened or read;
#: `busy` another session holds the destination's tables; `not_empty` it holds rows;
#: `same_database` source and destination are one file; `failed` the copy itself failed
#: (rolled back).
CopyErrorReason = Literal[
    "missing",
    "not_a_store",
    "newer_schema",
    "unreadable",
    "unreachable",
    "busy",
    "not_empty",
    "same_database",
    "failed",
]


class CopyError(DatabaseError):
    """A copy that did not happen; `side` and `reason` say which database and why, the
    message says it for people (with no password in it)."""

    def __init__(self, message: str, *, side: Side, reason: CopyErrorReason = "failed") -> None:
        # One line, whatever the driver's message: a CLI prints it as an error line.
        super().__init__(" ".join(f"{side} {message}".split()))
        self.side: Side = side
        self.reason: CopyErrorReason = reason

    def __repr__(self) -> str:
        return f"CopyError(side={self.side!r}, reason={self.reason!r}, message={self.message!r})"
