"""The dask kind when things go wrong: a Dask worker killed with -9 mid-evaluation, a
deadline or a stop reaching a remote evaluation, the scheduler lost. Each checks that no
evaluation's process is left on the worker host."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from orchestrator.client import ServiceClient
from orchestrator.coordinator import ExitReason
from tests.orchestrator.conftest import assert_exactly_budget, run
from tests.orchestrator.coordinator_helpers import new_experiment
from tests.support.processes import is_gone, wait_gone
from tests.workers.dask.support import (
    DaskCluster,
    alive,
    command,
    recorded_pids,
    wait_for_pid,
)
from workers.base import Evaluation, WorkerSettings
from workers.dask import DASK_KIND
from workers.errors import BrokenWorker

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]


class TestLostWorker:
    """A Dask worker lost mid-evaluation is an infrastructure fault: re-run, never failed."""

    async def test_kill_9_of_a_worker_reruns_its_evaluation(
        self, client: ServiceClient, dask_cluster: DaskCluster, tmp_path: Path
    ) -> None:
        """1. Two Dask workers (the scheduler keeps Dask's default of re-running a
           task after a lost worker); evaluations of 1 s each, two at a time.
        2. Once worker "a" runs one, it is killed with -9.
        3. Its evaluation is re-run on "b" (one infrastructure error, no failure) and
           the budget is reached exactly; the command "a" was running is gone (its
           reaper), as is every other."""
        address = await dask_cluster.start({"a": None, "b": None})
        argv, pids = command(tmp_path, 1.0)
        worker = DASK_KIND.build(WorkerSettings(count=2, command=argv, scheduler=address))
        eid = await new_experiment(client, 6)
        async with worker, anyio.create_task_group() as tg:

            async def kill_a() -> None:
                orphan = await wait_for_pid(pids, worker="a")
                dask_cluster.kill(dask_cluster.workers["a"])
                await wait_gone(orphan)

            tg.start_soon(kill_a)
            summary = await run(client, worker, eid, workers=2)
        assert summary.reason is ExitReason.BUDGET_REACHED
        assert summary.stats.infrastructure_errors == 1
        assert summary.stats.failed == 0 and summary.stats.completed == 6
        await assert_exactly_budget(client, eid, 6)
        assert alive(recorded_pids(pids)) == []

    @pytest.mark.parametrize("runs", ["command", "function"])
    async def test_what_a_killed_worker_ran_is_killed_too(
        self, dask_cluster: DaskCluster, tmp_path: Path, runs: str
    ) -> None:
        """1. An evaluation of a minute runs on the only Dask worker.
        2. The worker is killed with -9 (its evaluation's process group is not its own).
        3. `evaluate` raises `BrokenWorker` at once, and the evaluation's process is
           killed by the worker's reaper, not left to run its minute."""
        address = await dask_cluster.start({"a": None})
        argv, pids = command(tmp_path, 60)
        pid_file = tmp_path / "pid"
        settings = (
            WorkerSettings(count=1, command=argv, scheduler=address)
            if runs == "command"
            else WorkerSettings(
                count=1,
                function="tests.workers.objectives:slow",
                scheduler=address,
                import_path=(REPO,),
            )
        )
        evaluation = Evaluation(
            id="3", assignments={"x": 1.0, "sleep_s": 60, "pid_file": str(pid_file)}
        )
        async with DASK_KIND.build(settings) as worker, anyio.create_task_group() as tg:

            async def kill_the_worker() -> None:
                with anyio.fail_after(30):
                    while not (recorded_pids(pids) or pid_file.exists()):  # noqa: ASYNC110
                        await anyio.sleep(0.02)
                dask_cluster.kill(dask_cluster.workers["a"])

            tg.start_soon(kill_the_worker)
            await worker.prepare(evaluation)
            with pytest.raises(BrokenWorker, match="was lost"), anyio.fail_after(20):
                await worker.evaluate(evaluation)
        pid = next(iter(recorded_pids(pids))) if runs == "command" else int(pid_file.read_text())
        await wait_gone(pid)


class TestStops:
    """Deadlines and stops kill the evaluation on the worker; the caller waits for it."""

    async def test_timeout_kills_the_remote_command(
        self, dask_cluster: DaskCluster, tmp_path: Path
    ) -> None:
        """1. A command that records its pid and sleeps a minute, on a Dask worker.
        2. The caller's deadline passes.
        3. When `evaluate` has raised, the command's process is already gone."""
        address = await dask_cluster.start({"a": None})
        argv, pids = command(tmp_path, 60)
        worker = DASK_KIND.build(
            WorkerSettings(count=1, command=argv, scheduler=address, kill_grace_s=1.0)
        )
        evaluation = Evaluation(id="7", assignments={"x": 0.5})
        async with worker:
            await worker.prepare(evaluation)
            with pytest.raises(TimeoutError), anyio.fail_after(3):
                await worker.evaluate(evaluation)
            [pid] = recorded_pids(pids)
            assert is_gone(pid), "the command outlived its evaluation's deadline"
            assert "running=0" in repr(worker)

    async def test_timeout_kills_a_function_and_the_worker_goes_on(
        self, dask_cluster: DaskCluster, tmp_path: Path
    ) -> None:
        """A function past its deadline is killed in its child process; the next
        evaluation on the same Dask worker runs at once, not after the first's end."""
        address = await dask_cluster.start({"a": None})
        worker = DASK_KIND.build(
            WorkerSettings(
                count=1,
                function="tests.workers.objectives:slow",
                scheduler=address,
                import_path=(REPO,),
            )
        )
        pid_file = tmp_path / "pid"
        hang = Evaluation(id="1", assignments={"x": 1.0, "sleep_s": 60, "pid_file": str(pid_file)})
        async with worker:
            await worker.prepare(hang)
            with pytest.raises(TimeoutError), anyio.fail_after(3):
                await worker.evaluate(hang)
            assert is_gone(int(pid_file.read_text()))
            with anyio.fail_after(20):
                outcome = await worker.evaluate(
                    Evaluation(id="2", assignments={"x": 2.0, "sleep_s": 0})
                )
        assert not outcome.is_failed

    @pytest.mark.parametrize("forced", [False, True], ids=["drain", "second-signal"])
    async def test_stop_kills_what_runs_and_leaves_it_open(
        self, client: ServiceClient, dask_cluster: DaskCluster, tmp_path: Path, forced: bool
    ) -> None:
        """1. Two evaluations of a minute run on two Dask workers.
        2. The stop comes (a Ctrl-C: drain 0.2 s; or a second one: at once).
        3. The run ends stopped, nothing failed, both suggestions left open for the
           resume, and both commands are gone from the workers."""
        address = await dask_cluster.start({"a": None, "b": None})
        argv, pids = command(tmp_path, 60)
        worker = DASK_KIND.build(
            WorkerSettings(count=2, command=argv, scheduler=address, kill_grace_s=1.0)
        )
        eid = await new_experiment(client, 10)
        stop, force = anyio.Event(), anyio.Event()
        async with worker, anyio.create_task_group() as tg:

            async def stop_when_both_run() -> None:
                with anyio.fail_after(30):
                    while len(recorded_pids(pids)) < 2:  # noqa: ASYNC110 - files, no event
                        await anyio.sleep(0.02)
                stop.set()
                if forced:
                    force.set()

            tg.start_soon(stop_when_both_run)
            summary = await run(client, worker, eid, workers=2, stop=stop, force=force, drain_s=0.2)
        assert summary.reason is ExitReason.STOPPED and summary.stats.failed == 0
        assert len(await client.open_suggestions(eid)) == 2
        assert len(recorded_pids(pids)) == 2
        assert alive(recorded_pids(pids)) == []


class TestLostScheduler:
    """A lost scheduler stops the run as broken; the same settings resume it."""

    async def test_run_stops_broken_then_resumes(
        self, client: ServiceClient, dask_cluster: DaskCluster, tmp_path: Path
    ) -> None:
        """1. One Dask worker runs 0.5 s evaluations; the scheduler is killed with -9
           once the first runs.
        2. The run ends with the broken-worker reason, nothing reported failed, and the
           worker's command is gone (the Dask worker ends without its scheduler).
        3. A scheduler on the same address and a new worker come up; a run with the
           same settings and run id finishes the budget exactly."""
        address = await dask_cluster.start({"a": None})
        argv, pids = command(tmp_path, 0.5)
        settings = WorkerSettings(count=1, command=argv, scheduler=address)
        eid = await new_experiment(client, 4)
        async with DASK_KIND.build(settings) as worker, anyio.create_task_group() as tg:

            async def kill_scheduler() -> None:
                await wait_for_pid(pids)
                assert dask_cluster.scheduler is not None
                dask_cluster.kill(dask_cluster.scheduler)

            tg.start_soon(kill_scheduler)
            summary = await run(client, worker, eid, workers=1)
        assert summary.reason is ExitReason.BROKEN_WORKER
        assert summary.stats.failed == 0
        await wait_gone(*recorded_pids(pids))
        dask_cluster.workers["a"].wait(timeout=30)  # it ends without its scheduler

        await dask_cluster.start_scheduler()
        assert dask_cluster.address == address
        dask_cluster.start_worker("b")
        await dask_cluster.wait_for_workers(1)
        async with DASK_KIND.build(settings) as worker:
            summary = await run(client, worker, eid, workers=1)
        assert summary.reason is ExitReason.BUDGET_REACHED
        await assert_exactly_budget(client, eid, 4)
        assert os.listdir(pids)  # the commands did run
        assert alive(recorded_pids(pids)) == []
