"""The compared engines, the suite's budgets and seeds, and their curves in a process pool."""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from benchmarks.common import quiet_logging
from benchmarks.functions import FUNCTIONS
from benchmarks.quality.features import FEATURE_FUNCTIONS, run_feature
from benchmarks.quality.runs import experiment_for, run_engine, run_optuna

#: Engine label -> how to run it. "ours@k": the default engine with k open suggestions.
#: "optuna_tpe@8": Optuna's TPE with 8 trials pending (constant liar), the reference for
#: what 8 open suggestions cost a TPE that is not ours. "ours_gp@k": our GP engine, which
#: conditions on the open suggestions (Optuna's qLogEI), with k open.
ENGINES = (
    "ours@1",
    "ours@4",
    "ours@8",
    "ours_gp@1",
    "ours_gp@4",
    "ours_gp@8",
    "optuna_tpe",
    "optuna_tpe@8",
    "optuna_gp",
    "random",
)
EVALUATIONS_PER_DIM = 20
QUICK_SEEDS = 10
FULL_SEEDS = 20
ALPHA = 0.05
#: Quality at 8 open suggestions within this factor of 1, in median regret.
TARGET_PARALLEL_RATIO = 1.5


def engine_status(engine: str) -> str | None:
    """None if the engine can run here, else why not."""
    needs_torch = engine == "optuna_gp" or (
        not engine.startswith("optuna_") and engine_plan(engine)[2]
    )
    if needs_torch and importlib.util.find_spec("torch") is None:
        return "not installed: torch (the `gp` extra)"
    return None


def engine_plan(engine: str) -> tuple[str, int, bool]:
    """How to run one of our rows: (experiment type, open suggestions, use_gp)."""
    if engine == "random":
        return "random", 1, False
    label, _, k = engine.partition("@")
    if label not in ("ours", "ours_gp"):
        raise ValueError(f"not one of our engines: {engine!r}")
    return "offline", int(k), label == "ours_gp"


def _curve(job: tuple[str, str, int, int]) -> list[float]:
    engine, name, budget, seed = job
    if name in FEATURE_FUNCTIONS:
        return run_feature(FEATURE_FUNCTIONS[name], engine, seed=seed)
    function = FUNCTIONS[name]
    if engine.startswith("optuna_"):
        kind, _, k = engine.partition("@")
        return run_optuna(function, kind, budget=budget, seed=seed, open_trials=int(k or 1))
    kind, open_suggestions, use_gp = engine_plan(engine)
    return run_engine(
        experiment_for(function),
        function,
        engine_type=kind,
        open_suggestions=open_suggestions,
        budget=budget,
        seed=seed,
        use_gp=use_gp,
    )


def _init_worker() -> None:
    quiet_logging()


def _curves(jobs: Sequence[tuple[str, str, int, int]]) -> list[list[float]]:
    processes = max(1, min(os.cpu_count() or 1, len(jobs)))
    if processes == 1:
        return [_curve(job) for job in jobs]
    # One process per core: torch (the GP rows) would otherwise start a thread per core in
    # each of them. The children take the variable at their spawn (all of them start with
    # `map`'s submissions); this process gets its own value back afterwards.
    before = os.environ.get("OMP_NUM_THREADS")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        # spawn: the parent has run event loops and thread pools; a fork would copy them.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(processes, mp_context=context, initializer=_init_worker) as pool:
            return list(pool.map(_curve, jobs, chunksize=4))
    finally:
        if before is None:
            os.environ.pop("OMP_NUM_THREADS", None)
