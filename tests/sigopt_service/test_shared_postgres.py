"""Two service processes on one PostgreSQL database serve the same experiments as one
would: the budget stays exact, a suggestion is observed once, a queued entry is served
once, each optimizer sees the other's history, nothing either reads is stale, a token
changed through one holds in the other, and the official `sigopt` client on one process
and a raw client on the other share a budget exactly.

Each test fires requests at both processes at once (or alternates between them), so it
fails if the mechanism it checks were gone: the experiment row lock
(`lock_experiment_in_tx`), `experiment_transaction` around the budget check and the
insert, the engine's re-reads on a shared store, no caching around a shared store, the
per-request token lookup.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator

import aiohttp
import anyio
import pytest
from sigopt import Connection
from sigopt.ratelimit import failed_status_rate_limit

from tests.sigopt_service.shared_postgres_helpers import (
    Pair,
    WithinBudgetSession,
    documented_loop,
    make_experiment,
    observation_count,
    observe,
    open_ids,
    pair_on_new_database,
    raw_loop,
    statuses,
    suggest,
)
from tests.sigopt_service.tokens_helpers import ADMIN, Api
from tests.support.postgres import PostgresCluster

BUDGET = 20
#: Races at the budget's edge in the budget test, after the first.
ROUNDS = 16
#: Loops of each kind of client in the official client's test: several, so they race
#: each other at the budget's edge.
CLIENTS_PER_KIND = 2


@pytest.fixture(scope="module")
def pair_urls(postgres_cluster: PostgresCluster) -> Iterator[tuple[str, str]]:
    with pair_on_new_database(postgres_cluster, "shared_postgres") as urls:
        yield urls


@pytest.fixture
async def pair(pair_urls: tuple[str, str]) -> AsyncIterator[Pair]:
    async with aiohttp.ClientSession() as http:
        yield Pair(Api(http, pair_urls[0]), Api(http, pair_urls[1]))


class TestBudget:
    """`within_budget=true` stops exactly at the budget, whichever process answers."""

    async def test_concurrent_suggestions_fill_the_budget_exactly(self, pair: Pair) -> None:
        """1. Four times B suggestion requests at once, half to each process: exactly B
        are served (by both processes), the rest are 409 `budget_reached`. 2. Rounds: one open
        suggestion observed, three deleted (three places freed), then 12 requests at once
        over both processes: exactly three served each round. Each round is one more
        race at the budget's edge, so a check that is not atomic across processes is
        caught in one of them."""
        eid = await make_experiment(pair.a, observation_budget=BUDGET)

        answers = await pair.burst(4 * BUDGET, lambda api, _: suggest(api, eid, within_budget=True))
        served = [i for i, (status, _) in enumerate(answers) if status == 200]
        assert len(served) == BUDGET, sorted(statuses(answers))
        assert {i % 2 for i in served} == {0, 1}, "one process served every suggestion"
        refused = [body for status, body in answers if status != 200]
        assert {(body["status"], body["code"]) for body in refused} == {(409, "budget_reached")}

        for round_ in range(ROUNDS):
            opened = await open_ids(pair.b, eid)
            assert len(opened) == BUDGET - round_
            assert (await observe(pair.each(round_), eid, opened[0]))[0] == 200
            for sid in opened[1:4]:
                await pair.each(round_ + 1).ok("DELETE", f"/v1/experiments/{eid}/suggestions/{sid}")
            answers = await pair.burst(12, lambda api, _: suggest(api, eid, within_budget=True))
            assert statuses(answers).count(200) == 3, (round_, sorted(statuses(answers)))
        assert await observation_count(pair.a, eid) == ROUNDS


class TestObservedOnce:
    """A suggestion takes one observation, however many processes are asked at once."""

    async def test_concurrent_observations_of_the_same_suggestions(self, pair: Pair) -> None:
        """Each of 12 suggestions observed 4 times at once, twice through each process (in
        the same order on both, so the two race on every suggestion): one 200 each."""
        eid = await make_experiment(pair.a)
        sids = [s["id"] for s in await _suggestions(pair, eid, 12)]

        answers = await pair.burst(4 * len(sids), lambda api, i: observe(api, eid, sids[i // 4]))
        for n, sid in enumerate(sids):
            assert sorted(statuses(answers[4 * n : 4 * n + 4])) == [200, 409, 409, 409], sid
        assert await observation_count(pair.b, eid) == len(sids)
        assert await open_ids(pair.b, eid) == []

    async def test_concurrent_batches_naming_the_same_suggestions(self, pair: Pair) -> None:
        """10 pairs of suggestions, each pair observed by 4 batches at once, two through each
        process, which names the pair in the opposite order to the other: one batch per
        pair is stored whole, the others not at all (and no two deadlock)."""
        eid = await make_experiment(pair.a)
        sids = [s["id"] for s in await _suggestions(pair, eid, 20)]

        async def batch(api: Api, i: int) -> tuple[int, object]:
            pair_of_ids = sids[2 * (i // 4) : 2 * (i // 4) + 2]
            if i % 2:  # B's batches in the opposite order: no lock order to rely on
                pair_of_ids.reverse()
            body = {"observations": [{"suggestion": s, "value": float(i)} for s in pair_of_ids]}
            return await api("POST", f"/v1/experiments/{eid}/observations/batch", body=body)

        answers = await pair.burst(4 * len(sids) // 2, batch)
        for n in range(len(sids) // 2):
            assert sorted(statuses(answers[4 * n : 4 * n + 4])) == [200, 409, 409, 409], n
        stored = await pair.a.ok("GET", f"/v1/experiments/{eid}/observations?limit=100")
        assert len(stored["data"]) == len(sids)
        # Both observations of a pair come from one batch: they carry its value.
        values = {o["suggestion"]: o["value"] for o in stored["data"]}
        assert all(values[sids[2 * n]] == values[sids[2 * n + 1]] for n in range(len(sids) // 2))


async def _suggestions(pair: Pair, eid: str, n: int) -> list[dict[str, object]]:
    """`n` new suggestions, made through both processes in turn."""
    path = f"/v1/experiments/{eid}/suggestions"
    return [await pair.each(i).ok("POST", path) for i in range(n)]


class TestQueuedServedOnce:
    """Each queued suggestion is served once, whichever process serves it."""

    async def test_concurrent_suggestions_take_each_queued_entry_once(self, pair: Pair) -> None:
        """1. N entries queued through both processes. 2. 2N suggestion requests at once
        over both: all answered, each queued point among them exactly once. 3. The queue
        is empty."""
        eid = await make_experiment(pair.a)
        queued = [(i + 1) / 16 for i in range(6)]  # exact in binary: compared with ==
        for i, x in enumerate(queued):
            body = {"assignments": {"x": x}}
            await pair.each(i).ok("POST", f"/v1/experiments/{eid}/queued_suggestions", body=body)

        answers = await pair.burst(2 * len(queued), lambda api, _: suggest(api, eid))
        assert statuses(answers) == [200] * 2 * len(queued)
        xs = [body["assignments"]["x"] for _, body in answers]
        assert {x: xs.count(x) for x in queued} == dict.fromkeys(queued, 1)
        left = await pair.b.ok("GET", f"/v1/experiments/{eid}/queued_suggestions?limit=0")
        assert left["count"] == 0


class TestOptimizerSeesTheOther:
    """Each process's optimizer and reads reflect what the other stored, at once."""

    async def test_grid_points_are_taken_once_across_processes(self, pair: Pair) -> None:
        """A grid of 8 points walked by alternating processes, some points observed
        through the other process and some left open: 8 distinct points, the whole grid."""
        xs, ys = [1, 2, 3, 4], [0.25, 0.75]
        parameters = [
            {"name": "x", "type": "int", "grid": xs},
            {"name": "y", "type": "double", "grid": ys},
        ]
        eid = await make_experiment(
            pair.a, type="grid", parameters=parameters, observation_budget=8
        )
        points = []
        for i in range(8):
            made = await pair.each(i).ok("POST", f"/v1/experiments/{eid}/suggestions")
            points.append((made["assignments"]["x"], made["assignments"]["y"]))
            if i % 3 != 2:
                assert (await observe(pair.each(i + 1), eid, made["id"]))[0] == 200
        assert sorted(points) == list(itertools.product(xs, ys))

    async def test_progress_and_best_reflect_the_other_process(self, pair: Pair) -> None:
        """Each observation stored through A shows at once in B's progress and best."""
        eid = await make_experiment(pair.a)
        values = [1.0, 5.0, 3.0]
        for n, value in enumerate(values, start=1):
            made = await pair.a.ok("POST", f"/v1/experiments/{eid}/suggestions")
            assert (await observe(pair.a, eid, made["id"], value))[0] == 200
            experiment = await pair.b.ok("GET", f"/v1/experiments/{eid}")
            assert experiment["progress"]["observation_count"] == n
            best = await pair.b.ok("GET", f"/v1/experiments/{eid}/best_assignments")
            assert [b["value"] for b in best["data"]] == [max(values[:n])]


