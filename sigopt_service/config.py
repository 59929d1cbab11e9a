"""Configuration of the service: where it listens, where it stores, who may call it."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})

#: `scheme://...` (RFC 3986 scheme); anything else given as a database is a file path.
_URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
#: A `password=` parameter of a libpq URL's query string, up to its value.
_QUERY_PASSWORD = re.compile(r"((?:^|&)password=)[^&]*", re.IGNORECASE)
_SQLITE_FORMS = "a file path, sqlite:///relative/path.db or sqlite:////absolute/path.db"


class PostgresUrl(BaseModel):
    """A PostgreSQL database to store in, `postgresql://user[:password]@host:port/name`
    (libpq's URL: `?sslmode=...` and the like pass through). Shown, logged and printed
    without its password; better still, keep the password out of the URL (`PGPASSWORD`,
    `~/.pgpass`) and the URL out of the process list (`ORCHESTRATOR_DB`)."""

    model_config = ConfigDict(frozen=True)

    url: str = Field(repr=False)

    def __str__(self) -> str:
        # The netloc as text, not `.hostname`/`.port`: libpq's multi-host form
        # (`h1:5432,h2:5432`) has no one port, and IPv6 hosts keep their brackets.
        parts = urlsplit(self.url)
        userinfo, at, hosts = parts.netloc.rpartition("@")
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        # libpq also takes the password as a query parameter.
        query = _QUERY_PASSWORD.sub(r"\1***", parts.query)
        return urlunsplit(parts._replace(netloc=f"{userinfo}{at}{hosts}", query=query))

    def __repr__(self) -> str:
        return f"PostgresUrl({str(self)!r})"


def database_location(location: str) -> Path | PostgresUrl:
    """What a `--db` value names: a PostgreSQL URL (`postgresql://...`, also
    `postgres://` and SQLAlchemy's `postgresql+psycopg://`), else a SQLite file as
    `database_path` reads it."""
    match = _URL_SCHEME.match(location)
    if match is not None:
        scheme = match.group(1).lower()
        if scheme.split("+")[0] in ("postgresql", "postgres"):
            rest = location[match.end() :]
            if not rest.strip("/"):
                raise ValueError(f"a PostgreSQL URL needs a host or a database ({location!r})")
            return PostgresUrl(url="postgresql://" + rest)
    return database_path(location)


def database_path(location: str) -> Path:
    """The SQLite file a `--db` value names: a plain path, or a SQLAlchemy-style URL,
    `sqlite:///relative/path.db` (three slashes) or `sqlite:////absolute/path.db` (four).

    `ValueError` for any other URL (PostgreSQL's: see `database_location`), a host, a
    query string or no file at all. Written by hand rather than with SQLAlchemy's `make_url`:
    two URL forms do not justify the dependency.
    """
    match = _URL_SCHEME.match(location)
    if match is None:
        if not location:
            raise ValueError(f"needs a database: {_SQLITE_FORMS}")
        return Path(location)
    scheme = match.group(1).lower()
    if scheme.split("+")[0] in ("postgresql", "postgres"):
        raise ValueError(f"a PostgreSQL URL names no file; give {_SQLITE_FORMS}")
    if scheme != "sqlite":
        raise ValueError(f"unknown database URL scheme {scheme!r}; give {_SQLITE_FORMS}")
    rest = location[match.end() :]
    if not rest.startswith("/"):
        raise ValueError(f"a sqlite URL takes no host ({location!r}); give {_SQLITE_FORMS}")
    if "?" in rest:
        raise ValueError(f"a sqlite URL takes no query string ({location!r})")
    # `sqlite:///x` -> "x" (relative), `sqlite:////x` -> "/x" (absolute), as SQLAlchemy.
    path = rest.removeprefix("/")
    if not path or path == ":memory:":
        raise ValueError(f"a sqlite URL needs a file ({location!r}); give {_SQLITE_FORMS}")
    return Path(path)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ServiceConfig(BaseModel):
    """Settings of one service process; `db=None` keeps everything in memory (tests only)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    #: 0 picks a free port; the running service reports the real one.
    port: int = Field(default=8080, ge=0, le=65535)
    #: A SQLite file, or a PostgreSQL database several service processes may share.
    db: Path | PostgresUrl | None = None
    #: "NORMAL" survives a process crash (kill -9); "FULL" also survives power loss.
    synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    #: Admin API tokens accepted as HTTP Basic usernames (not stored; they manage the
    #: stored tokens, `http/access.py`). Empty: no auth at all (loopback only).
    tokens: tuple[str, ...] = Field(default=(), repr=False)
    #: Requests per second per token (or per client address without auth); None: no limit.
    rate_limit_per_s: float | None = Field(default=None, gt=0)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    #: Seed of the optimizer's samplers, for reproducible runs; None: random.
    seed: int | None = None
    #: sigopt-server stores any number of observations per suggestion. By default we answer
    #: 409 to a second one instead: a retried or late request can then never count twice.
    allow_duplicate_observations: bool = False
    #: Use Optuna's GP sampler where torch is installed and the space suits it.
    use_gp: bool | None = None
    #: Serve the database to look at only: every request but GET, HEAD and OPTIONS (and the
    #: page login) is refused with a 405, and the store's connection is query-only
    #: (`orchestrator dashboard`; `--read-only`).
    read_only: bool = False

    @field_validator("db", mode="before")
    @classmethod
    def _db_location(cls, value: Any) -> Any:
        # `sqlite:///path` or `postgresql://...` as `--db` takes it, or a plain path.
        return database_location(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _token_beyond_loopback(self) -> ServiceConfig:
        if not self.tokens and not is_loopback(self.host):
            raise ValueError(
                f"host {self.host!r} is not a loopback address: refusing to listen without "
                "an API token (give --token or tokens)"
            )
        if any(not t for t in self.tokens):
            raise ValueError("tokens must not be empty strings")
        return self
