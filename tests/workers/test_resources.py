"""The resource pool: which sets it makes, that no two holders share one, that a set
always comes back (return, exception, cancellation, timeout), and the helpers a worker
uses to give an evaluation what it holds (environment, affinity, `auto` GPUs)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from workers.base import InvalidSetting, WorkerSettings
from workers.resources import (
    NO_RESOURCES,
    NullResourcePool,
    ResourcePool,
    Resources,
    available_cores,
    detect_gpus,
    evaluation_env,
    pin_process,
    pinned_thread,
    plan_resources,
)

CORES = (0, 1, 2, 3, 4, 5, 6, 7)


def settings(**values: object) -> WorkerSettings:
    return WorkerSettings(**values)  # type: ignore[arg-type]


class TestPlan:
    """GPUs cut into groups of k, cores into groups of k, set i pairing group i of each;
    a count the sets cannot serve is refused with the numbers."""

    def test_gpus_and_cores_pair_up(self) -> None:
        sets = plan_resources(
            settings(count=2, gpus=(0, 1, 2, 3), gpus_per_evaluation=2, cpus_per_evaluation=3),
            CORES,
        )
        assert sets == (Resources((0, 1), (0, 1, 2)), Resources((2, 3), (3, 4, 5)))

    def test_gpus_default_to_one_each(self) -> None:
        sets = plan_resources(settings(count=3, gpus=(3, 5, 7)), CORES)
        assert [s.gpus for s in sets] == [(3,), (5,), (7,)]
        assert all(s.cpus == () for s in sets)

    def test_leftover_gpus_are_not_handed_out(self) -> None:
        sets = plan_resources(settings(count=1, gpus=(0, 1, 2), gpus_per_evaluation=2), CORES)
        assert sets == (Resources((0, 1)),)

    def test_nothing_asked_nothing_planned(self) -> None:
        assert plan_resources(settings(count=64), CORES) == ()

    @pytest.mark.parametrize(
        ("values", "field", "message"),
        [
            (
                {"count": 3, "gpus": (0, 1, 2, 3), "gpus_per_evaluation": 2},
                "count",
                "is 3 but 4 GPUs / 2 per evaluation allow 2",
            ),
            (
                {"count": 3, "cpus_per_evaluation": 3},
                "count",
                "is 3 but 8 cores / 3 per evaluation allow 2",
            ),
            (
                {"count": 3, "gpus": (0, 1, 2, 3), "cpus_per_evaluation": 4},
                "count",
                "is 3 but 8 cores / 4 per evaluation allow 2",
            ),
            ({"gpus": (0, 1), "gpus_per_evaluation": 3}, "gpus_per_evaluation", "is 3 but"),
            ({"gpus_per_evaluation": 1}, "gpus_per_evaluation", "needs `gpus`"),
            ({"cpus_per_evaluation": 9}, "cpus_per_evaluation", "may use 8 core"),
            ({"gpus": (1, 1)}, "gpus", "twice"),
        ],
    )
    def test_refusals_name_the_key_and_the_numbers(
        self, values: dict[str, object], field: str, message: str
    ) -> None:
        with pytest.raises(InvalidSetting, match=message) as caught:
            plan_resources(settings(**values), CORES)
        assert caught.value.field == field

    def test_cores_default_to_this_process_affinity(self) -> None:
        sets = plan_resources(settings(count=1, cpus_per_evaluation=1))
        assert [s.cpus for s in sets] == [(core,) for core in available_cores()]


def pool_of(count: int) -> ResourcePool:
    return ResourcePool([Resources((2 * i, 2 * i + 1), (i,)) for i in range(count)])


class TestPool:
    """Each holder has its set alone; every way out of `hold` gives it back."""

    async def test_concurrent_holders_never_share(self) -> None:
        """1. 12 tasks on a pool of 2 sets, each holding for a few checkpoints.
        2. Whoever holds a set is alone with it; at most 2 hold at once.
        3. All sets are free at the end."""
        pool = pool_of(2)
        holders: dict[Resources, int] = {}
        most = 0

        async def use(i: int) -> None:
            nonlocal most
            async with pool.hold() as held:
                assert held not in holders, f"{held} held by {holders[held]} and {i}"
                holders[held] = i
                most = max(most, len(holders))
                for _ in range(i % 3 + 1):
                    await anyio.lowlevel.checkpoint()
                del holders[held]

        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                for i in range(12):
                    tg.start_soon(use, i)
        assert most == 2
        assert pool.free == 2

    async def test_sets_rotate(self) -> None:
        """A set given back goes to the end of the queue: the GPUs take turns."""
        pool = pool_of(2)
        seen = []
        for _ in range(4):
            async with pool.hold() as held:
                seen.append(held.gpus)
        assert seen == [(0, 1), (2, 3), (0, 1), (2, 3)]

    async def test_given_back_after_an_exception(self) -> None:
        pool = pool_of(1)
        with pytest.raises(RuntimeError):
            async with pool.hold():
                raise RuntimeError("objective blew up")
        assert pool.free == 1

    async def test_given_back_after_a_timeout(self) -> None:
        """The caller's deadline cancels the block; the set is free again at once."""
        pool = pool_of(1)
        with pytest.raises(TimeoutError):
            with anyio.fail_after(0.05):
                async with pool.hold():
                    await anyio.sleep(10)
        assert pool.free == 1
        with anyio.fail_after(1):
            async with pool.hold() as held:
                assert held.gpus == (0, 1)

    async def test_given_back_after_a_cancellation(self) -> None:
        pool = pool_of(1)
        holding = anyio.Event()

        async def hold_forever() -> None:
            async with pool.hold():
                holding.set()
                await anyio.sleep_forever()

        async with anyio.create_task_group() as tg:
            tg.start_soon(hold_forever)
            await holding.wait()
            assert pool.free == 0
            tg.cancel_scope.cancel()
        assert pool.free == 1

    async def test_waits_while_all_are_taken_and_a_cancelled_wait_takes_nothing(self) -> None:
        """1. The only set is held. 2. A second holder waits; a third's wait is cancelled.
        3. When the first gives it back, the second gets it; nothing is lost."""
        pool = pool_of(1)
        got: list[Resources] = []
        async with anyio.create_task_group() as tg, pool.hold():

            async def second() -> None:
                async with pool.hold() as held:
                    got.append(held)

            tg.start_soon(second)
            with anyio.move_on_after(0.05) as waited:
                async with pool.hold():
                    pytest.fail("the third holder got a set that was taken")
            assert waited.cancelled_caught
            await anyio.sleep(0.01)
            assert got == []
        assert got == [Resources((0, 1), (0,))]
        assert pool.free == 1

    def test_repr_says_what_is_free(self) -> None:
        assert repr(pool_of(2)) == "<ResourcePool free=2/2 next: GPUs 0,1, cores 0>"

    async def test_the_null_pool_hands_out_nothing_to_anyone(self) -> None:
        pool = NullResourcePool()
        async with pool.hold() as a, pool.hold() as b:
            assert a is b is NO_RESOURCES
        assert pool.capacity is None

    def test_for_settings(self) -> None:
        assert isinstance(ResourcePool.for_settings(settings(count=2)), NullResourcePool)
        pool = ResourcePool.for_settings(settings(count=1, gpus=(0, 1)))
        assert isinstance(pool, ResourcePool) and pool.capacity == 2