class TestNothingStale:
    """What one process changes, the other serves from its very next request."""

    async def test_experiment_updates_and_deletions_show_at_once(self, pair: Pair) -> None:
        """1. B has read the experiment and filled its budget. 2. A renames it and raises
        its budget: B answers the new values and serves to the new budget. 3. A deletes
        one of B's suggestions: B no longer lists it and serves into its place. 4. A
        deletes another and lowers the budget: B refuses, as the new budget says."""
        eid = await make_experiment(pair.a, observation_budget=2)
        path = f"/v1/experiments/{eid}"
        for _ in range(2):
            assert (await suggest(pair.b, eid, within_budget=True))[0] == 200
        assert (await suggest(pair.b, eid, within_budget=True))[0] == 409
        assert (await pair.b.ok("GET", path))["name"] == "shared"

        await pair.a.ok("PUT", path, body={"name": "renamed", "observation_budget": 3})
        seen = await pair.b.ok("GET", path)
        assert (seen["name"], seen["observation_budget"]) == ("renamed", 3)
        assert (await suggest(pair.b, eid, within_budget=True))[0] == 200
        assert (await suggest(pair.b, eid, within_budget=True))[0] == 409

        opened = await open_ids(pair.b, eid)
        await pair.a.ok("DELETE", f"{path}/suggestions/{opened[0]}")
        assert await open_ids(pair.b, eid) == opened[1:]
        assert (await suggest(pair.b, eid, within_budget=True))[0] == 200

        await pair.a.ok("DELETE", f"{path}/suggestions/{opened[1]}")
        await pair.a.ok("PUT", path, body={"observation_budget": 2})
        assert len(await open_ids(pair.b, eid)) == 2
        assert (await suggest(pair.b, eid, within_budget=True))[0] == 409


