"""What the shared-database tests share: two real service processes on one PostgreSQL
database (`python -m sigopt_service --db postgresql://...`), each reached through its own
`Api`, and requests fired at both at once.

    with pair_on_new_database(postgres_cluster, "shared") as (url_a, url_b):
        async with aiohttp.ClientSession() as http:
            pair = Pair(Api(http, url_a), Api(http, url_b))
            answers = await pair.burst(40, lambda api, i: api("POST", path))

One pair serves a whole test module (starting one takes about two seconds): every test
makes experiments of its own, so none sees another's.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import anyio
import requests
from sigopt import Connection
from sigopt.exception import ApiException

from tests.sigopt_service.tokens_helpers import ADMIN, Api
from tests.support.postgres import PostgresCluster
from tests.support.service_process import ServiceProcess

#: A burst of requests that takes longer than this is hung, not slow.
BURST_TIMEOUT_S = 60
#: Seconds a client loop "evaluates" a suggestion: long enough that the loops interleave.
EVALUATION_S = 0.005
#: One double in [0, 1]: random experiments never propose a queued point by chance.
ONE_DOUBLE = [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}]

Answer = tuple[int, Any]


@contextlib.contextmanager
def running_pair(db_url: str) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    """Two service processes on `db_url`, both with the admin token `ADMIN`, killed at the
    end. Started side by side: each spends about a second importing, and both then
    migrate the fresh database at once (the migration lock's job)."""
    processes = (
        ServiceProcess(db_url, "--token", ADMIN),
        ServiceProcess(db_url, "--token", ADMIN),
    )
    with contextlib.ExitStack() as stack:
        for process in processes:
            stack.callback(process.kill)
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(ServiceProcess.start, processes))
        yield processes


@contextlib.contextmanager
def pair_on_new_database(cluster: PostgresCluster, name: str) -> Iterator[tuple[str, str]]:
    """`running_pair` on a new database `name` of `cluster`, dropped afterwards; the
    two URLs."""
    url = cluster.create_database(name)
    try:
        with running_pair(url) as (first, second):
            yield first.url, second.url
    finally:
        cluster.drop_database(name)


@dataclass(frozen=True)
class Pair:
    """The two processes' APIs; request `i` of a burst goes to `each(i)`, alternating."""

    a: Api
    b: Api

    def each(self, i: int) -> Api:
        return self.a if i % 2 == 0 else self.b

    async def burst(self, n: int, request: Callable[[Api, int], Awaitable[Answer]]) -> list[Answer]:
        """`request(each(i), i)` for i < n, all in flight at once; answers in i order."""
        answers: list[Answer | None] = [None] * n

        async def one(i: int) -> None:
            answers[i] = await request(self.each(i), i)

        with anyio.fail_after(BURST_TIMEOUT_S):
            async with anyio.create_task_group() as tg:
                for i in range(n):
                    tg.start_soon(one, i)
        return [a for a in answers if a is not None]


async def make_experiment(api: Api, **fields: Any) -> str:
    """A new experiment of `ONE_DOUBLE` unless `fields` say otherwise; its id."""
    body = {"name": "shared", "type": "random", "parameters": ONE_DOUBLE, **fields}
    return str((await api.ok("POST", "/v1/experiments", body=body))["id"])


async def suggest(api: Api, eid: str, *, within_budget: bool = False) -> Answer:
    query = "?within_budget=true" if within_budget else ""
    return await api("POST", f"/v1/experiments/{eid}/suggestions{query}")


async def observe(api: Api, eid: str, suggestion: str, value: float = 1.0) -> Answer:
    body = {"suggestion": suggestion, "value": value}
    return await api("POST", f"/v1/experiments/{eid}/observations", body=body)


async def open_ids(api: Api, eid: str) -> list[str]:
    page = await api.ok("GET", f"/v1/experiments/{eid}/suggestions?state=open&limit=1000")
    assert page["count"] == len(page["data"]), "more open suggestions than one page holds"
    return [s["id"] for s in page["data"]]


async def observation_count(api: Api, eid: str) -> int:
    return int((await api.ok("GET", f"/v1/experiments/{eid}"))["progress"]["observation_count"])


def statuses(answers: list[Answer]) -> list[int]:
    return [status for status, _ in answers]


class WithinBudgetSession(requests.Session):
    """The official client with our query extension: its suggestion creates carry
    `within_budget=true` (it sends a POST's arguments as the JSON body; the service reads
    this one from the query)."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        if str(method).upper() == "POST" and str(url).endswith("/suggestions"):
            kwargs["params"] = {"within_budget": "true"}
        return super().request(method, url, *args, **kwargs)


def documented_loop(conn: Connection, eid: str) -> int:
    """SigOpt's documented loop, stopping early when the service answers that the budget
    is reached (the other process's client holds the rest); how many it observed."""
    observed = 0
    experiment = conn.experiments(eid).fetch()
    while experiment.progress.observation_count < experiment.observation_budget:
        try:
            suggestion = conn.experiments(eid).suggestions().create()
        except ApiException as exc:
            if exc.status_code != 409:
                raise
            break
        time.sleep(EVALUATION_S)
        value = suggestion.assignments["x"]
        conn.experiments(eid).observations().create(suggestion=suggestion.id, value=value)
        observed += 1
        experiment = conn.experiments(eid).fetch()
    return observed


async def raw_loop(api: Api, eid: str, *, limit: int) -> int:
    """Suggest within the budget, evaluate, observe, until refused (or `limit` observed:
    a budget not enforced must not loop forever); how many it observed."""
    observed = 0
    while observed < limit:
        status, suggestion = await suggest(api, eid, within_budget=True)
        if status == 409:
            return observed
        assert status == 200, suggestion
        await anyio.sleep(EVALUATION_S)
        assert (await observe(api, eid, suggestion["id"]))[0] == 200
        observed += 1
    return observed
