"""The `service` section: the service's URLs (one, several for failover, or none for the
embedded service), the embedded service's database, and where the token is read."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from orchestrator.client import checked_base_url, split_urls

#: Where the API token is read from unless `service.token_env` names another variable.
DEFAULT_TOKEN_ENV = "SIGOPT_API_TOKEN"

#: One entry of `service.url`: http(s), without a trailing `/` or `/v1` (the client adds it).
BaseUrl = Annotated[str, AfterValidator(checked_base_url)]


class ServiceSection(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: `url` in the file: the base URL of a SigOpt-compatible service, or several (a YAML
    #: list, or one comma-separated string as `--api-url` takes them) of processes of one
    #: service, tried in order on failure. Empty: start the embedded one.
    urls: tuple[BaseUrl, ...] = Field(default=(), alias="url")
    #: SQLite file of the embedded service; None: `<run dir>/service.db`.
    db: Path | None = None
    #: The environment variable holding the API token (read at start, never written).
    token_env: str = DEFAULT_TOKEN_ENV

    @property
    def url(self) -> str | None:
        """The first URL: the service as a run prints and records it (`state.json`);
        None for the embedded one."""
        return self.urls[0] if self.urls else None

    @field_validator("urls", mode="before")
    @classmethod
    def _entries(cls, value: Any) -> Any:
        if value is None:
            return ()
        if isinstance(value, str):
            entries = split_urls(value)
            # One URL is checked here, so that its error names `service.url` itself; each
            # of several is checked as an entry, whose error names `service.url[1]`.
            return (checked_base_url(entries[0]),) if len(entries) == 1 else entries
        if not isinstance(value, list | tuple):
            raise ValueError(f"must be a URL or a list of URLs, got {value!r}")
        if not value:
            raise ValueError("give one or more URLs, or leave `url` out for the embedded service")
        return value
