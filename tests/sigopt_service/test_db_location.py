"""`--db` takes a plain path or a `sqlite:///` URL (issue 17, item 5); any other URL is an
error naming the flag (PostgreSQL: not supported yet)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from orchestrator.cli import build_parser
from sigopt_service.config import ServiceConfig, database_path
from sigopt_service.http import running_service
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
        ("postgresql://team@db:5432/sigopt", "PostgreSQL is not supported yet"),
        ("postgresql+psycopg://team@db/sigopt", "PostgreSQL is not supported yet"),
        ("postgres://team@db/sigopt", "PostgreSQL is not supported yet"),
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


def test_postgresql_is_a_usage_error_naming_the_flag() -> None:
    """Exit 2 naming `--db`, and the URL's password is not echoed back."""
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", "serve", "--db", "postgresql://me:s3cret@h/db"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "argument --db: PostgreSQL is not supported yet" in done.stderr
    assert "s3cret" not in done.stderr


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