class TestEvaluationEnv:
    """The variables a process running the evaluation gets."""

    def test_gpus_and_thread_counts(self) -> None:
        assert evaluation_env((2, 3), (0, 1, 4), {}) == {
            "CUDA_VISIBLE_DEVICES": "2,3",
            "SIGOPT_GPUS": "2,3",
            "OMP_NUM_THREADS": "3",
            "MKL_NUM_THREADS": "3",
            "OPENBLAS_NUM_THREADS": "3",
        }

    def test_thread_counts_the_user_set_are_left_alone(self) -> None:
        env = evaluation_env((), (5,), {"OMP_NUM_THREADS": "4"})
        assert env == {"MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}

    def test_nothing_held_nothing_set(self) -> None:
        assert evaluation_env((), (), {}) == {}


AFFINITY = "import os; print(sorted(os.sched_getaffinity(0)))"


class TestPinning:
    """A process started in `pinned_thread` is pinned from its start; the thread is
    itself again afterwards; `pin_process` pins threads started before it."""

    def test_a_process_started_in_the_block_inherits_the_mask(self) -> None:
        core = available_cores()[-1]
        before = os.sched_getaffinity(0)
        with pinned_thread([core]):
            child = subprocess.Popen([sys.executable, "-c", AFFINITY], stdout=subprocess.PIPE)
        out, _ = child.communicate(timeout=20)
        assert out.decode().strip() == f"[{core}]"
        assert os.sched_getaffinity(0) == before

    def test_only_the_calling_thread_is_pinned(self) -> None:
        """A thread already running (the anyio workers, the service's) keeps its mask."""
        core = available_cores()[0]
        seen: list[set[int]] = []
        look = threading.Event()

        def other_thread() -> None:
            look.wait(10)
            seen.append(os.sched_getaffinity(0))

        other = threading.Thread(target=other_thread)
        other.start()
        with pinned_thread([core]):
            look.set()
            other.join()
        assert seen == [set(available_cores())]

    def test_the_mask_is_restored_after_an_error(self) -> None:
        before = os.sched_getaffinity(0)
        with pytest.raises(OSError), pinned_thread([available_cores()[0]]):
            subprocess.Popen(["/nonexistent/program"])
        assert os.sched_getaffinity(0) == before

    def test_pin_process_reaches_threads_started_before(self) -> None:
        """A child starts a thread (as BLAS does at import), then pins the process: the
        thread is pinned too."""
        core = available_cores()[-1]
        code = f"""
import os, threading, time
from workers.resources import pin_process
seen = []
go = threading.Event()
def worker():
    go.wait()
    seen.append(sorted(os.sched_getaffinity(0)))
t = threading.Thread(target=worker); t.start()
pin_process([{core}])
go.set(); t.join()
print(seen[0])
"""
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=20, check=True
        )
        assert done.stdout.strip() == f"[{core}]"

    def test_pin_process_here(self) -> None:
        """In this process too (undone after)."""
        before = os.sched_getaffinity(0)
        try:
            pin_process([available_cores()[0]])
            assert os.sched_getaffinity(0) == {available_cores()[0]}
        finally:
            pin_process(before)