class TestTokens:
    """A stored token's life, changed through either process, holds in both at once."""

    async def test_a_token_revoked_through_a_is_refused_by_b(self, pair: Pair) -> None:
        """1. A token made through A works through B, for reads and writes. 2. Revoked
        through A: its very next request through B is a 401."""
        made = await pair.a.make_token(name="team")
        await pair.b.ok("GET", "/v1/experiments", made["token"])
        await pair.b.make_experiment(made["token"])

        await pair.a.ok("DELETE", f"/v1/tokens/{made['id']}")
        status, answer = await pair.b("GET", "/v1/experiments", made["token"])
        assert (status, answer["message"]) == (401, "Invalid API token.")

    async def test_a_token_rotated_through_b_is_refused_by_a(self, pair: Pair) -> None:
        """1. A token made through B has been used through A. 2. It rotates itself through
        B: A refuses the old secret at its next request and takes the new one."""
        made = await pair.b.make_token(name="rotating")
        await pair.a.ok("GET", "/v1/experiments", made["token"])

        rotated = await pair.b.ok("PUT", "/v1/tokens/self", made["token"], {"token": "rotate"})
        assert rotated["id"] == made["id"]
        assert (await pair.a("GET", "/v1/experiments", made["token"]))[0] == 401
        await pair.a.ok("GET", "/v1/experiments", rotated["token"])


class TestOfficialClient:
    """Official clients on one process and raw ones on the other fill one budget exactly."""

    async def test_two_kinds_of_client_two_processes_one_budget(
        self, pair: Pair, pair_urls: tuple[str, str]
    ) -> None:
        """Two official clients running the documented loop against A (each in a thread:
        it blocks) and two raw loops against B, all at once on one experiment: exactly
        the budget observed in all, by both kinds, none left open."""
        budget = 16
        eid = await make_experiment(pair.a, observation_budget=budget)
        observed: list[tuple[str, int]] = []

        async def official() -> None:
            conn = Connection(
                client_token=ADMIN, api_url=pair_urls[0], session=WithinBudgetSession()
            )
            observed.append(
                ("official", await anyio.to_thread.run_sync(documented_loop, conn, eid))
            )

        async def raw() -> None:
            observed.append(("raw", await raw_loop(pair.b, eid, limit=budget + 1)))

        try:
            with anyio.fail_after(60):
                async with anyio.create_task_group() as tg:
                    for _ in range(CLIENTS_PER_KIND):
                        tg.start_soon(official)
                        tg.start_soon(raw)
        finally:
            failed_status_rate_limit.clear()  # the expected 409s: no back-off for later tests
        assert sum(n for _, n in observed) == budget, observed
        assert {kind for kind, n in observed if n > 0} == {"official", "raw"}, observed
        assert await observation_count(pair.b, eid) == budget
        assert await open_ids(pair.a, eid) == []
