"""A suggestion whose COMMIT fails on PostgreSQL (the server drops the connection) after
the engine counted it as pending: the engine forgets its study, so it never keeps a
pending point that was rolled back (`Core.experiment_unit`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
from optuna.trial import TrialState

from sigopt_service.config import ServiceConfig
from sigopt_service.errors import DatabaseError
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
