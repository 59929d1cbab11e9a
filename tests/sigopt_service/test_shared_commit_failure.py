"""PostgreSQL's failures as the service meets them: a suggestion whose COMMIT fails (the
server drops the connection) after the engine counted it as pending makes the engine
forget its study (`Core.experiment_unit`); a NUL in a name is bad input, not a 5xx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import psycopg
import pytest
from optuna.trial import TrialState

from sigopt_service.config import ServiceConfig
from sigopt_service.errors import DatabaseError
from sigopt_service.http import running_service
from sigopt_service.usecases.service import OptimizationService, open_store

EXPERIMENT = {
    "name": "commit",
    "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
    "metrics": [{"name": "y", "objective": "maximize"}],
    "observation_budget": 50,
}


@pytest.fixture
async def service(postgres_url: str) -> AsyncIterator[OptimizationService]:
    config = ServiceConfig(db=postgres_url, seed=1)
    made = OptimizationService(config, open_store(config), owns_store=True)
    made.start()
    yield made
    await made.aclose()


async def test_a_failed_commit_leaves_no_phantom_pending_point(
    service: OptimizationService, postgres_url: str
) -> None:
    eid = int((await service.create_experiment(dict(EXPERIMENT))).id)
    await service.suggest(eid, {}, within_budget=True)  # the study is built and cached
    core = service._core
    engine = core.engine
    accepted = engine.accepted

    def accept_then_lose_the_connection(*args: Any) -> None:
        accepted(*args)  # the engine now counts the new point as pending
        pinned = core.store.inner._pinned  # type: ignore[attr-defined]
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pinned.raw.info.backend_pid,))

    engine.accepted = accept_then_lose_the_connection  # type: ignore[method-assign]
    with pytest.raises(DatabaseError):
        await service.suggest(eid, {}, within_budget=True)
    engine.accepted = accepted  # type: ignore[method-assign]

    assert eid not in engine._models  # forgotten, not kept with a phantom
    await service.suggest(eid, {}, within_budget=True)
    running = [
        t
        for t in engine._models[eid].study.get_trials(deepcopy=False)
        if t.state is TrialState.RUNNING
    ]
    page = await service.list_suggestions(
        eid, open_only=True, include_deleted=False, ids=None, limit=10, cursor=None
    )
    assert len(running) == page.count == 2


async def test_a_nul_in_a_name_is_bad_input_on_postgresql(postgres_url: str) -> None:
    """PostgreSQL cannot hold a NUL in text: a 400 naming it, not a 5xx that clients
    would retry, and nothing stored."""
    config = ServiceConfig(port=0, db=postgres_url, seed=1)
    async with (
        running_service(config) as url,
        aiohttp.ClientSession() as http,
        http.post(f"{url}/v1/experiments", json={**EXPERIMENT, "name": "a\x00b"}) as response,
    ):
        body = await response.json()
    assert response.status == 400
    assert "NUL" in body["message"]
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT COUNT(*) FROM experiments").fetchone() == (0,)
