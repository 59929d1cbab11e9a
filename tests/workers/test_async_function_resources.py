"""AsyncFunctionWorker and what an evaluation holds: the objective gets the `Evaluation`
when it asks for it; nothing is pinned or exported in this shared process."""

from __future__ import annotations

import json
import os
from pathlib import Path

import anyio

from tests.workers.resource_objectives import reports_holdings, reports_holdings_async
from workers.async_function import AsyncFunctionWorker, accepts_evaluation
from workers.base import Completed, Evaluation


class TestEvaluationArgument:
    """`evaluation` is passed to objectives that declare it, sync or async."""

    async def test_sync_and_async(self, tmp_path: Path) -> None:
        before = os.sched_getaffinity(0)
        for name, fn in (("sync", reports_holdings), ("async", reports_holdings_async)):
            worker = AsyncFunctionWorker(fn)
            ev = Evaluation(
                id=name, assignments={"x": 1.5, "out": str(tmp_path)}, gpus=(0, 1), cpus=(0,)
            )
            with anyio.fail_after(10):
                outcome = await worker.evaluate(ev)
            assert isinstance(outcome, Completed) and outcome.values[0].value == 1.5
            seen = json.loads((tmp_path / f"{name}.json").read_text())
            assert seen["evaluation"] == {"id": name, "gpus": [0, 1], "cpus": [0]}
            # Shared by every evaluation: its environment and mask are left alone.
            assert seen["sigopt_gpus"] is None
        assert os.sched_getaffinity(0) == before

    def test_which_signatures_ask(self) -> None:
        def positional(assignments: dict[str, float], evaluation: Evaluation) -> float:
            return 0.0

        def keyword(assignments: dict[str, float], *, evaluation: Evaluation) -> float:
            return 0.0

        def plain(assignments: dict[str, float]) -> float:
            return 0.0

        def catch_all(assignments: dict[str, float], **kw: object) -> float:
            return 0.0

        assert accepts_evaluation(positional) and accepts_evaluation(keyword)
        assert not accepts_evaluation(plain) and not accepts_evaluation(catch_all)
        assert not accepts_evaluation(print)
