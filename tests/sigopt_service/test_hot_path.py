"""Where the service runs its work: quick suggest/observe writes on the event loop, what can
take milliseconds (an optimizer ask, an fsync, a WAL checkpoint) on the store thread."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sigopt_service.config import ServiceConfig
from sigopt_service.engine import Engine
from sigopt_service.http import running_service
from sigopt_service.store import SqliteStore
from sigopt_service.store.sqlite import CHECKPOINT_EVERY_WRITES
from tests.sigopt_service.store.helpers import new_experiment

ThreadLog = dict[str, list[str]]


@pytest.fixture
def thread_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadLog]:
    """Names of the threads that ran each spied method (the real methods still run)."""
    seen: ThreadLog = {}

    def spy(cls: type, name: str) -> None:
        real: Callable[..., Any] = getattr(cls, name)

        def recorded(*args: Any, **kwargs: Any) -> Any:
            seen.setdefault(name, []).append(threading.current_thread().name)
            return real(*args, **kwargs)

        monkeypatch.setattr(cls, name, recorded)

    spy(SqliteStore, "create_suggestion")
    spy(SqliteStore, "create_observations")
    spy(SqliteStore, "maintain")
    spy(SqliteStore, "serve_queued_suggestion")
    spy(Engine, "_ask")
    yield seen


def _body(engine_type: str) -> dict[str, Any]:
    return {
        "name": "hot",
        "type": engine_type,
        "observation_budget": 1000,
        "metrics": [{"name": "v", "objective": "minimize"}],
        "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
    }


async def _cycles(url: str, engine_type: str, cycles: int) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/v1/experiments", data=json.dumps(_body(engine_type))) as r:
            assert r.status == 200, await r.text()
            base = f"{url}/v1/experiments/{(await r.json())['id']}"
        for _ in range(cycles):
            async with http.post(f"{base}/suggestions") as r:
                suggestion = await r.json()
            observation = {"suggestion": suggestion["id"], "value": suggestion["assignments"]["x"]}
            async with http.post(f"{base}/observations", data=json.dumps(observation)) as r:
                assert r.status == 200, await r.text()


async def test_random_engine_writes_run_on_the_loop(tmp_path: Path, thread_log: ThreadLog) -> None:
    loop_thread = threading.current_thread().name
    async with running_service(ServiceConfig(port=0, db=tmp_path / "s.db")) as url:
        await _cycles(url, "random", 20)
    # The first call of an experiment is cold (read from the store) and goes to the thread.
    assert set(thread_log["create_suggestion"][1:]) == {loop_thread}
    assert set(thread_log["create_observations"]) == {loop_thread}


async def test_a_waiting_queue_is_served_off_the_loop(
    tmp_path: Path, thread_log: ThreadLog
) -> None:
    """A queued entry is read before it is served, so a suggest with one waiting goes to
    the store thread; once the queue is empty and the engine warm again (serving made it
    rebuild), suggests run on the loop."""
    loop_thread = threading.current_thread().name
    async with running_service(ServiceConfig(port=0, db=tmp_path / "s.db")) as url:
        await _cycles(url, "random", 3)
        base = f"{url}/v1/experiments/1"
        async with aiohttp.ClientSession() as http:
            queued = {"assignments": {"x": 0.5}}
            async with http.post(f"{base}/queued_suggestions", data=json.dumps(queued)) as r:
                assert r.status == 200, await r.text()
            for expected in (0.5, None, None):
                async with http.post(f"{base}/suggestions") as r:
                    served = (await r.json())["assignments"]["x"]
                    assert expected is None or served == expected
    assert thread_log["serve_queued_suggestion"] != [loop_thread]
    assert thread_log["create_suggestion"][-1] == loop_thread


async def test_optimizer_asks_never_run_on_the_loop(tmp_path: Path, thread_log: ThreadLog) -> None:
    loop_thread = threading.current_thread().name
    async with running_service(ServiceConfig(port=0, db=tmp_path / "s.db")) as url:
        await _cycles(url, "offline", 15)
    assert len(thread_log["_ask"]) == 15
    assert loop_thread not in thread_log["_ask"]
    assert loop_thread not in thread_log["create_suggestion"]


async def test_fsync_mode_keeps_every_write_off_the_loop(
    tmp_path: Path, thread_log: ThreadLog
) -> None:
    loop_thread = threading.current_thread().name
    config = ServiceConfig(port=0, db=tmp_path / "s.db", synchronous="FULL")
    async with running_service(config) as url:
        await _cycles(url, "random", 10)
    assert loop_thread not in thread_log["create_suggestion"] + thread_log["create_observations"]


async def test_wal_checkpoints_run_on_the_thread_and_bound_the_wal(
    tmp_path: Path, thread_log: ThreadLog
) -> None:
    loop_thread = threading.current_thread().name
    db = tmp_path / "s.db"
    cycles = CHECKPOINT_EVERY_WRITES  # two writes per cycle: two checkpoints at least
    async with running_service(ServiceConfig(port=0, db=db)) as url:
        await _cycles(url, "random", cycles)
        wal_bytes = os.stat(f"{db}-wal").st_size
    checkpoints = thread_log["maintain"]
    assert len(checkpoints) >= 2 and loop_thread not in checkpoints
    # A passive checkpoint lets SQLite reuse the WAL from its start: without them the WAL
    # would hold every one of the 2 * cycles commits (several pages each).
    assert wal_bytes < 2 * cycles * 3 * 4096


def test_store_checkpoints_only_when_due(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db", autocheckpoint=False)
    try:
        assert store._conn is not None
        assert store._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        assert not store.maintenance_due
        experiment = store.create_experiment(new_experiment())
        for _ in range(CHECKPOINT_EVERY_WRITES):
            store.create_suggestion(int(experiment.id), {"x": 0.5})
        assert store.maintenance_due
        store.maintain()
        assert not store.maintenance_due
        # Everything in the WAL was copied back: a second checkpoint has nothing to do.
        busy, log_frames, done = store._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert busy == 0 and log_frames == done
    finally:
        store.close()
    # The default keeps SQLite's own automatic checkpoints.
    default = SqliteStore(tmp_path / "d.db")
    try:
        assert default._conn is not None
        assert default._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
        assert not default.maintenance_due
    finally:
        default.close()
