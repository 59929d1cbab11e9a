"""The dask kind through the coordinator and the real service: a real scheduler and real
workers as separate processes on loopback, or a LocalCluster the run starts."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from orchestrator.client import ServiceClient
from orchestrator.coordinator import ExitReason
from tests.orchestrator.conftest import assert_exactly_budget, run
from tests.orchestrator.coordinator_helpers import new_experiment
from tests.workers.dask.support import (
    DaskCluster,
    alive,
    command,
    reaper_pids,
    recorded_pids,
)
from workers.base import Completed, Evaluation, Failed, Worker, WorkerSettings
from workers.dask import DASK_KIND

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]
OBJECTIVE = "tests.workers.objectives:quadratic"


class TestOnARunningCluster:
    """`workers.scheduler`: evaluations run on the cluster's workers, as tasks."""

    async def test_commands_reach_the_budget(
        self, client: ServiceClient, dask_cluster: DaskCluster, tmp_path: Path
    ) -> None:
        """1. Two Dask workers; a command that records which worker ran it.
        2. Ten evaluations, two at a time.
        3. Exactly the budget, nothing open; both workers ran some; the evaluation
           folders keep the output sent back from the worker's host."""
        address = await dask_cluster.start({"a": None, "b": None})
        argv, pids = command(tmp_path, 0.2)
        worker = DASK_KIND.build(WorkerSettings(count=2, command=argv, scheduler=address))
        eid = await new_experiment(client, 10)
        async with worker:
            summary = await run(client, worker, eid, workers=2, run_dir=tmp_path / "run")
        assert summary.reason is ExitReason.BUDGET_REACHED
        assert summary.stats.completed == 10 and summary.stats.infrastructure_errors == 0
        await assert_exactly_budget(client, eid, 10)
        assert set(recorded_pids(pids).values()) == {"a", "b"}
        folders = sorted((tmp_path / "run" / "evaluations").iterdir())
        assert len(folders) == 10
        kept = json.loads((folders[0] / "stdout.log").read_text())
        assignments = json.loads((folders[0] / "assignments.json").read_text())
        assert kept == {"value": assignments["x"]}
        assert alive(recorded_pids(pids)) == []

    async def test_functions_reach_the_budget(
        self, client: ServiceClient, dask_cluster: DaskCluster
    ) -> None:
        """A `function` runs on the cluster's workers, its values reported as returned."""
        address = await dask_cluster.start({"a": None, "b": None})
        worker = DASK_KIND.build(
            WorkerSettings(count=2, function=OBJECTIVE, scheduler=address, import_path=(REPO,))
        )
        eid = await new_experiment(client, 8)
        async with worker:
            summary = await run(client, worker, eid, workers=2)
        assert summary.reason is ExitReason.BUDGET_REACHED and summary.stats.completed == 8
        await assert_exactly_budget(client, eid, 8)
        for observation in await client.observations(eid):
            x = float(observation.assignments["x"])
            assert observation.value == pytest.approx(x**2)

    async def test_resources_pick_the_workers_that_have_them(
        self, client: ServiceClient, dask_cluster: DaskCluster, tmp_path: Path
    ) -> None:
        """1. Worker "gpu" has the Dask resource GPU=1, worker "cpu" none.
        2. Evaluations ask for `resources: {GPU: 1}`.
        3. Every one ran on "gpu" (each command reads the worker's environment)."""
        address = await dask_cluster.start({"gpu": {"GPU": 1}, "cpu": None})
        argv, pids = command(tmp_path, 0.05, "which-worker")
        worker = DASK_KIND.build(
            WorkerSettings(count=2, command=argv, scheduler=address, resources={"GPU": 1})
        )
        eid = await new_experiment(client, 6)
        async with worker:
            summary = await run(client, worker, eid, workers=2)
        assert summary.stats.completed == 6
        assert {o.value for o in await client.observations(eid)} == {1.0}
        assert set(recorded_pids(pids).values()) == {"gpu"}

    async def test_runs_sharing_a_scheduler_keep_their_own_tasks(
        self, dask_cluster: DaskCluster
    ) -> None:
        """Two runs on one scheduler, each with a suggestion "1" (their services number
        alike): each gets its own evaluation's value, not the other's task."""
        address = await dask_cluster.start({"a": None, "b": None})
        settings = WorkerSettings(
            count=1, function=OBJECTIVE, scheduler=address, import_path=(REPO,)
        )
        values: dict[float, float] = {}
        async with DASK_KIND.build(settings) as one, DASK_KIND.build(settings) as other:

            async def evaluate(worker: Worker, x: float) -> None:
                evaluation = Evaluation(id="1", assignments={"x": x})
                await worker.prepare(evaluation)
                outcome = await worker.evaluate(evaluation)
                assert isinstance(outcome, Completed)
                values[x] = outcome.values[0].value

            with anyio.fail_after(60):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(evaluate, one, 2.0)
                    tg.start_soon(evaluate, other, 3.0)
        assert values == {2.0: 4.0, 3.0: 9.0}

    async def test_a_target_missing_on_the_worker_is_a_broken_worker(
        self, client: ServiceClient, dask_cluster: DaskCluster
    ) -> None:
        """A function that does not import on the worker's host is no failed observation:
        the run stops as broken, with nothing reported for the parameters."""
        address = await dask_cluster.start({"a": None})
        worker = DASK_KIND.build(
            WorkerSettings(count=1, function="no_such_module:fn", scheduler=address)
        )
        eid = await new_experiment(client, 4)
        async with worker:
            summary = await run(client, worker, eid, workers=1, max_retries=1)
        assert summary.reason is ExitReason.BROKEN_WORKER
        assert summary.stats.failed == 0 and summary.stats.infrastructure_errors == 2
        assert await client.observations(eid) == []