def fake_nvidia_smi(folder: Path, body: str) -> dict[str, str]:
    """An `nvidia-smi` on PATH that runs `body` (a shell script): an environment for it."""
    program = folder / "nvidia-smi"
    program.write_text(f"#!/bin/sh\n{body}\n")
    program.chmod(0o755)
    return {"PATH": f"{folder}:/usr/bin:/bin"}


class TestDetectGpus:
    """`gpus: auto`: CUDA_VISIBLE_DEVICES, else `nvidia-smi -L`, else none."""

    @pytest.mark.parametrize(
        ("value", "ids"),
        [("0,2", (0, 2)), (" 1 , 3 ", (1, 3)), ("", ()), ("-1", ()), ("0,-1,2", (0,))],
    )
    def test_cuda_visible_devices(self, value: str, ids: tuple[int, ...]) -> None:
        assert detect_gpus({"CUDA_VISIBLE_DEVICES": value}) == ids

    def test_uuids_are_refused(self) -> None:
        with pytest.raises(ValueError, match="UUID"):
            detect_gpus({"CUDA_VISIBLE_DEVICES": "GPU-5f0b1c7e-aaaa"})

    def test_the_variable_wins_over_nvidia_smi(self, tmp_path: Path) -> None:
        env = fake_nvidia_smi(tmp_path, "echo 'GPU 0: A100'; echo 'GPU 1: A100'")
        assert detect_gpus({**env, "CUDA_VISIBLE_DEVICES": "1"}) == (1,)

    def test_nvidia_smi_listing(self, tmp_path: Path) -> None:
        env = fake_nvidia_smi(
            tmp_path,
            "echo 'GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-1)'\n"
            "echo '  MIG 1g.5gb Device 0: (UUID: MIG-2)'\n"
            "echo 'GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-3)'",
        )
        assert detect_gpus(env) == (0, 1)

    def test_a_failing_nvidia_smi_means_none(self, tmp_path: Path) -> None:
        env = fake_nvidia_smi(tmp_path, "echo 'NVIDIA-SMI has failed' >&2; exit 9")
        assert detect_gpus(env) == ()

    def test_no_nvidia_smi_means_none(self, tmp_path: Path) -> None:
        assert detect_gpus({"PATH": str(tmp_path)}) == ()
