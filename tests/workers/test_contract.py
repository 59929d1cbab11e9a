"""One contract, every worker: what the coordinator relies on, whatever runs the objective.

The subprocess worker runs twice: with a run folder per evaluation (what the orchestrator
gives it) and piped, without one (a library run: output through pipes, the result on
stdout, its files in the worker's scratch folder).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

import anyio
import pytest

from workers.async_function import AsyncFunctionWorker
from workers.base import Completed, Evaluation, Failed, Outcome, Worker
from workers.errors import BrokenWorker
from workers.process_pool import ProcessPoolWorker
from workers.subprocess import SubprocessWorker

OBJECTIVES = "tests.workers.objectives"
RUN_OBJECTIVE = Path(__file__).parent / "scripts" / "run_objective.py"
#: Generous: a process-pool child or a Python subprocess must start on a loaded CI box.
DEADLINE_S = 20


def _async_function(objective: str) -> Worker:
    return AsyncFunctionWorker(f"{OBJECTIVES}:{objective}")


def _process_pool(objective: str) -> Worker:
    return ProcessPoolWorker(f"{OBJECTIVES}:{objective}", max_workers=4)


def _subprocess(objective: str) -> Worker:
    return SubprocessWorker([sys.executable, str(RUN_OBJECTIVE), objective], kill_grace_s=1.0)


WORKER_KINDS: dict[str, Callable[[str], Worker]] = {
    "async_function": _async_function,
    "process_pool": _process_pool,
    "subprocess": _subprocess,
    "subprocess_piped": _subprocess,
}
#: The kinds whose evaluations get no folder of their own.
WITHOUT_WORKDIR = frozenset({"subprocess_piped"})


@dataclass
class Harness:
    """Builds a worker of one kind for a named objective, and evaluations with fresh workdirs."""

    kind: str
    tmp_path: Path
    workers: list[Worker] = field(default_factory=list)
    ids: count[int] = field(default_factory=lambda: count(1))

    def worker(self, objective: str) -> Worker:
        worker = WORKER_KINDS[self.kind](objective)
        self.workers.append(worker)
        return worker

    def evaluation(self, **assignments: float | str) -> Evaluation:
        eval_id = str(next(self.ids))
        if self.kind in WITHOUT_WORKDIR:
            return Evaluation(id=eval_id, assignments=assignments)
        workdir = self.tmp_path / eval_id
        workdir.mkdir()
        return Evaluation(id=eval_id, assignments=assignments, workdir=workdir)

    @property
    def runs_a_command(self) -> bool:
        return self.kind.startswith("subprocess")


@pytest.fixture(params=sorted(WORKER_KINDS))
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    h = Harness(kind=request.param, tmp_path=tmp_path)
    yield h
    with anyio.fail_after(DEADLINE_S):
        for worker in h.workers:
            await worker.aclose()


async def evaluate(worker: Worker, evaluation: Evaluation) -> Outcome:
    with anyio.fail_after(DEADLINE_S):
        return await worker.evaluate(evaluation)


def values_of(outcome: Outcome) -> dict[str | None, float]:
    assert isinstance(outcome, Completed), outcome
    return {m.name: m.value for m in outcome.values}


class TestWorkerContract:
    """Every worker kind turns objectives into outcomes the same way."""

    async def test_good_objective_completes_with_its_value(self, harness: Harness) -> None:
        """A well-behaved objective yields Completed with the value it computed."""
        worker = harness.worker("quadratic")
        outcome = await evaluate(worker, harness.evaluation(x=3.0, y=0.5))
        assert values_of(outcome) == {None: 9.5}

    async def test_raising_objective_fails_with_type_and_message(self, harness: Harness) -> None:
        """An exception in the objective is a Failed outcome naming its type and message."""
        worker = harness.worker("raises")
        outcome = await evaluate(worker, harness.evaluation(x=7.0))
        assert isinstance(outcome, Failed)
        if harness.runs_a_command:
            # A command's exception is a non-zero exit; its traceback is on stderr.
            assert outcome.reason == "exit_code"
            text = str(outcome.details["stderr_tail"])
            assert "ValueError: x=7.0 is out of range" in text
        else:
            assert outcome.reason == "exception"
            assert outcome.details["exception_type"] == "ValueError"
            assert outcome.details["message"] == "x=7.0 is out of range"
            assert "raises" in str(outcome.details["traceback"])

    async def test_nan_is_an_invalid_result(self, harness: Harness) -> None:
        """A non-finite metric is Failed(invalid_result), never sent as a value."""
        worker = harness.worker("nan")
        outcome = await evaluate(worker, harness.evaluation(x=1.0))
        assert isinstance(outcome, Failed)
        assert outcome.reason == "invalid_result"
        assert "non-finite" in str(outcome.details["message"])

    async def test_values_list_reports_every_metric(self, harness: Harness) -> None:
        """A {"values": [...]} result reports each named metric."""
        worker = harness.worker("two_values")
        outcome = await evaluate(worker, harness.evaluation(x=0.25))
        assert values_of(outcome) == {"accuracy": 0.25, "loss": 0.75}

    async def test_metric_dict_reports_every_metric(self, harness: Harness) -> None:
        """A dict of metric names to numbers reports each of them."""
        worker = harness.worker("metric_dict")
        outcome = await evaluate(worker, harness.evaluation(x=0.5))
        assert values_of(outcome) == {"accuracy": 0.5, "latency": 5.0}

    async def test_concurrent_evaluations_all_succeed(self, harness: Harness) -> None:
        """Four evaluations in flight at once each get their own correct result."""
        worker = harness.worker("quadratic")
        results: dict[float, Outcome] = {}

        async def one(x: float) -> None:
            results[x] = await worker.evaluate(harness.evaluation(x=x))

        with anyio.fail_after(DEADLINE_S):
            async with anyio.create_task_group() as tg:
                for x in (1.0, 2.0, 3.0, 4.0):
                    tg.start_soon(one, x)
        assert {x: values_of(o) for x, o in results.items()} == {
            x: {None: x**2} for x in (1.0, 2.0, 3.0, 4.0)
        }

    async def test_worker_still_works_after_a_cancelled_evaluation(self, harness: Harness) -> None:
        """Cancelling an evaluation mid-run leaves the worker usable for the next one."""
        worker = harness.worker("slow")
        with anyio.fail_after(DEADLINE_S):
            with anyio.move_on_after(0.5) as scope:
                await worker.evaluate(harness.evaluation(x=1.0, sleep_s=2.0))
        assert scope.cancelled_caught
        outcome = await evaluate(worker, harness.evaluation(x=2.0, sleep_s=0.0))
        assert values_of(outcome) == {None: 4.0}

    async def test_aclose_is_idempotent_and_final(self, harness: Harness) -> None:
        """aclose may be called twice; evaluating afterwards raises BrokenWorker."""
        worker = harness.worker("quadratic")
        assert isinstance(worker, Worker)  # the runtime-checkable protocol
        with anyio.fail_after(DEADLINE_S):
            await worker.aclose()
            await worker.aclose()
            with pytest.raises(BrokenWorker, match="closed"):
                await worker.evaluate(harness.evaluation(x=1.0))
