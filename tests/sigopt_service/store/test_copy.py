"""`copy_database` (what `orchestrator db copy` runs): a SQLite service database into an
empty PostgreSQL database or SQLite file, every record equal when read back through the
destination's own store, ids kept and continued, all or nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from sigopt_service.config import PostgresUrl
from sigopt_service.models import SuggestionState
from sigopt_service.store import NewProject, NewToken, SqliteStore
from sigopt_service.store.copy import CopyError, copy_database
from sigopt_service.store.postgres import TABLES, PostgresStore
from sigopt_service.store.sqlite import MIGRATIONS, SCHEMA_VERSION
from tests.sigopt_service.store.copy_helpers import everything, pg_tables, populate, raw_rows
from tests.sigopt_service.store.helpers import new_experiment, observed


@pytest.fixture
def source(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    """A SQLite service database holding one of every kind of record."""
    path = tmp_path / "service.db"
    store = SqliteStore(path)
    ids = populate(store)
    store.close()
    return path, ids


class TestCopyToPostgres:
    """Every record reads back equal from PostgreSQL, and the copy's ids continue."""

    def test_every_record_reads_back_equal(
        self, source: tuple[Path, dict[str, int]], postgres_url: str
    ) -> None:
        """Model by model through the stores' own reads, and row by row underneath."""
        path, _ = source
        seen: list[tuple[str, int, int]] = []
        report = copy_database(
            path, PostgresUrl(url=postgres_url), progress=lambda *a: seen.append(a)
        )
        sqlite, pg = SqliteStore(path), PostgresStore(postgres_url)
        try:
            expected, copied = everything(sqlite), everything(pg)
        finally:
            sqlite.close()
            pg.close()
        assert copied.keys() == expected.keys()
        for key, value in expected.items():
            assert copied[key] == value, key
        assert raw_rows(postgres_url) == raw_rows(path)
        assert list(report.rows) == list(TABLES)
        assert report.rows == {t: len(rows) for t, rows in raw_rows(path).items()}
        assert all(report.rows[t] > 0 for t in TABLES)  # the fixture left no table empty
        assert {(t, total) for t, _, total in seen} == set(report.rows.items())
        assert report.migrated_from is None and report.elapsed_s > 0
        assert "***" not in report.destination and report.destination.startswith("postgresql")

    def test_new_writes_get_ids_after_the_copied_ones(
        self, source: tuple[Path, dict[str, int]], postgres_url: str
    ) -> None:
        """Each identity continues past the highest copied id: nothing collides."""
        path, ids = source
        copy_database(path, PostgresUrl(url=postgres_url))
        before = {t: max(r[0] for r in rows) for t, rows in _ids(postgres_url).items()}
        pg = PostgresStore(postgres_url)
        try:
            eid = int(pg.create_experiment(new_experiment("after")).id)
            sid = int(pg.create_suggestion(ids["conditional"], {"a": 2, "x": "1"}).id)
            [obs] = pg.create_observations(ids["multitask"], [observed(None, 1.0)])
            qid = int(pg.create_queued_suggestion(ids["conditional"], {"a": 4, "x": "1"}).id)
            token = pg.create_token(NewToken(secret_hash="f" * 64))
            pg.create_project(NewProject(id="proj-3", name="new"))
            checkpoint = pg.create_checkpoint(ids["run"], [], None)
            served = pg.serve_queued_suggestion(ids["conditional"], ids["waiting"])
            assert pg.get_suggestion(ids["conditional"], int(served.id)).state is (
                SuggestionState.OPEN
            )
        finally:
            pg.close()
        assert eid == before["experiments"] + 1
        assert sid == before["suggestions"] + 1 and int(served.id) == sid + 1
        assert int(obs.id) == before["observations"] + 1
        assert qid == before["queued_suggestions"] + 1
        assert token.id == before["tokens"] + 1
        assert int(checkpoint.id) == before["checkpoints"] + 1

    def test_an_older_schema_is_migrated_then_copied(
        self, tmp_path: Path, postgres_url: str
    ) -> None:
        """A version-2 file (before queues, tokens, runs, tasks) copies at the newest schema;
        the report says it was migrated, and the file is now at the newest version."""
        path = tmp_path / "v2.db"
        raw = sqlite3.connect(path)
        for migration in MIGRATIONS[:2]:
            for statement in migration:
                raw.execute(statement)
        raw.execute(
            "INSERT INTO experiments VALUES (4, 'old', 'offline', '[]', '[]', 10, 1, 1, "
            "'[]', '[]', '{\"k\": \"v\"}', NULL, 'active', 5, 6)"
        )
        raw.execute("INSERT INTO suggestions VALUES (9, 4, '{\"x\": 0.1}', NULL, 5, 0, 0)")
        raw.execute("PRAGMA user_version = 2")
        raw.commit()
        raw.close()
        report = copy_database(path, PostgresUrl(url=postgres_url))
        assert report.migrated_from == 2
        assert report.rows["experiments"] == report.rows["suggestions"] == 1
        assert SqliteStore(path).schema_version() == SCHEMA_VERSION
        pg = PostgresStore(postgres_url)
        try:
            old = pg.get_experiment(4)
            assert (old.name, old.observation_budget, old.metadata) == ("old", 10, {"k": "v"})
            assert (old.created, old.updated, old.development) == (5, 6, False)
            assert [s.id for s in pg.open_suggestions(4)] == ["9"]
            assert pg.create_suggestion(4, {"x": 0.2}).id == "10"
        finally:
            pg.close()


