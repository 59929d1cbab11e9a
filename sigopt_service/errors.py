"""The service's exception tree. Errors carry data (status, field, code, ids), never only prose.

```
OptimizationServiceError
├── ApiError(message, *, field, code)   rendered as {"message", "status", "field", "code"}
│   ├── InvalidRequest   400      bad body, query or reference; `field` names the key path
│   ├── Unauthorized     401      no or unknown token
│   ├── Forbidden        403      a known token whose scope does not reach this request
│   ├── NotFound         404      unknown experiment, suggestion or observation id, or route
│   ├── Conflict         409      a transition the service forbids (budget reached, observed)
│   ├── UnsupportedMediaType 415  a body that is not JSON (multipart, XML, another charset)
│   └── RateLimited      429      only when a rate limit is configured
└── StoreError                    raised by the stores; mapped to an ApiError once, at the
    │                             HTTP boundary (`RecordNotFound` -> 404, ...)
    ├── RecordNotFound(kind, record_id, experiment_id)       -> NotFound, code not_found
    ├── RecordExists(kind, record_id)  a project id taken; the use case answers Conflict
    ├── UnknownSuggestion(suggestion_id, experiment_id)      -> InvalidRequest, field suggestion
    ├── AlreadyObserved(suggestion_id, experiment_id)        -> Conflict, code already_observed
    └── DatabaseError                 the database failed (rendered as 500, logged once)
```
`code` is stable: callers (the orchestrator's config loader and client among them) branch on
`code` and `field`, never on `message`, which is for people. Every code is in `CODES`.
"""

from __future__ import annotations

from typing import Literal

#: Every stable error code, by the status it goes with.
ErrorCode = Literal[
    "invalid_request",  # 400, no more precise code applies
    "invalid_json",  # 400, the body is not a JSON object
    "missing_key",  # 400, a required key is absent (`field` names it)
    "unknown_key",  # 400, a key the resource does not have (`field` names it)
    "invalid_value",  # 400, a value of the wrong type or out of range (`field` names it)
    "unknown_suggestion",  # 400, an observation names a suggestion that is not there
    "unauthorized",  # 401
    "forbidden",  # 403, the token's scope (read-only, one experiment, not admin) forbids it
    "not_found",  # 404, a record
    "endpoint_not_found",  # 404, a route
    "method_not_allowed",  # 405
    "budget_reached",  # 409, `within_budget` and observations + open suggestions fill it
    "already_observed",  # 409, a suggestion is observed once
    "conflict",  # 409, another forbidden transition
    "body_too_large",  # 413
    "unsupported_media_type",  # 415
    "rate_limited",  # 429
    "internal_error",  # 500
]
CODES: frozenset[str] = frozenset(ErrorCode.__args__)  # type: ignore[attr-defined]


class OptimizationServiceError(Exception):
    """Base of every error the service raises on purpose."""


class ApiError(OptimizationServiceError):
    """An error with an HTTP status, a message the client shows to its user, the field it
    is about (a key path such as `parameters[2].bounds.min`, or None) and a stable code."""

    status: int = 500
    default_code: ErrorCode = "internal_error"

    def __init__(
        self, message: str, *, field: str | None = None, code: ErrorCode | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code: ErrorCode = code or self.default_code

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status}, code={self.code!r}, "
            f"field={self.field!r}, message={self.message!r})"
        )


class InvalidRequest(ApiError):
    status = 400
    default_code = "invalid_request"


class Unauthorized(ApiError):
    status = 401
    default_code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    default_code = "forbidden"


class NotFound(ApiError):
    status = 404
    default_code = "not_found"


class Conflict(ApiError):
    status = 409
    default_code = "conflict"


class UnsupportedMediaType(ApiError):
    status = 415
    default_code = "unsupported_media_type"


class RateLimited(ApiError):
    status = 429
    default_code = "rate_limited"

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


# -- the store's own errors: no HTTP here -------------------------------------------------
class StoreError(OptimizationServiceError):
    """Base of what a store raises on purpose. `message` is SigOpt's wording."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


RecordKind = Literal[
    "experiment",
    "suggestion",
    "observation",
    "queued_suggestion",
    "token",
    "project",
    "training_run",
    "checkpoint",
]
#: How SigOpt's messages name a kind, where that is not the kind itself.
_KIND_IN_MESSAGES = {
    "queued_suggestion": "QueuedSuggestion",
    "training_run": "training run",
}


class RecordNotFound(StoreError):
    """No such experiment, or no such suggestion, observation or queued suggestion in that
    experiment (one of another experiment counts as missing), or no such (active) token."""

    def __init__(
        self, kind: RecordKind, record_id: int | str, experiment_id: int | None = None
    ) -> None:
        what = _KIND_IN_MESSAGES.get(kind, kind)
        if kind == "experiment" or experiment_id is None:  # a record of no experiment
            message = f"No {what} {record_id}"
        else:
            message = f"No {what} {record_id} for experiment {experiment_id}"
        super().__init__(message)
        self.kind: RecordKind = kind
        self.record_id = record_id
        self.experiment_id = experiment_id


class RecordExists(StoreError):
    """A record whose id its creator chooses (a project) exists already."""

    def __init__(self, kind: RecordKind, record_id: str) -> None:
        super().__init__(f"The {kind} with id `{record_id}` already exists.")
        self.kind: RecordKind = kind
        self.record_id = record_id


class UnknownSuggestion(StoreError):
    """An observation names a suggestion that is unknown, deleted or of another experiment
    (spec section 4); nothing of its batch is stored."""

    def __init__(self, suggestion_id: int, experiment_id: int) -> None:
        super().__init__(f"No suggestion: {suggestion_id} for experiment: {experiment_id}")
        self.suggestion_id = suggestion_id
        self.experiment_id = experiment_id


class AlreadyObserved(StoreError):
    """A suggestion already has an observation, or a batch names it twice; nothing of the
    batch is stored."""

    def __init__(self, suggestion_id: int, experiment_id: int, *, in_batch: bool) -> None:
        if in_batch:
            message = f"Suggestion {suggestion_id} is observed twice in this request"
        else:
            message = (
                f"Suggestion {suggestion_id} already has an observation "
                f"(experiment {experiment_id}); each suggestion is observed once"
            )
        super().__init__(message)
        self.suggestion_id = suggestion_id
        self.experiment_id = experiment_id
        self.in_batch = in_batch


class UnstorableText(StoreError):
    """A text the database cannot hold: PostgreSQL refuses the NUL character in text."""

    def __init__(self) -> None:
        super().__init__("Text values may not contain the NUL character (\\u0000)")


class DatabaseError(StoreError):
    """The database could not do what was asked (I/O error, corruption, lock timeout)."""
