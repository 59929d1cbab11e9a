"""The store thread runs calls in order, delivers every result, and stops cleanly."""

from __future__ import annotations

import threading
import time

import anyio
import anyio.lowlevel
import pytest

from sigopt_service.store import StoreThread, StoreThreadStopped


def _raise_stop() -> None:
    raise StopIteration("empty")


class TestStoreThread:
    """Results and errors reach their callers; nothing waits forever."""

    async def test_order_errors_and_stop(self) -> None:
        runner = StoreThread()
        runner.start()
        seen: list[int] = []
        results: dict[int, int] = {}

        async def call(i: int) -> None:
            results[i] = await runner.call(lambda: seen.append(i) or i * i)

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for i in range(50):
                    tg.start_soon(call, i)
                    await anyio.lowlevel.checkpoint()
            assert seen == list(range(50)) and results[7] == 49
            # A StopIteration (which a future refuses) fails only its own caller.
            async with anyio.create_task_group() as tg:
                tg.start_soon(call, 100)
                with pytest.raises(RuntimeError, match="StopIteration"):
                    await runner.call(_raise_stop)
            assert results[100] == 10_000
            await runner.aclose()
            with pytest.raises(StoreThreadStopped):
                await runner.call(lambda: 1)

    async def test_quick_call_not_held_behind_a_slow_one(self) -> None:
        runner = StoreThread()
        runner.start()
        answered: dict[str, float] = {}
        start = time.perf_counter()

        async def timed(name: str, fn: object) -> None:
            await runner.call(fn)  # type: ignore[arg-type]
            answered[name] = time.perf_counter() - start

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(timed, "quick", lambda: None)
                tg.start_soon(timed, "slow", lambda: time.sleep(0.5))
                tg.start_soon(timed, "after", lambda: time.sleep(0.5))
            await runner.aclose()
        # Flushed once the batch ran long: the quick call waited for one slow job, not two.
        assert answered["quick"] < 0.9 <= answered["after"]


class TestRunNowIfIdle:
    """The hot path's shortcut runs on the caller's thread, but never ahead of a call."""

    async def test_runs_here_when_idle_and_never_overtakes(self) -> None:
        runner = StoreThread()
        runner.start()
        here = threading.get_ident()
        ran_on: list[int] = []
        with anyio.fail_after(10):
            ran = runner.run_now_if_idle(
                lambda: ran_on.append(threading.get_ident()) or 7, quick=lambda: True
            )
            assert ran == (True, 7)
            # Not quick (asked under the lock): not run.
            assert runner.run_now_if_idle(lambda: 1, quick=lambda: False) == (False, None)
            assert ran_on == [here]
            # While an earlier call is queued or running the shortcut refuses, untouched.
            release = threading.Event()
            async with anyio.create_task_group() as tg:
                tg.start_soon(runner.call, release.wait)
                await anyio.sleep(0.05)
                refused = runner.run_now_if_idle(lambda: ran_on.append(-1), quick=lambda: True)
                assert refused == (False, None)
                release.set()
            assert ran_on == [here]
            # Once that call has finished, the shortcut works again.
            assert runner.run_now_if_idle(lambda: 8, quick=lambda: True) == (True, 8)
            await runner.aclose()
            with pytest.raises(StoreThreadStopped):
                runner.run_now_if_idle(lambda: 9, quick=lambda: True)
