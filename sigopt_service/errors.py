"""The service's exception tree.

```
ServiceError
├── ApiError(status, message)     rendered as {"message": ..., "status": ...}
│   ├── InvalidRequest   400      bad body, query or id reference; the message names the field
│   ├── Unauthorized     401      no or unknown token
│   ├── NotFound         404      unknown experiment, suggestion or observation id
│   ├── Conflict         409      a transition the store forbids
│   ├── UnsupportedMediaType 415  a body that is not JSON (multipart, XML, another charset)
│   └── RateLimited      429      only when a rate limit is configured
└── StoreError                    the database failed (rendered as 500, logged once)
```
Handlers raise `ApiError` subclasses; one middleware in `app.py` renders them.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base of every error the service raises on purpose."""


class ApiError(ServiceError):
    """An error with an HTTP status and a message the client shows to its user."""

    status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, message={self.message!r})"


class InvalidRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class UnsupportedMediaType(ApiError):
    status = 415


class RateLimited(ApiError):
    status = 429

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StoreError(ServiceError):
    """The database could not do what was asked (I/O error, corruption, lock timeout)."""
