"""ProcessPoolWorker: child processes that die, are killed on cancel, or cannot import."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from tests.support.processes import is_gone
from workers.base import Completed, Evaluation, Failed
from workers.errors import BrokenWorker
from workers.process_pool import ProcessPoolWorker

OBJECTIVES = "tests.workers.objectives"
DEADLINE_S = 20


class TestProcessPoolWorker:
    """Process-level faults become BrokenWorker; cancellation kills the child."""

    async def test_child_exiting_hard_is_a_broken_worker(self) -> None:
        """A child dying mid-evaluation (os._exit) raises BrokenWorker; the next call works."""
        worker = ProcessPoolWorker(f"{OBJECTIVES}:hard_exit", max_workers=1)
        with anyio.fail_after(DEADLINE_S):
            with pytest.raises(BrokenWorker, match="died"):
                await worker.evaluate(Evaluation(id="1", assignments={"x": 1.0}))
        good = ProcessPoolWorker(f"{OBJECTIVES}:quadratic", max_workers=1)
        with anyio.fail_after(DEADLINE_S):
            outcome = await good.evaluate(Evaluation(id="2", assignments={"x": 2.0}))
        assert isinstance(outcome, Completed)

    async def test_cancel_kills_the_child_process(self, tmp_path: Path) -> None:
        """1. A long evaluation writes its pid and sleeps.
        2. The caller's fail_after expires once the pid is written.
        3. The child process is gone.
        """
        worker = ProcessPoolWorker(f"{OBJECTIVES}:slow", max_workers=1)
        pid_file = tmp_path / "pid"
        ev = Evaluation(id="1", assignments={"x": 1.0, "sleep_s": 60.0, "pid_file": str(pid_file)})
        with pytest.raises(TimeoutError):
            with anyio.fail_after(DEADLINE_S) as scope:

                async def trip() -> None:
                    # Polling: the signal comes from another process, not an Event.
                    while not await anyio.Path(pid_file).exists():  # noqa: ASYNC110
                        await anyio.sleep(0.02)
                    scope.deadline = anyio.current_time()

                async with anyio.create_task_group() as tg:
                    tg.start_soon(trip)
                    await worker.evaluate(ev)
        assert is_gone(int(pid_file.read_text()))

    async def test_unpicklable_result_is_a_failed_outcome(self) -> None:
        """The child converts results to outcomes, so an odd return value cannot break the pipe."""
        worker = ProcessPoolWorker(f"{OBJECTIVES}:returns_unpicklable", max_workers=1)
        with anyio.fail_after(DEADLINE_S):
            outcome = await worker.evaluate(Evaluation(id="1", assignments={}))
        assert isinstance(outcome, Failed)
        assert outcome.reason == "invalid_result"

    @pytest.mark.parametrize(
        ("target", "why"),
        [
            ("tests.workers.no_such_module:fn", "cannot import module"),
            (f"{OBJECTIVES}:no_such_function", "has no attribute"),
            (f"{OBJECTIVES}:not_callable", "not callable"),
            ("no_colon_here", "must look like"),
        ],
    )
    def test_bad_target_is_rejected_at_construction(self, target: str, why: str) -> None:
        """An unimportable or non-callable target raises BrokenWorker naming it and why."""
        with pytest.raises(BrokenWorker, match=why) as info:
            ProcessPoolWorker(target, max_workers=1)
        assert target in str(info.value)

    def test_max_workers_must_be_positive(self) -> None:
        """max_workers=0 would deadlock every evaluation, so it is refused."""
        with pytest.raises(ValueError, match="max_workers"):
            ProcessPoolWorker(f"{OBJECTIVES}:quadratic", max_workers=0)