class TestAllOrNothing:
    """A refused or failed copy leaves the destination as it was."""

    def test_failure_midway_rolls_everything_back(
        self, source: tuple[Path, dict[str, int]], postgres_url: str
    ) -> None:
        """A row PostgreSQL rejects (a constraint added to observations) fails the copy
        after experiments and suggestions went in: they are gone too."""
        PostgresStore(postgres_url).close()
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute("ALTER TABLE observations ADD CONSTRAINT never_failed CHECK (failed = 0)")
        with pytest.raises(CopyError) as info:
            copy_database(source[0], PostgresUrl(url=postgres_url))
        assert (info.value.side, info.value.reason) == ("destination", "failed")
        assert "nothing was written" in info.value.message
        assert pg_tables(postgres_url) == dict.fromkeys(TABLES, 0)

    def test_a_destination_with_rows_is_refused(
        self, source: tuple[Path, dict[str, int]], postgres_url: str
    ) -> None:
        """One row anywhere (a token) is enough; the message names the table."""
        pg = PostgresStore(postgres_url)
        pg.create_token(NewToken(secret_hash="e" * 64))
        pg.close()
        with pytest.raises(CopyError, match=r"not empty \(tokens: 1\)") as info:
            copy_database(source[0], PostgresUrl(url=postgres_url))
        assert info.value.reason == "not_empty"
        assert pg_tables(postgres_url) == {**dict.fromkeys(TABLES, 0), "tokens": 1}

    def test_a_destination_in_use_is_refused_in_time(
        self,
        source: tuple[Path, dict[str, int]],
        postgres_url: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A session writing the destination (a service that was not stopped) holds its
        tables: the copy gives up after the lock timeout instead of hanging."""
        monkeypatch.setattr("sigopt_service.store.copy._destinations.LOCK_TIMEOUT_S", 1)
        PostgresStore(postgres_url).close()
        with psycopg.connect(postgres_url) as writer:  # its transaction stays open
            writer.execute(
                "INSERT INTO projects (reference_id, name, created, updated) "
                "VALUES ('p', 'p', 1, 1)"
            )
            with pytest.raises(CopyError, match="is in use") as info:
                copy_database(source[0], PostgresUrl(url=postgres_url))
            writer.rollback()
        assert info.value.reason == "busy"
        assert pg_tables(postgres_url) == dict.fromkeys(TABLES, 0)


class TestCopyToSqlite:
    """The same copy into another SQLite file (back from a team service's copy, say)."""

    def test_every_row_equal_and_ids_continue(
        self, source: tuple[Path, dict[str, int]], tmp_path: Path
    ) -> None:
        path, ids = source
        target = tmp_path / "copy" / "service.db"
        target.parent.mkdir()
        report = copy_database(path, target)
        assert raw_rows(target) == raw_rows(path)
        assert report.destination == str(target)
        original, copied = SqliteStore(path), SqliteStore(target)
        try:
            assert everything(copied) == everything(original)
            after = int(copied.create_experiment(new_experiment("after")).id)
        finally:
            original.close()
            copied.close()
        assert after == ids["ai"] + 1  # the last experiment `populate` made

    def test_the_source_itself_is_refused(self, source: tuple[Path, dict[str, int]]) -> None:
        with pytest.raises(CopyError) as info:
            copy_database(source[0], source[0])
        assert info.value.reason == "same_database"


def _ids(url: str) -> dict[str, list[tuple[int]]]:
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"SELECT id FROM {t}").fetchall() for t in TABLES}
