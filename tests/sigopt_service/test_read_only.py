"""The read-only service (`ServiceConfig.read_only`, `--read-only`): what `orchestrator
dashboard` serves a run's database with. Reads answer as usual; every write is refused
with a 405 that says why, and the SQLite connection itself refuses to write."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sigopt_service.config import ServiceConfig
from sigopt_service.errors import DatabaseError
from sigopt_service.http import running_service
from sigopt_service.store import NewExperiment, SqliteStore
from sigopt_service.usecases import open_store
from tests.support.service_process import ServiceProcess

EXPERIMENT = {
    "name": "read only",
    "type": "random",
    "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
    "metrics": [{"name": "score", "objective": "maximize"}],
    "observation_budget": 10,
}
#: Every writing request of the API, as (method, path under /v1, body).
WRITES = [
    ("POST", "/experiments", EXPERIMENT),
    ("PUT", "/experiments/{e}", {"name": "renamed"}),
    ("DELETE", "/experiments/{e}", None),
    ("POST", "/experiments/{e}/suggestions", {}),
    ("DELETE", "/experiments/{e}/suggestions", None),
    ("POST", "/experiments/{e}/observations", {"suggestion": "{s}", "value": 1.0}),
    ("PUT", "/experiments/{e}/observations/{o}", {"value": 2.0}),
    ("DELETE", "/experiments/{e}/observations/{o}", None),
    ("PATCH", "/experiments/{e}", {"name": "patched"}),
]


async def fill(url: str) -> dict[str, str]:
    """An experiment with one completed observation, one failed, one open suggestion."""
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url}/v1/experiments", json=EXPERIMENT) as resp:
            eid = (await resp.json())["id"]
        base = f"{url}/v1/experiments/{eid}"
        ids = {"e": eid}
        for body in ({"value": 0.5}, {"failed": True, "metadata": {"failure_reason": "x"}}):
            async with session.post(f"{base}/suggestions", json={}) as resp:
                suggestion = (await resp.json())["id"]
            observed = {"suggestion": suggestion, **body}
            async with session.post(f"{base}/observations", json=observed) as resp:
                assert resp.status == 200, await resp.text()
                ids["o"] = (await resp.json())["id"]
        async with session.post(f"{base}/suggestions", json={}) as resp:
            ids["s"] = (await resp.json())["id"]
    return ids


async def snapshot(url: str, eid: str) -> dict[str, Any]:
    """What the API says of the experiment: what must not change."""
    out: dict[str, Any] = {}
    async with aiohttp.ClientSession() as session:
        for key in ("", "/observations", "/suggestions"):
            async with session.get(f"{url}/v1/experiments/{eid}{key}") as resp:
                assert resp.status == 200, await resp.text()
                out[key] = await resp.json()
    return out


def db_rows(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        tables = ("experiments", "suggestions", "observations")
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def fill_in(path: str, ids: dict[str, str]) -> str:
    return path.format(**ids)


@pytest.fixture
async def filled(service_config: ServiceConfig) -> tuple[Path, dict[str, str]]:
    """A database written by a normal service, which has stopped."""
    async with running_service(service_config) as url:
        ids = await fill(url)
    assert service_config.db is not None
    return service_config.db, ids


class TestReadOnlyService:
    async def test_reads_answer_as_before(self, filled: tuple[Path, dict[str, str]]) -> None:
        """GET of the experiment, its observations and suggestions: as the normal service
        answered them, failed observation and open suggestion included."""
        db, ids = filled
        async with running_service(ServiceConfig(port=0, db=db)) as url:
            before = await snapshot(url, ids["e"])
        async with running_service(ServiceConfig(port=0, db=db, read_only=True)) as url:
            assert await snapshot(url, ids["e"]) == before
        assert before["/observations"]["count"] == 2
        assert any(o["failed"] for o in before["/observations"]["data"])

    @pytest.mark.parametrize(("method", "path", "body"), WRITES)
    async def test_every_write_is_refused(
        self,
        filled: tuple[Path, dict[str, str]],
        method: str,
        path: str,
        body: dict[str, Any] | None,
    ) -> None:
        """Each writing request is a 405 saying the service is read-only, with `Allow`;
        the database holds the same rows after it."""
        db, ids = filled
        rows = db_rows(db)
        if body is not None:
            body = {k: fill_in(v, ids) if isinstance(v, str) else v for k, v in body.items()}
        async with (
            running_service(ServiceConfig(port=0, db=db, read_only=True)) as url,
            aiohttp.ClientSession() as session,
            session.request(method, f"{url}/v1{fill_in(path, ids)}", json=body) as resp,
        ):
            assert resp.status == 405
            assert resp.headers["Allow"] == "GET, HEAD, OPTIONS"
            error = await resp.json()
        assert error["code"] == "method_not_allowed"
        assert "read-only" in error["message"]
        assert f"{method} /v1{fill_in(path, ids)}" in error["message"]
        assert db_rows(db) == rows

    async def test_the_page_login_is_not_refused(self, filled: tuple[Path, dict[str, str]]) -> None:
        """`POST /login` (the pages' sign-in) writes nothing: the read-only layer lets it
        through to its handler."""
        db, _ = filled
        async with (
            running_service(ServiceConfig(port=0, db=db, read_only=True)) as url,
            aiohttp.ClientSession() as session,
            session.post(f"{url}/login", data={"token": "t"}, allow_redirects=False) as resp,
        ):
            text = await resp.text()
        assert "read-only" not in text

    @pytest.mark.parametrize("method", ["HEAD", "OPTIONS"])
    async def test_head_and_options_pass(
        self, filled: tuple[Path, dict[str, str]], method: str
    ) -> None:
        """HEAD and OPTIONS read nothing into the database: they reach the routes, which
        answer them as a normal service does."""
        db, ids = filled
        answers = []
        for read_only in (False, True):
            config = ServiceConfig(port=0, db=db, read_only=read_only)
            async with (
                running_service(config) as url,
                aiohttp.ClientSession() as session,
                session.request(method, f"{url}/v1/experiments/{ids['e']}") as resp,
            ):
                answers.append((resp.status, resp.headers.get("Allow")))
        assert answers[0] == answers[1]

    async def test_a_normal_service_still_writes(self, service_config: ServiceConfig) -> None:
        """Not read-only (the default): the same writes go through."""
        async with running_service(service_config) as url:
            ids = await fill(url)
        assert service_config.db is not None
        assert db_rows(service_config.db)["observations"] == 2
        assert ids["o"]


class TestReadOnlyStore:
    def test_sqlite_refuses_writes(self, tmp_path: Path) -> None:
        """The second lock: a read-only store's connection is query-only, so a write
        that got past the HTTP layer fails in SQLite, and the file's data is unchanged."""
        db = tmp_path / "s.db"
        writable = SqliteStore(db)
        experiment = writable.create_experiment(NewExperiment.model_validate(EXPERIMENT))
        writable.close()
        digest = hashlib.sha256(db.read_bytes()).hexdigest()
        store = SqliteStore(db, read_only=True)
        try:
            assert store.get_experiment(int(experiment.id)).name == "read only"
            with pytest.raises(DatabaseError):
                store.create_experiment(NewExperiment.model_validate(EXPERIMENT))
            with pytest.raises(DatabaseError):
                store.update_experiment(int(experiment.id), {"name": "changed"})
        finally:
            store.close()
        assert db_rows(db)["experiments"] == 1
        assert hashlib.sha256(db.read_bytes()).hexdigest() == digest

    def test_no_database_is_made(self, tmp_path: Path) -> None:
        """A read-only service serves a database that exists; it never creates one."""
        missing = tmp_path / "runs" / "none.db"
        with pytest.raises(DatabaseError, match="No database"):
            open_store(ServiceConfig(db=missing, read_only=True))
        assert not missing.parent.exists()


class TestReadOnlyFlag:
    async def test_read_only_process(self, filled: tuple[Path, dict[str, str]]) -> None:
        """`python -m sigopt_service --read-only` (and so `orchestrator serve
        --read-only`): reads answer, a suggestion is refused."""
        db, ids = filled
        with ServiceProcess(db, "--read-only") as service:
            async with aiohttp.ClientSession() as session:
                base = f"{service.url}/v1/experiments/{ids['e']}"
                async with session.get(base) as resp:
                    assert resp.status == 200
                async with session.post(f"{base}/suggestions", json={}) as resp:
                    assert resp.status == 405
        assert db_rows(db)["suggestions"] == 3
