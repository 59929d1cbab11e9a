"""`--db` takes a plain path, a `sqlite:///` URL or a PostgreSQL URL (issue 17, items 1
and 5), also from `ORCHESTRATOR_DB`; any other URL is an error naming the flag, and a
PostgreSQL password never shows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from orchestrator.cli import build_parser
from sigopt_service.config import PostgresUrl, ServiceConfig, database_location, database_path
from sigopt_service.http import running_service
from tests.support.postgres import free_port
from tests.support.service_process import ServiceProcess

EXPERIMENT = {
    "name": "db location",
    "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
    "observation_budget": 3,
}


@pytest.mark.parametrize(
    ("location", "path"),
    [
        ("runs/service.db", Path("runs/service.db")),
        ("/var/lib/s.db", Path("/var/lib/s.db")),
        ("sqlite:///runs/service.db", Path("runs/service.db")),
        ("sqlite:////var/lib/s.db", Path("/var/lib/s.db")),
        ("SQLite:///s.db", Path("s.db")),
        # No `://`: a file name that happens to hold a colon.
        ("sqlite:s.db", Path("sqlite:s.db")),
    ],
)
def test_forms_of_a_sqlite_database(location: str, path: Path) -> None:
    assert database_path(location) == path
    assert ServiceConfig(db=location).db == path


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("postgresql://team@db:5432/sigopt", "a PostgreSQL URL names no file"),
        ("mysql://db/sigopt", "unknown database URL scheme 'mysql'"),
        ("sqlite://host/s.db", "takes no host"),
        ("sqlite:///s.db?mode=ro", "takes no query string"),
        ("sqlite:///", "needs a file"),
        ("sqlite:///:memory:", "needs a file"),
        ("", "needs a database"),
    ],
)
def test_what_is_refused(location: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        database_path(location)


def test_serve_parses_the_url_form() -> None:
    """`orchestrator serve` takes the forms as `python -m sigopt_service` does."""
    args = build_parser().parse_args(["serve", "--db", "sqlite:////srv/team.db"])
    assert args.db == Path("/srv/team.db")


@pytest.mark.parametrize(
    ("location", "url"),
    [
        ("postgresql://team@db:5432/sigopt", "postgresql://team@db:5432/sigopt"),
        ("postgresql+psycopg://team@db/sigopt", "postgresql://team@db/sigopt"),
        (
            "postgres://team@db/sigopt?sslmode=require",
            "postgresql://team@db/sigopt?sslmode=require",
        ),
    ],
)
def test_forms_of_a_postgresql_database(location: str, url: str) -> None:
    assert database_location(location) == PostgresUrl(url=url)
    assert ServiceConfig(db=location).db == PostgresUrl(url=url)


def test_a_postgresql_password_never_shows() -> None:
    config = ServiceConfig(db="postgresql://me:s3cret@db.internal:5432/sigopt")
    assert isinstance(config.db, PostgresUrl)
    assert config.db.url == "postgresql://me:s3cret@db.internal:5432/sigopt"
    for shown in (str(config.db), repr(config.db), repr(config)):
        assert "s3cret" not in shown
    assert str(config.db) == "postgresql://me:***@db.internal:5432/sigopt"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        # libpq takes the password as a query parameter too.
        ("postgresql://me@db/sigopt?password=s3cret", "postgresql://me@db/sigopt?password=***"),
        (
            "postgresql://db/sigopt?sslmode=require&PASSWORD=s3cret&user=me",
            "postgresql://db/sigopt?sslmode=require&PASSWORD=***&user=me",
        ),
        # libpq's multi-host form has no one port (`.port` would raise).
        (
            "postgresql://me:s3cret@h1:5432,h2:5433/sigopt",
            "postgresql://me:***@h1:5432,h2:5433/sigopt",
        ),
        ("postgresql://me:s3cret@[::1]:5432/sigopt", "postgresql://me:***@[::1]:5432/sigopt"),
        ("postgresql://:s3cret@db/sigopt", "postgresql://:***@db/sigopt"),
        ("postgresql://me@db/sigopt", "postgresql://me@db/sigopt"),
    ],
)
def test_every_form_of_a_password_is_hidden(url: str, shown: str) -> None:
    location = database_location(url)
    assert str(location) == shown
    assert "s3cret" not in repr(ServiceConfig(db=url))


def test_serve_reads_the_database_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCHESTRATOR_DB", "postgresql://team@db/sigopt")
    args = build_parser().parse_args(["serve"])
    assert args.db == PostgresUrl(url="postgresql://team@db/sigopt")
    # A `--db` given wins over the variable.
    args = build_parser().parse_args(["serve", "--db", "x.db"])
    assert args.db == Path("x.db")


def test_unreachable_postgresql_fails_naming_it_without_the_password() -> None:
    """A real `orchestrator serve` on a closed port: it exits non-zero, says which
    database it could not open, and the password is in neither output."""
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", "serve", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "ORCHESTRATOR_DB": f"postgresql://me:s3cret@127.0.0.1:{free_port()}/db"},
    )
    assert done.returncode != 0
    assert "Cannot open database postgresql://me@127.0.0.1:" in done.stdout + done.stderr
    assert "s3cret" not in done.stdout + done.stderr


async def _create_experiment(url: str) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/v1/experiments", json=EXPERIMENT) as response,
    ):
        return response.status


async def test_relative_url_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = ServiceConfig(port=0, db="sqlite:///team.db")
    async with running_service(config) as url:
        assert await _create_experiment(url) == 200
    assert (tmp_path / "team.db").is_file()


async def test_process_serves_an_absolute_url(tmp_path: Path) -> None:
    """A real `python -m sigopt_service --db sqlite:////abs/team.db` stores in that file."""
    # The helper passes its own `--db` first; argparse keeps the last one given.
    unused = tmp_path / "unused.db"
    with ServiceProcess(unused, "--db", f"sqlite:///{tmp_path}/team.db") as service:
        assert await _create_experiment(service.url) == 200
    assert (tmp_path / "team.db").is_file()
    assert not unused.exists()
