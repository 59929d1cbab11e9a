"""ProcessPoolWorker and what an evaluation holds: set in the pool process before the
user's code runs (import and call), every thread pinned, one process per evaluation that
holds GPUs, and the `Evaluation` for objectives that ask for it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.support.processes import is_gone
from workers.base import Completed, Evaluation
from workers.process_pool import ProcessPoolWorker
from workers.resources import available_cores

OBJECTIVES = "tests.workers.resource_objectives"
DEADLINE_S = 20
CORES = available_cores()


def held(
    out: Path, eval_id: str, *, gpus: tuple[int, ...] = (), cpus: tuple[int, ...] = (), **more: Any
) -> Evaluation:
    return Evaluation(
        id=eval_id, assignments={"x": 0.5, "out": str(out), **more}, gpus=gpus, cpus=cpus
    )


def report(out: Path, eval_id: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((out / f"{eval_id}.json").read_text())
    return result


async def prepared_evaluate(worker: ProcessPoolWorker, evaluation: Evaluation) -> Any:
    """What the coordinator does: prepare (outside the deadline), then evaluate."""
    with anyio.fail_after(DEADLINE_S):
        await worker.prepare(evaluation)
        return await worker.evaluate(evaluation)


class TestGpus:
    """An evaluation holding GPUs runs in a process that sees only them, from the
    import on, and that runs no other evaluation."""

    async def test_the_process_sees_its_gpus_from_the_import_on(self, tmp_path: Path) -> None:
        worker = ProcessPoolWorker(f"{OBJECTIVES}:reports_holdings", max_workers=1)
        try:
            outcome = await prepared_evaluate(worker, held(tmp_path, "1", gpus=(2, 3)))
        finally:
            await worker.aclose()
        assert isinstance(outcome, Completed) and outcome.values[0].value == 0.5
        seen = report(tmp_path, "1")
        assert seen["cuda"] == seen["sigopt_gpus"] == seen["cuda_at_import"] == "2,3"
        assert seen["evaluation"] == {"id": "1", "gpus": [2, 3], "cpus": []}

    async def test_each_gpu_evaluation_gets_a_fresh_process(self, tmp_path: Path) -> None:
        """1. Three evaluations in turn, holding GPUs 0, 1, then 0 again, on one slot.
        2. Three processes, each gone after its evaluation, and each saw at its first
           call (when CUDA would start) the GPUs of its own evaluation."""
        worker = ProcessPoolWorker(f"{OBJECTIVES}:reports_holdings", max_workers=1)
        try:
            for i, gpu in enumerate([0, 1, 0]):
                outcome = await prepared_evaluate(worker, held(tmp_path, str(i), gpus=(gpu,)))
                assert isinstance(outcome, Completed)
        finally:
            await worker.aclose()
        seen = [report(tmp_path, str(i)) for i in range(3)]
        assert len({s["pid"] for s in seen}) == 3
        assert [s["cuda_at_first_call"] for s in seen] == ["0", "1", "0"]
        assert all(is_gone(s["pid"]) for s in seen)

    async def test_the_ended_process_is_reaped_quietly(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """anyio kills a process whose pipe broke. One that had exited already is reaped
        by that kill (CPython's `Popen.send_signal` polls first) and asyncio's child
        watcher warns "Unknown child process" on stderr, over the live panel: two slots
        ending GPU evaluations at once did so every few evaluations. None now."""
        worker = ProcessPoolWorker(f"{OBJECTIVES}:reports_holdings", max_workers=2)

        async def slot(gpu: int) -> None:
            for i in range(4):
                ev = held(tmp_path, f"{gpu}-{i}", gpus=(gpu,))
                assert isinstance(await prepared_evaluate(worker, ev), Completed)

        try:
            async with anyio.create_task_group() as tg:
                for gpu in (0, 1):
                    tg.start_soon(slot, gpu)
        finally:
            await worker.aclose()
        assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []

    def test_the_child_waits_for_its_kill(self, tmp_path: Path) -> None:
        """What keeps it quiet: with its outcome written, the child closes the pipe to
        the parent and stays alive until killed (bounded), rather than exit on its own."""
        outcome_file = tmp_path / "1.outcome"
        code = (
            "from workers.base import Failed; from workers.process_pool import _ends_after; "
            f"_ends_after(Failed(reason='x'), {str(outcome_file)!r})"
        )
        child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
        try:
            assert child.stdout is not None
            assert child.stdout.read() == b""  # the pipe closed: EOF
            time.sleep(0.3)
            assert child.poll() is None
            assert outcome_file.exists()
        finally:
            child.kill()
            child.wait()

    async def test_a_process_warmed_for_other_gpus_runs_nothing(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """1. Two slots prepare at once, A for GPU 0 (its import takes 1 s), B for GPU 1:
           A's warm process is idle last, so anyio hands it to the next call.
        2. B's evaluation goes first: that process was warmed for GPU 0 and must not
           run it; B runs where the objective was imported under GPU 1, and so does A.
        3. Each imported and ran its objective under its own GPUs, in a process of its own."""
        monkeypatch.setenv("RESOURCE_SLOW_IMPORT_GPUS", "0")
        worker = ProcessPoolWorker(f"{OBJECTIVES}:reports_holdings", max_workers=2)
        a, b = held(tmp_path, "a", gpus=(0,)), held(tmp_path, "b", gpus=(1,))
        try:
            with anyio.fail_after(DEADLINE_S):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(worker.prepare, a)
                    tg.start_soon(worker.prepare, b)
                outcomes = [await worker.evaluate(b), await worker.evaluate(a)]
        finally:
            await worker.aclose()
        assert all(isinstance(o, Completed) for o in outcomes)
        seen = {name: report(tmp_path, name) for name in ("a", "b")}
        assert [seen[n]["cuda_at_import"] for n in "ab"] == ["0", "1"]
        assert [seen[n]["cuda"] for n in "ab"] == ["0", "1"]
        assert seen["a"]["pid"] != seen["b"]["pid"]

    async def test_a_cancelled_gpu_evaluation_leaves_nothing(self, tmp_path: Path) -> None:
        """The deadline kills the process; no outcome file stays behind; the next
        evaluation runs."""
        worker = ProcessPoolWorker(f"{OBJECTIVES}:reports_holdings", max_workers=1)
        slow = held(tmp_path, "slow", gpus=(0,), sleep_s=60)
        try:
            await worker.prepare(slow)
            with pytest.raises(TimeoutError), anyio.fail_after(DEADLINE_S) as deadline:

                async def expire_once_running() -> None:
                    # Polling: the sign comes from another process, not an Event.
                    while not await anyio.Path(tmp_path / "slow.json").exists():  # noqa: ASYNC110
                        await anyio.sleep(0.01)
                    deadline.deadline = anyio.current_time()

                async with anyio.create_task_group() as tg:
                    tg.start_soon(expire_once_running)
                    await worker.evaluate(slow)
            pid = report(tmp_path, "slow")["pid"]
            assert is_gone(pid)
            assert worker._outcomes is not None
            assert list(worker._outcomes.iterdir()) == []
            outcome = await prepared_evaluate(worker, held(tmp_path, "next", gpus=(0,)))
            assert isinstance(outcome, Completed)
            folder = worker._outcomes
        finally:
            await worker.aclose()
        assert not folder.exists()

    async def test_failures_come_back_from_a_process_that_ended(self, tmp_path: Path) -> None:
        """The outcome of a GPU evaluation travels through its file whatever it is."""
        worker = ProcessPoolWorker("tests.workers.objectives:raises", max_workers=1)
        try:
            outcome = await prepared_evaluate(
                worker, Evaluation(id="1", assignments={"x": 1.0}, gpus=(0,))
            )
        finally:
            await worker.aclose()
        assert outcome.is_failed and "out of range" in str(outcome)


class TestCores:
    """Cores are set per call in a reused process, on every thread."""

    async def test_every_thread_follows_the_evaluation(self, tmp_path: Path) -> None:
        """1. One process, two evaluations pinned to different cores in turn.
        2. Each time every thread of it (the import-time one included) has the
           evaluation's core; thread counts match; the process was reused."""
        if len(CORES) < 2:
            pytest.skip("needs 2 cores")
        worker = ProcessPoolWorker(f"{OBJECTIVES}:reports_holdings", max_workers=1)
        try:
            for i, core in enumerate(CORES[:2]):
                await prepared_evaluate(worker, held(tmp_path, str(i), cpus=(core,)))
            await prepared_evaluate(worker, held(tmp_path, "free"))
        finally:
            await worker.aclose()
        first, second, free = (report(tmp_path, name) for name in ("0", "1", "free"))
        assert first["pid"] == second["pid"] == free["pid"]
        assert {tuple(m) for m in first["masks"].values()} == {(CORES[0],)}
        assert {tuple(m) for m in second["masks"].values()} == {(CORES[1],)}
        assert len(first["masks"]) >= 2  # the main thread and the import-time one
        assert first["omp"] == "1"
        # An evaluation holding no cores gets the process's whole mask back.
        assert {tuple(m) for m in free["masks"].values()} == {CORES}

    async def test_thread_counts_from_workers_env(self, tmp_path: Path) -> None:
        worker = ProcessPoolWorker(
            f"{OBJECTIVES}:reports_holdings", max_workers=1, env={"OMP_NUM_THREADS": "6"}
        )
        try:
            await prepared_evaluate(worker, held(tmp_path, "1", cpus=(CORES[0],)))
        finally:
            await worker.aclose()
        assert report(tmp_path, "1")["omp"] == "6"


class TestSignatures:
    """Objectives without an `evaluation` parameter are called as before."""

    async def test_old_signature(self, tmp_path: Path) -> None:
        worker = ProcessPoolWorker(f"{OBJECTIVES}:reports_without_evaluation", max_workers=1)
        ev = Evaluation(id="1", assignments={"x": 0.25, "out": str(tmp_path), "id": "1"}, gpus=(1,))
        try:
            outcome = await prepared_evaluate(worker, ev)
        finally:
            await worker.aclose()
        assert isinstance(outcome, Completed) and outcome.values[0].value == 0.25
        seen = report(tmp_path, "1")
        assert seen["cuda"] == "1" and seen["evaluation"] is None

    async def test_keyword_only(self, tmp_path: Path) -> None:
        worker = ProcessPoolWorker(f"{OBJECTIVES}:keyword_only_evaluation", max_workers=1)
        try:
            await prepared_evaluate(worker, held(tmp_path, "1", cpus=(CORES[0],)))
        finally:
            await worker.aclose()
        assert report(tmp_path, "1")["evaluation"]["cpus"] == [CORES[0]]
