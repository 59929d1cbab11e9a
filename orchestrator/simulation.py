"""Doubles for running the coordinator on simulated time: a clock that only moves when
told to, and a worker that evaluates a formula and advances that clock instead of sleeping.

```python
clock = FakeClock()
worker = SimulatedWorker(clock, lambda a: a["x"] ** 2, duration_s=30.0)
coordinator = Coordinator(client, worker, experiment_id=eid, settings=s, clock=clock)
```
With `InProcessTransport` below the client, a run of hundreds of evaluations takes a
fraction of a second, and every duration the coordinator measures is the simulated one:
`evaluate` never yields to the event loop, so no other slot moves the clock between the
coordinator's two readings of it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from workers.base import AssignmentValue, Evaluation, Outcome, outcome_from_result

__all__ = ["FakeClock", "SimulatedWorker"]

#: What the objective gets: the suggestion's assignments.
Assignments = Mapping[str, AssignmentValue]


class FakeClock:
    """A monotonic clock in seconds that moves only through `advance`; pass it as the
    coordinator's `clock=`."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self.now += seconds

    def __repr__(self) -> str:
        return f"FakeClock(now={self.now:g})"


class SimulatedWorker:
    """Evaluates `objective(assignments)` at once and advances `clock` by the evaluation's
    duration (`duration_s`: seconds, or a function of the evaluation).

    The objective returns anything an objective may (a number, a dict, `Failed`), turned
    into an `Outcome` as real workers do; it may raise `BrokenWorker` to simulate a lost
    process. `evaluations` records every call, retries included.
    """

    def __init__(
        self,
        clock: FakeClock,
        objective: Callable[[Assignments], Any],
        *,
        duration_s: float | Callable[[Evaluation], float] = 1.0,
    ) -> None:
        self.clock = clock
        self.objective = objective
        self.duration_s = duration_s
        self.evaluations: list[Evaluation] = []
        self.closed = False

    def __repr__(self) -> str:
        return f"SimulatedWorker(evaluations={len(self.evaluations)}, {self.clock!r})"

    async def prepare(self, evaluation: Evaluation) -> None:
        return None

    async def evaluate(self, evaluation: Evaluation) -> Outcome:
        # No await in here: see the module docstring.
        self.evaluations.append(evaluation)
        duration = self.duration_s(evaluation) if callable(self.duration_s) else self.duration_s
        self.clock.advance(duration)
        return outcome_from_result(self.objective(evaluation.assignments))

    async def aclose(self) -> None:
        self.closed = True
