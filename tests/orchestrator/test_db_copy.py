"""`orchestrator db copy SRC [DST]` through its entry point: a summary of the rows copied;
each refusal one line naming the database and why, exit 2 for arguments that name the
wrong thing and 1 for a database that fails or is not empty, never a password, and the
destination (and a foreign source) left exactly as they were."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from orchestrator.cli import main
from sigopt_service.store import NewToken, SqliteStore
from sigopt_service.store.postgres import TABLES, PostgresStore
from sigopt_service.store.sqlite import SCHEMA_VERSION
from tests.sigopt_service.store.copy_helpers import pg_tables, populate
from tests.support.postgres import free_port

PASSWORD = "hunter2-Secret"


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "service.db"
    store = SqliteStore(path)
    populate(store)
    store.close()
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["db", "copy", *argv])
    out, err = capsys.readouterr()
    return code, out + err


class TestCopy:
    """A copy prints the rows per table and how long it took."""

    def test_summary(
        self, source: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, out = run(capsys, f"sqlite:///{source}", postgres_url)
        assert code == 0, out
        counts = pg_tables(postgres_url)
        assert counts is not None and all(counts.values())
        cells = [line.replace("│", " ").split() for line in out.splitlines()]
        for table, rows in counts.items():
            assert [table, f"{rows:,}"] in cells
        assert ["total", f"{sum(counts.values()):,}"] in cells
        assert f"copied {sum(counts.values()):,} rows from {source} to {postgres_url}" in out
        assert " rows/s" in out

    def test_destination_from_the_environment(
        self,
        source: Path,
        postgres_url: str,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """No DST: `$ORCHESTRATOR_DB`, as `orchestrator serve` reads it."""
        monkeypatch.setenv("ORCHESTRATOR_DB", postgres_url)
        code, out = run(capsys, str(source))
        assert code == 0, out
        assert pg_tables(postgres_url) is not None


class TestRefusals:
    """Nothing is written to DST; SRC is touched only when it is a service database."""

    def test_missing_source(
        self, tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, out = run(capsys, str(tmp_path / "nope.db"), postgres_url)
        assert (code, out.strip()) == (2, f"error: source {tmp_path / 'nope.db'} does not exist")
        assert pg_tables(postgres_url) is None  # not even the schema
        assert not (tmp_path / "nope.db").exists()

    def test_source_not_sqlite(
        self, tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = tmp_path / "config.yaml"
        path.write_text("experiment: {}\n")
        code, out = run(capsys, str(path), postgres_url)
        assert (code, out.strip()) == (2, f"error: source {path} is not a SQLite database")
        assert pg_tables(postgres_url) is None

    def test_source_of_another_program_is_left_alone(
        self, tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A SQLite file without our tables is refused, not given them."""
        path = tmp_path / "other.db"
        with sqlite3.connect(path) as raw:
            raw.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        before = path.read_bytes()
        code, out = run(capsys, str(path), postgres_url)
        assert code == 2
        assert out.strip().startswith(f"error: source {path} is a SQLite database but not a ")
        assert path.read_bytes() == before
        assert pg_tables(postgres_url) is None

    def test_source_newer_than_this_code(
        self, source: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        with sqlite3.connect(source) as raw:
            raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        code, out = run(capsys, str(source), postgres_url)
        assert code == 2
        assert f"schema version {SCHEMA_VERSION + 1}, newer than {SCHEMA_VERSION}" in out
        assert len(out.strip().splitlines()) == 1
        assert pg_tables(postgres_url) is None

    def test_unreachable_destination_hides_the_password(
        self, source: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        url = f"postgresql://copier:{PASSWORD}@127.0.0.1:{free_port()}/sigopt"
        code, out = run(capsys, str(source), url)
        assert code == 1
        [line] = out.strip().splitlines()
        assert line.startswith("error: destination postgresql://copier:***@127.0.0.1:")
        assert "cannot be opened: connection failed" in line
        assert PASSWORD not in out

    def test_destination_with_rows(
        self, source: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        store = PostgresStore(postgres_url)
        store.create_token(NewToken(secret_hash="d" * 64))
        store.close()
        code, out = run(capsys, str(source), postgres_url)
        assert code == 1
        [line] = out.strip().splitlines()
        assert line.startswith(f"error: destination {postgres_url} is not empty (tokens: 1)")
        assert "createdb" in line
        assert pg_tables(postgres_url) == {**dict.fromkeys(TABLES, 0), "tokens": 1}

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (("postgresql://a@h/db", "x.db"), "SRC postgresql://a@h/db is a PostgreSQL"),
            (("a.db", f"mysql://u:{PASSWORD}@h/db"), "DST: unknown database URL scheme"),
            (("a.db", f"sqlite://u:{PASSWORD}@h/x.db"), "DST: a sqlite URL takes no host"),
            (("a.db",), "give DST, the database to copy into"),
        ],
    )
    def test_arguments_that_name_no_database(
        self,
        argv: tuple[str, ...],
        message: str,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.delenv("ORCHESTRATOR_DB", raising=False)
        code, out = run(capsys, *argv)
        assert code == 2
        assert out.startswith(f"error: {message}")
        assert PASSWORD not in out

    def test_destination_is_the_source(
        self, source: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        before = source.read_bytes()
        code, out = run(capsys, str(source), f"sqlite:///{source}")
        assert (code, out.strip()) == (2, f"error: destination {source} is the source itself")
        assert source.read_bytes() == before
