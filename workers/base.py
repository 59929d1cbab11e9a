"""The one protocol every worker follows, the outcome types it returns, and the
descriptor (`WorkerKind`) by which each kind of worker tells the orchestrator what it needs.

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
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Self, runtime_checkable

AssignmentValue = int | float | str


@dataclass(frozen=True)
class EvaluationTask:
    """The task of a multitask experiment's evaluation: its `name` (`cheap`, `full`) and
    `cost` in (0, 1], 1 for the full-cost task (the objective itself); a cheaper task is
    an approximation the objective chooses how to make (fewer epochs, less data)."""

    name: str
    cost: float


@dataclass(frozen=True)
class Evaluation:
    """One evaluation to run: what the worker needs, nothing of HTTP."""

    id: str
    assignments: Mapping[str, AssignmentValue]
    #: A folder for this evaluation's files (stdout, stderr, result file), kept after it;
    #: a worker that writes files creates it (mode 0o700) if it does not exist.
    workdir: Path | None = None
    attempt: int = 1
    #: The GPU ids this evaluation holds alone (`workers.resources.ResourcePool`); a
    #: process running it gets them as `CUDA_VISIBLE_DEVICES`. Empty: none assigned.
    gpus: tuple[int, ...] = ()
    #: The CPU cores it holds alone; a process running it is pinned to them. Empty: none.
    cpus: tuple[int, ...] = ()
    #: Environment variables of this evaluation alone (the orchestrator's: what the
    #: `sigopt` client needs to read this suggestion as its run), for a kind that
    #: `takes_environment`; set on top of everything else a command gets. Out of the
    #: repr: it holds an API token.
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: Multitask only: the task to evaluate the assignments on; None otherwise.
    task: EvaluationTask | None = None


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


@dataclass(frozen=True)
class WorkerSettings:
    """The plain values a kind is configured with (the orchestrator fills them from its
    `workers` section and `timeouts.kill_grace_s`); each kind reads the ones it uses."""

    #: How many evaluations run at once.
    count: int = 1
    #: subprocess: the argv template.
    command: Sequence[str] | None = None
    #: async and process: "package.module:function".
    function: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    shell: bool = False
    kill_grace_s: float = 5.0
    #: async and process: the folders a `function`'s module is looked for in, first one
    #: first, before the working directory and the installed packages (the orchestrator
    #: gives `workers.cwd`, then the config file's folder).
    import_path: tuple[Path, ...] = ()
    #: dask: a running scheduler's address (`tcp://host:8786`); None: the run starts a
    #: cluster (`cluster_class`, else a `LocalCluster` of `count` processes).
    scheduler: str | None = None
    #: dask: the cluster class to start ("dask_jobqueue.SLURMCluster"), its keyword
    #: options, and how many workers to scale it to (None: `count`).
    cluster_class: str | None = None
    cluster_options: Mapping[str, Any] = field(default_factory=dict)
    cluster_scale: int | None = None
    #: dask: the Dask worker resources each evaluation holds (`{"GPU": 1}`).
    resources: Mapping[str, float] = field(default_factory=dict)
    #: The GPU ids shared out among running evaluations (`workers.gpus`, `auto` resolved).
    gpus: tuple[int, ...] = ()
    #: GPUs each running evaluation holds alone; None: 1 when `gpus` are given.
    gpus_per_evaluation: int | None = None
    #: Cores each running evaluation is pinned to alone; None: not pinned.
    cpus_per_evaluation: int | None = None


class InvalidSetting(ValueError):
    """A kind's check of its settings failed. `field` names the setting as the config
    spells it under `workers` (`"command[0]"`); the message says what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def no_parameter_checks(settings: WorkerSettings, parameters: Collection[str]) -> None:
    """The parameter check of a kind whose settings name no parameter."""


def nothing_to_recover(evaluations: Path) -> int:
    """The recovery of a kind whose evaluations cannot outlive the run that started them."""
    return 0


@dataclass(frozen=True, repr=False)
class WorkerKind:
    """One kind of worker, as it describes itself: the orchestrator asks these questions
    instead of branching on the kind's name. `workers.kinds.KINDS` maps names to them.

    The orchestrator calls, in this order: `check_settings` (while validating the config
    file), `check_parameters` (once the experiment's parameter names are known: from the
    file's definition, or fetched for an existing experiment, before the run starts),
    `check_runnable` (before any service is contacted), `recover` (at the start of each
    run, on the run's evaluations folder), then `build` once per run.
    """

    #: The config's `workers.kind`.
    name: str
    #: The setting naming what runs (`command` or `function`): a worker that cannot be
    #: built is reported under it.
    target_field: str
    #: Checks of the settings alone (which the kind needs, which it refuses). Raises
    #: `InvalidSetting`.
    check_settings: Callable[[WorkerSettings], None]
    #: Checks that look outside the settings (the executable exists, the function
    #: imports). Raises `InvalidSetting`.
    check_runnable: Callable[[WorkerSettings], None]
    #: The one worker that serves `count` evaluations at once. Raises `BrokenWorker`.
    build: Callable[[WorkerSettings], Worker]
    #: Checks of the settings against the experiment's parameter names (a command's
    #: placeholders). Raises `InvalidSetting`.
    check_parameters: Callable[[WorkerSettings, Collection[str]], None] = no_parameter_checks
    #: Whether each evaluation gets a folder of its own (`Evaluation.workdir`) in the
    #: run's folder, for the files it writes.
    needs_run_folder: bool = False
    #: After a crash (kill -9 of the run): undo what the dead run's evaluations left
    #: running, given the run's evaluations folder; returns how many it ended. Blocking.
    recover: Callable[[Path], int] = nothing_to_recover
    #: Whether a cancelled evaluation can leave a thread running that nothing can stop
    #: (a plain-`def` objective in this process): the program must then exit without
    #: waiting for such threads.
    abandons_threads: bool = False
    #: Whether it runs evaluations on a cluster, so takes the settings that say which
    #: (`scheduler`, `cluster_*`, `resources`); the other kinds refuse them.
    uses_cluster: bool = False
    #: Whether an evaluation's `Evaluation.env` reaches what runs it (a command's
    #: environment): the orchestrator then gives each evaluation a SigOpt training run
    #: of its suggestion, which a script written for `sigopt optimize` reads and logs to.
    takes_environment: bool = False

    def __repr__(self) -> str:
        traits = [
            trait
            for trait, on in (
                ("needs_run_folder", self.needs_run_folder),
                ("recovers", self.recover is not nothing_to_recover),
                ("abandons_threads", self.abandons_threads),
                ("uses_cluster", self.uses_cluster),
                ("takes_environment", self.takes_environment),
            )
            if on
        ]
        return " ".join(["<WorkerKind", self.name, f"runs={self.target_field}", *traits]) + ">"


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
