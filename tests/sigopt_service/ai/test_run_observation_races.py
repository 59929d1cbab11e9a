"""A run becomes its suggestion's observation exactly once, however many requests race to
finish it: concurrent MERGEs (the client's `log_metric` + `end()` from two processes),
classic observations of the same suggestion, and deletes and un-deletes of the run."""

from __future__ import annotations

import random
from typing import Any

import anyio

from tests.sigopt_service.tokens_helpers import Api

ROUNDS = 5


async def _observations(api: Api, eid: str) -> list[dict[str, Any]]:
    listed = await api.ok("GET", f"/v1/experiments/{eid}/observations?limit=1000", None)
    return list(listed["data"])


async def _all_at_once(
    api: Api, requests: list[tuple[str, str, Any]], order: int
) -> list[tuple[str, int]]:
    """Send the requests at once, shuffled by `order`; the status of each, by method."""
    statuses: list[tuple[str, int]] = []

    async def send(method: str, path: str, body: Any) -> None:
        status, _ = await api(method, path, None, body)
        statuses.append((method, status))

    random.Random(order).shuffle(requests)
    async with anyio.create_task_group() as tg:
        for method, path, body in requests:
            tg.start_soon(send, method, path, body)
    return statuses


async def test_concurrent_finishes_make_one_observation(api: Api) -> None:
    """Per round: 1. A new run of the AI experiment. 2. At once, 12 MERGEs that complete
    or fail it with different values and 4 classic observations of its suggestion.
    3. Its suggestion has exactly one observation; the run names it, or (a classic
    observation won) none."""
    eid = await api.make_ai_experiment(None, budget=100)
    for round_ in range(ROUNDS):
        run = await api.ok("POST", f"/v1/aiexperiments/{eid}/training_runs", None, {"name": "r"})
        path, sid = f"/v1/training_runs/{run['id']}", run["suggestion"]
        merges = [
            ("MERGE", path, {"state": state, "values": {"y": {"value": float(i)}}})
            for i, state in enumerate(["completed"] * 8 + ["failed"] * 4)
        ]
        classic = [
            ("POST", f"/v1/experiments/{eid}/observations", {"suggestion": sid, "value": -1.0})
            for _ in range(4)
        ]
        statuses = await _all_at_once(api, merges + classic, round_)
        # Every MERGE is stored (the client's logging never fails on a finished run); a
        # classic observation that lost is refused as one of a closed suggestion.
        assert all(s == 200 for m, s in statuses if m == "MERGE"), statuses
        assert all(s in (200, 400, 409) for m, s in statuses if m == "POST"), statuses
        mine = [o for o in await _observations(api, eid) if o["suggestion"] == sid]
        assert len(mine) == 1, (round_, mine)
        finished = await api.ok("GET", path, None)
        assert finished["observation"] in (mine[0]["id"], None)
        assert finished["state"] in ("completed", "failed")


async def test_deletes_racing_finishes_keep_run_and_observation_together(api: Api) -> None:
    """Per round: a run completed, deleted and un-deleted by requests sent at once. After
    they all answered: at most one observation of its suggestion, deleted exactly when
    the run is. Then deleted, the run takes it along; un-deleted and finished, the run
    has its one observation again."""
    eid = await api.make_ai_experiment(None, budget=100)
    for round_ in range(ROUNDS):
        run = await api.ok("POST", f"/v1/aiexperiments/{eid}/training_runs", None, {"name": "r"})
        path, sid = f"/v1/training_runs/{run['id']}", run["suggestion"]
        requests: list[tuple[str, str, Any]] = [
            ("MERGE", path, {"state": "completed", "values": {"y": {"value": 1.0}}}),
            ("MERGE", path, {"values": {"y": {"value": 2.0}}}),
            ("DELETE", path, None),
            ("PUT", path, {"deleted": True}),
            ("PUT", path, {"deleted": False}),
            ("MERGE", path, {"deleted": False, "state": "completed"}),
        ]
        statuses = await _all_at_once(api, requests, round_)
        assert all(s == 200 for _, s in statuses), statuses
        ended = await api.ok("GET", path, None)
        every = [o for o in await _observations(api, eid) if o["suggestion"] == sid]
        assert len(every) <= 1, (round_, every)
        if every:
            assert ended["observation"] == every[0]["id"] and not ended["deleted"]
        elif ended["observation"] is not None:
            assert ended["deleted"], ended  # its observation is deleted with it
        # Deleted, it takes its observation along; un-deleted and completed, it becomes
        # (or again is) its suggestion's one observation.
        await api.ok("DELETE", path, None)
        assert not [o for o in await _observations(api, eid) if o["suggestion"] == sid]
        await api.ok("MERGE", path, None, {"deleted": False, "state": "completed"})
        again = [o for o in await _observations(api, eid) if o["suggestion"] == sid]
        assert (
            len(again) == 1 and (await api.ok("GET", path, None))["observation"] == again[0]["id"]
        )
