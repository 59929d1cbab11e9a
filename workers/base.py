"""The one protocol every worker follows, and the outcome types it returns.

Data flows one way: an `Evaluation` (the suggestion's id and assignments) goes in, an
`Outcome` comes out: `Completed(values=...)` or `Failed(reason=...)`. A crashing,
non-finite or unparsable objective becomes `Failed`, never an exception up the stack.
Exceptions mean the worker is unusable (`BrokenWorker`); deadlines belong to the caller,
who wraps `evaluate` in `anyio.fail_after`; the worker makes cancellation real (kills
its process group) and stays usable after a cancelled call.

Usage sketch:
```python
async with make_worker(...) as worker:          # or: worker = ...; await worker.aclose()
    outcome = await worker.evaluate(Evaluation(id="12", assignments={"x": 0.5}, workdir=p))
```
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Self, runtime_checkable

AssignmentValue = int | float | str


@dataclass(frozen=True)
class Evaluation:
    """One evaluation to run: what the worker needs, nothing of HTTP."""

    id: str
    assignments: Mapping[str, AssignmentValue]
    #: A folder for this evaluation's files (stdout, stderr, result file), kept after it;
    #: a worker that writes files creates it (mode 0o700) if it does not exist.
    workdir: Path | None = None
    attempt: int = 1


@dataclass(frozen=True)
class MetricValue:
    name: str | None
    value: float
    stddev: float | None = None


@dataclass(frozen=True)
class Completed:
    values: tuple[MetricValue, ...]

    @property
    def is_failed(self) -> bool:
        return False


@dataclass(frozen=True)
class Failed:
    """The parameters could not be evaluated. `details` go to the observation's metadata."""

    reason: str
    details: Mapping[str, str | int | float] = field(default_factory=dict)

    @property
    def is_failed(self) -> bool:
        return True


Outcome = Completed | Failed


@runtime_checkable
class Worker(Protocol):
    """What the coordinator calls. `evaluate` is safe to cancel at every await.

    `prepare` runs before the evaluation's deadline starts: whatever is not the objective
    (starting a process, importing the target) so that it never counts as the objective
    running late. Workers with nothing to prepare return at once.
    """

    async def prepare(self, evaluation: Evaluation) -> None: ...

    async def evaluate(self, evaluation: Evaluation) -> Outcome: ...

    async def aclose(self) -> None: ...


class ClosesOnExit(abc.ABC):
    """`async with worker:` closes it on the way out, however the block ends."""

    @abc.abstractmethod
    async def aclose(self) -> None: ...

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class ResultError(ValueError):
    """An objective returned something that is not a metric."""


def _metric_value(name: str | None, raw: Any, stddev: Any = None) -> MetricValue:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        label = "value" if name is None else f"value of metric {name!r}"
        raise ResultError(f"{label} must be a number, got {type(raw).__name__}: {raw!r:.80}")
    if not math.isfinite(float(raw)):
        raise ResultError(f"non-finite metric value {raw!r}" + (f" for {name!r}" if name else ""))
    if stddev is not None and (
        isinstance(stddev, bool)
        or not isinstance(stddev, int | float)
        or not math.isfinite(float(stddev))
        or stddev < 0
    ):
        raise ResultError(f"value_stddev must be a finite number >= 0, got {stddev!r:.80}")
    return MetricValue(
        name=name, value=float(raw), stddev=None if stddev is None else float(stddev)
    )


def outcome_from_result(result: Any) -> Outcome:
    """Turn what an objective returned (or a worker printed) into an `Outcome`.

    Accepted shapes: a number; `{"value": v[, "value_stddev": s]}`;
    `{"values": [{"name": n, "value": v[, "value_stddev": s]}, ...]}`;
    `{"failed": true[, "reason": "..."]}`; or a dict of metric name to number (several
    metrics at once). Anything else, NaN or infinity included, is a `Failed` outcome whose
    reason says what was wrong.
    """
    try:
        return _parse_result(result)
    except ResultError as exc:
        return Failed(reason="invalid_result", details={"message": str(exc)})


def _parse_result(result: Any) -> Outcome:
    if isinstance(result, Completed | Failed):
        return result
    if not isinstance(result, Mapping):
        return Completed(values=(_metric_value(None, result),))
    if result.get("failed") is True:
        reason = result.get("reason", "reported_failed")
        return Failed(reason="objective_failed", details={"message": str(reason)[:500]})
    if "values" in result:
        items = result["values"]
        if not isinstance(items, list) or not items:
            raise ResultError("`values` must be a non-empty list of {name, value} objects")
        parsed = []
        for i, item in enumerate(items):
            if not isinstance(item, Mapping) or "value" not in item:
                raise ResultError(f"values[{i}] must be an object with a `value`")
            name = item.get("name")
            if name is not None and not isinstance(name, str):
                raise ResultError(f"values[{i}].name must be a string")
            parsed.append(_metric_value(name, item["value"], item.get("value_stddev")))
        return Completed(values=tuple(parsed))
    if "value" in result:
        return Completed(values=(_metric_value(None, result["value"], result.get("value_stddev")),))
    if not result:
        raise ResultError("empty result object: expected `value`, `values` or metric names")
    named = []
    for key, raw in result.items():
        if not isinstance(key, str):
            raise ResultError(f"metric names must be strings, got {key!r:.80}")
        named.append(_metric_value(key, raw))
    return Completed(values=tuple(named))