class TestOutcomes:
    """Failures come back as the other kinds report them, read on the worker's host."""

    async def test_failures_as_the_subprocess_and_process_kinds_say(
        self, dask_cluster: DaskCluster, tmp_path: Path
    ) -> None:
        """1. A function that raises: `exception`, with its type and traceback.
        2. A command that writes to stderr and exits 3: `exit_code`, its stderr tail in
           the outcome and in the evaluation folder's `stderr.log`."""
        address = await dask_cluster.start({"a": None})
        raises = DASK_KIND.build(
            WorkerSettings(
                count=1,
                function="tests.workers.objectives:raises",
                scheduler=address,
                import_path=(REPO,),
            )
        )
        exits = DASK_KIND.build(
            WorkerSettings(
                count=1,
                command=["{python}", "-c", "import sys; sys.stderr.write('bad x'); sys.exit(3)"],
                scheduler=address,
            )
        )
        folder = tmp_path / "evaluations" / "2-1"
        async with raises, exits:
            with anyio.fail_after(60):
                raised = await raises.evaluate(Evaluation(id="1", assignments={"x": 7.0}))
                exited = await exits.evaluate(
                    Evaluation(id="2", assignments={"x": 1.0}, workdir=folder)
                )
        assert isinstance(raised, Failed) and raised.reason == "exception"
        assert raised.details["exception_type"] == "ValueError"
        assert "x=7.0 is out of range" in str(raised.details["traceback"])
        assert isinstance(exited, Failed) and exited.reason == "exit_code"
        assert exited.details["exit_code"] == 3 and exited.details["stderr_tail"] == "bad x"
        assert (folder / "stderr.log").read_text() == "bad x"


class TestLocalCluster:
    """No `scheduler`: the run starts a LocalCluster of `count` processes and ends it."""

    async def test_run_and_nothing_left(self, client: ServiceClient, tmp_path: Path) -> None:
        """1. A LocalCluster of two worker processes runs commands to the budget.
        2. Closing the worker ends the cluster: no command, no reaper is left."""
        before = reaper_pids()
        argv, pids = command(tmp_path, 0.05)
        worker = DASK_KIND.build(WorkerSettings(count=2, command=argv))
        eid = await new_experiment(client, 6)
        async with worker:
            summary = await run(client, worker, eid, workers=2)
            assert reaper_pids() - before  # one per Dask worker that ran something
        assert summary.reason is ExitReason.BUDGET_REACHED
        await assert_exactly_budget(client, eid, 6)
        with anyio.fail_after(10):
            while reaper_pids() - before:  # noqa: ASYNC110 - other processes, no event
                await anyio.sleep(0.05)
        assert alive(recorded_pids(pids)) == []

    async def test_any_cluster_class(self) -> None:
        """`cluster.class` is any importable Dask cluster class (dask-jobqueue's in
        production), started with `options` and scaled to `scale` workers."""
        worker = DASK_KIND.build(
            WorkerSettings(
                count=2,
                function=OBJECTIVE,
                import_path=(REPO,),
                cluster_class="distributed.LocalCluster",
                cluster_options={
                    "n_workers": 0,
                    "threads_per_worker": 1,
                    "dashboard_address": ":0",
                },
                cluster_scale=1,
            )
        )
        async with worker:
            with anyio.fail_after(60):
                evaluation = Evaluation(id="1", assignments={"x": 2.0})
                await worker.prepare(evaluation)
                outcome = await worker.evaluate(evaluation)
                assert "running=0" in repr(worker) and "tcp://127.0.0.1" in repr(worker)
        assert isinstance(outcome, Completed) and outcome.values[0].value == 4.0

    async def test_function_with_resources(self) -> None:
        """The LocalCluster's workers get `resources`, so tasks asking for them run."""
        worker = DASK_KIND.build(
            WorkerSettings(count=1, function=OBJECTIVE, import_path=(REPO,), resources={"GPU": 1})
        )
        async with worker:
            with anyio.fail_after(60):
                evaluation = Evaluation(id="1", assignments={"x": 3.0})
                await worker.prepare(evaluation)
                outcome = await worker.evaluate(evaluation)
        assert isinstance(outcome, Completed) and outcome.values[0].value == 9.0
