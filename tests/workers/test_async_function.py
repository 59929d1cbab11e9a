"""AsyncFunctionWorker: sync objectives in threads, async ones awaited, bad targets refused."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest

from tests.workers import objectives
from workers.async_function import AsyncFunctionWorker
from workers.base import Completed, Evaluation, Failed, Outcome
from workers.errors import BrokenWorker

DEADLINE_S = 10


async def evaluate(worker: AsyncFunctionWorker, **assignments: float) -> Outcome:
    with anyio.fail_after(DEADLINE_S):
        return await worker.evaluate(Evaluation(id="1", assignments=assignments))


class TestAsyncFunctionWorker:
    """How the objective is called, and which targets are accepted."""

    async def test_sync_objective_runs_in_a_thread(self) -> None:
        """A plain def runs off the event loop's thread."""
        worker = AsyncFunctionWorker("tests.workers.objectives:thread_name")
        outcome = await evaluate(worker)
        assert isinstance(outcome, Completed)
        assert outcome.values[0].value == 1.0

    async def test_async_objective_is_awaited_on_the_loop(self) -> None:
        """An async def runs on the event loop's own thread."""
        seen: list[threading.Thread] = []

        async def objective(assignments: dict[str, Any]) -> float:
            seen.append(threading.current_thread())
            return await objectives.quadratic_async(assignments)

        outcome = await evaluate(AsyncFunctionWorker(objective), x=3.0)
        assert isinstance(outcome, Completed)
        assert outcome.values[0].value == 9.0
        assert seen == [threading.current_thread()]

    async def test_async_objective_receives_a_plain_dict_copy(self) -> None:
        """The objective gets a mutable dict; mutating it does not touch the evaluation."""
        received: list[dict[str, Any]] = []

        async def objective(assignments: dict[str, Any]) -> float:
            received.append(assignments)
            assignments["x"] = 0
            return 1.0

        ev = Evaluation(id="1", assignments={"x": 5.0})
        with anyio.fail_after(DEADLINE_S):
            await AsyncFunctionWorker(objective).evaluate(ev)
        assert type(received[0]) is dict
        assert ev.assignments == {"x": 5.0}

    async def test_cancelling_async_objective_propagates(self) -> None:
        """Cancellation of an async objective is never turned into a Failed outcome."""

        async def objective(assignments: dict[str, Any]) -> float:
            await anyio.sleep(10)
            return 1.0

        with anyio.move_on_after(0.1) as scope:
            await AsyncFunctionWorker(objective).evaluate(Evaluation(id="1", assignments={}))
        assert scope.cancelled_caught

    async def test_sys_exit_in_objective_is_a_failure(self) -> None:
        """An objective calling sys.exit() fails its evaluation, not the orchestrator."""

        def objective(assignments: dict[str, Any]) -> float:
            raise SystemExit(2)

        outcome = await evaluate(AsyncFunctionWorker(objective))
        assert isinstance(outcome, Failed)
        assert outcome.details["exception_type"] == "SystemExit"

    def test_unimportable_target_names_it(self) -> None:
        """A module that cannot be imported raises BrokenWorker naming the target."""
        target = "tests.workers.no_such_module:fn"
        with pytest.raises(BrokenWorker, match="no_such_module") as info:
            AsyncFunctionWorker(target)
        assert repr(target) in str(info.value)

    def test_non_callable_target_is_refused(self) -> None:
        """A target that is not callable raises BrokenWorker at construction."""
        with pytest.raises(BrokenWorker, match="not callable"):
            AsyncFunctionWorker("tests.workers.objectives:not_callable")
        with pytest.raises(BrokenWorker, match="not callable"):
            AsyncFunctionWorker(42)  # type: ignore[arg-type]
