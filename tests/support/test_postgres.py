"""The throwaway PostgreSQL server: found, started (as root too), isolated databases, crash
recovery on a durable cluster, and nothing left behind."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import psutil
import psycopg
import pytest

from tests.support import postgres
from tests.support.postgres import (
    PostgresCluster,
    PostgresCommandError,
    PostgresNotFound,
    find_pg_bin,
)
from tests.support.processes import is_gone


def _postmaster_pid(cluster: PostgresCluster) -> int:
    return int((cluster.data_dir / "postmaster.pid").read_text().split()[0])


def _all_gone(pids: list[int]) -> bool:
    """Within 5 s: pg_ctl stop returns once the pid file is gone, a moment before the
    postmaster's own exit."""
    deadline = time.monotonic() + 5
    while not all(is_gone(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    return all(is_gone(pid) for pid in pids)


def _fake_initdb(folder: Path) -> Path:
    folder.mkdir(parents=True)
    initdb = folder / "initdb"
    initdb.write_text("#!/bin/sh\n")
    initdb.chmod(0o755)
    return initdb


class TestFindPgBin:
    def test_real_binaries_are_found(self) -> None:
        """The folder found holds the three programs a cluster needs."""
        found = find_pg_bin()
        assert all(os.access(found / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres"))

    def test_newest_debian_version_wins_over_path(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Debian's versioned folders are compared as numbers (9.6 < 15 < 16), before PATH."""
        for version in ("9.6", "15", "16", "common"):
            _fake_initdb(tmp_path / "lib" / version / "bin")
        _fake_initdb(tmp_path / "path")
        monkeypatch.delenv("PG_BIN", raising=False)
        monkeypatch.setattr(postgres, "DEBIAN_PG_ROOT", tmp_path / "lib")
        monkeypatch.setenv("PATH", str(tmp_path / "path"))
        assert find_pg_bin() == tmp_path / "lib" / "16" / "bin"

    def test_path_is_the_fallback_through_symlinks(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An initdb on PATH that is a symlink gives the folder of its target."""
        real = _fake_initdb(tmp_path / "real")
        (tmp_path / "path").mkdir()
        (tmp_path / "path" / "initdb").symlink_to(real)
        monkeypatch.delenv("PG_BIN", raising=False)
        monkeypatch.setattr(postgres, "DEBIAN_PG_ROOT", tmp_path / "none")
        monkeypatch.setenv("PATH", str(tmp_path / "path"))
        assert find_pg_bin() == real.parent.resolve()

    def test_pg_bin_overrides_and_nothing_found_is_a_clear_error(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """PG_BIN is taken as given; an empty one, or no initdb anywhere, raises."""
        _fake_initdb(tmp_path / "mine")
        monkeypatch.setenv("PG_BIN", str(tmp_path / "mine"))
        assert find_pg_bin() == tmp_path / "mine"
        monkeypatch.setenv("PG_BIN", str(tmp_path))
        with pytest.raises(PostgresNotFound, match="PG_BIN"):
            find_pg_bin()
        monkeypatch.delenv("PG_BIN")
        monkeypatch.setattr(postgres, "DEBIAN_PG_ROOT", tmp_path / "none")
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))
        with pytest.raises(PostgresNotFound, match="make test-tools"):
            find_pg_bin()


class TestSharedCluster:
    def test_fresh_database_takes_tables_and_rows(self, postgres_url: str) -> None:
        """A test's database starts empty and stores what it is given."""
        with psycopg.connect(postgres_url) as conn:
            tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            assert tables.fetchone() == (0,)
            conn.execute("CREATE TABLE t (id int PRIMARY KEY, name text)")
            conn.execute("INSERT INTO t VALUES (1, 'é')")
            conn.commit()
            assert conn.execute("SELECT id, name FROM t").fetchall() == [(1, "é")]

    def test_databases_are_isolated_and_dropped(self, postgres_cluster: PostgresCluster) -> None:
        """A table in one database is absent from another; a dropped database is gone even
        while a session is still open on it."""
        first = postgres_cluster.create_database("isolated_a")
        second = postgres_cluster.create_database("isolated_b")
        try:
            with psycopg.connect(first, autocommit=True) as conn:
                conn.execute("CREATE TABLE only_here (id int)")
            with psycopg.connect(second) as conn:
                found = conn.execute("SELECT to_regclass('only_here')").fetchone()
            assert found == (None,)
            lingering = psycopg.connect(first)
            postgres_cluster.drop_database("isolated_a")
            lingering.close()
            with pytest.raises(psycopg.OperationalError, match="isolated_a"):
                psycopg.connect(first).close()
        finally:
            postgres_cluster.drop_database("isolated_a")
            postgres_cluster.drop_database("isolated_b")

    def test_server_runs_as_an_unprivileged_user(self, postgres_cluster: PostgresCluster) -> None:
        """As root the server runs as `postgres` (initdb refuses root), else as us; it listens
        on loopback only, with the connection room several pools need."""
        owner = psutil.Process(_postmaster_pid(postgres_cluster)).username()
        expected = "postgres" if os.geteuid() == 0 else psutil.Process().username()
        assert owner == expected != "root"
        with psycopg.connect(postgres_cluster.url()) as conn:
            assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
            assert conn.execute("SHOW max_connections").fetchone() == ("200",)
            assert conn.execute("SHOW fsync").fetchone() == ("off",)


class TestOwnCluster:
    def test_committed_row_survives_an_immediate_restart(
        self, durable_postgres_cluster: PostgresCluster
    ) -> None:
        """1. Commit a row on a durable cluster. 2. Crash-restart it (`-m immediate`).
        3. The server recovered from its WAL on the same port, and the row is there."""
        cluster = durable_postgres_cluster
        url, port = cluster.create_database("durable"), cluster.port
        with psycopg.connect(url) as conn:
            assert conn.execute("SHOW fsync").fetchone() == ("on",)
            conn.execute("CREATE TABLE t (id int)")
            conn.execute("INSERT INTO t VALUES (42)")
            conn.commit()
        cluster.restart_immediate()
        assert cluster.port == port
        assert "automatic recovery in progress" in cluster.log_tail()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT id FROM t").fetchall() == [(42,)]

    def test_stop_leaves_nothing_behind(self) -> None:
        """Leaving the `with` block stops the server and removes its folder."""
        with PostgresCluster.start() as cluster:
            pid = _postmaster_pid(cluster)
        assert _all_gone([pid])
        assert not cluster.base_dir.exists()
        assert "stopped" in repr(cluster)

    def test_stop_kills_the_server_when_pg_ctl_cannot(self, tmp_path: Path) -> None:
        """With pg_ctl unusable, stop() still ends the postmaster and its children."""
        cluster = PostgresCluster.start()
        postmaster = psutil.Process(_postmaster_pid(cluster))
        family = [postmaster.pid, *(child.pid for child in postmaster.children())]
        cluster.bin_dir = tmp_path / "gone"
        cluster.stop()
        assert _all_gone(family)
        assert not cluster.base_dir.exists()

    def test_a_taken_port_is_retried_on_another(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """If another process binds the chosen port first, the server starts on a fresh one."""
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            busy, spare = taken.getsockname()[1], postgres.free_port()
            ports = iter([busy, spare])
            monkeypatch.setattr(postgres, "free_port", lambda: next(ports))
            with PostgresCluster.start() as cluster:
                assert cluster.port == spare
                assert "could not bind" in cluster.log_tail()

    def test_failed_initdb_raises_with_its_output(self) -> None:
        """initdb's own message reaches the error, and the half-made folder is removed."""
        base = postgres.make_base_dir()
        (base / "data").mkdir()
        (base / "data" / "stray").write_text("")
        os.chmod(base / "data", 0o777)
        with pytest.raises(PostgresCommandError, match="not empty"):
            PostgresCluster.start(base)
        assert not base.exists()
