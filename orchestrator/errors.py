"""The orchestrator's exception tree. Callers catch by category, never by message text.

```
OrchestratorError
├── ConfigError(message, *, file, key)         a configuration value is wrong; str() names both
├── ServiceError(message, *, method, path)     talking to the SigOpt-compatible service failed
│   ├── TransientServiceError                  retried: connect failure, timeout, disconnect,
│   │                                          429, 500 (unless disabled), 502/503/504
│   │       .status (None without a response), .retry_after_s (429), .ambiguous
│   └── ServiceRejected(status, message)       other 4xx/5xx: the service refused the request;
│       │     .code, .field                    carries the status, the service's `message`, and
│       │                                      its stable `code` and `field` (None when the
│       │                                      server sent none, as a foreign SigOpt server)
│       └── BudgetExhausted                    409 to a `within_budget` suggest: observations
│                                              plus open suggestions already fill the budget
└── (re-exported from workers.errors) WorkerError ─── BrokenWorker
```

`TransientServiceError.ambiguous` says whether the service may have acted on the request
(a timeout, a disconnect after the request was sent, a 5xx). The client reads it to keep
`suggest` and `observe` exactly-once: after an ambiguous failure it checks what the service
already did before sending again. A refused connection or a 429 is never ambiguous. On the
error that escapes `suggest` or `observe` after retries, `ambiguous` covers every attempt:
True means the write may have landed.

Callers branch on `status`, `code` and `field`, never on `message`, which is for people.
"""

from __future__ import annotations

from pathlib import Path

from workers.errors import BrokenWorker, WorkerError

__all__ = [
    "BrokenWorker",
    "BudgetExhausted",
    "ConfigError",
    "OrchestratorError",
    "ServiceError",
    "ServiceRejected",
    "TransientServiceError",
    "WorkerError",
]


class OrchestratorError(Exception):
    """Base of every error the orchestrator raises on purpose."""


class ConfigError(OrchestratorError):
    """A configuration value is missing or invalid; names the key and the file it came from."""

    def __init__(self, message: str, *, file: Path | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.key = key

    def __str__(self) -> str:
        where = f"{self.key}: " if self.key else ""
        source = f" (in {self.file})" if self.file is not None else ""
        return f"{where}{self.message}{source}"

    def __repr__(self) -> str:
        return f"ConfigError({self.message!r}, file={self.file!r}, key={self.key!r})"


class ServiceError(OrchestratorError):
    """A call to the service failed; `method` and `path` name the request (path after /v1)."""

    def __init__(self, message: str, *, method: str | None = None, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.path = path

    def __str__(self) -> str:
        if self.method and self.path:
            return f"{self.method} {self.path}: {self.message}"
        return self.message


class TransientServiceError(ServiceError):
    """A failure worth retrying: the service was unreachable, slow, throttling or overloaded.

    `status` is None when no response arrived. `retry_after_s` is the service's `Retry-After`
    (429), the minimum wait before the next attempt. `ambiguous` is True when the service may
    have acted on the request, so a blind re-send could duplicate its effect.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        retry_after_s: float | None = None,
        ambiguous: bool = True,
    ) -> None:
        super().__init__(message, method=method, path=path)
        self.status = status
        self.retry_after_s = retry_after_s
        self.ambiguous = ambiguous

    def __repr__(self) -> str:
        return (
            f"TransientServiceError({self.message!r}, method={self.method!r}, "
            f"path={self.path!r}, status={self.status!r}, "
            f"retry_after_s={self.retry_after_s!r}, ambiguous={self.ambiguous!r})"
        )


class ServiceRejected(ServiceError):
    """The service answered with an error that re-sending will not fix (4xx other than 429).

    `code` is the service's stable error code (e.g. "budget_reached", "already_observed")
    and `field` the key path the error is about; both are None when the body carries none.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
        code: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message, method=method, path=path)
        self.status = status
        self.code = code
        self.field = field

    def __str__(self) -> str:
        return f"{super().__str__()} (HTTP {self.status})"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.status}, {self.message!r}, "
            f"method={self.method!r}, path={self.path!r}, code={self.code!r}, "
            f"field={self.field!r})"
        )


class BudgetExhausted(ServiceRejected):
    """The service refused a new suggestion: the experiment's budget is already spoken for
    (observations plus open suggestions, counted atomically by the service)."""
