"""ProcessPoolWorker: a child's start-up (interpreter, imports) is no part of the
evaluation's deadline. Found by the chaos soak run with the `process` kind (issue 4)."""

from __future__ import annotations

import anyio

from workers.base import Completed, Evaluation
from workers.process_pool import ProcessPoolWorker

#: `slow_import_objective.IMPORT_S` (not imported here: it would cost collection 1 s).
IMPORT_S = 1.0


class TestColdStart:
    """An instant objective on a cold pool finishes within a deadline shorter than the
    child's start-up, as the coordinator's `fail_after(workers.timeout)` expects."""

    async def test_cold_start_is_not_counted_against_the_deadline(self) -> None:
        """1. A fresh pool; the objective's module takes 1 s to import in the child.
        2. `prepare` (outside the deadline), then the instant objective under 0.8 s.
        3. It completes: the deadline measured the objective, not the child's start-up."""
        worker = ProcessPoolWorker("tests.workers.slow_import_objective:instant", max_workers=1)
        deadline_s = IMPORT_S * 0.8
        evaluation = Evaluation(id="1", assignments={"x": 0.5})
        try:
            await worker.prepare(evaluation)  # what the coordinator does before the deadline
            with anyio.fail_after(deadline_s):
                outcome = await worker.evaluate(evaluation)
        finally:
            await worker.aclose()
        assert isinstance(outcome, Completed)
