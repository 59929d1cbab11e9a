"""Suggestion latency of each engine at 100 and 1,000 observations.

A 4-parameter experiment (double, log double, int, categorical; grid values for the grid
engine) is filled with N observations at random points, then `suggest` + `observe`
cycles are timed on an `InMemoryStore`, so the numbers are the engine's own cost plus
the store's in-memory bookkeeping. The first suggest, which rebuilds the study from the
store (the restart case), is timed apart. `python -m benchmarks.engine_latency` prints a
table; `run()` returns the numbers (milliseconds).
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

from sigopt_service.engine import Engine, Space
from sigopt_service.models import MetricEvaluation
from sigopt_service.store import InMemoryStore, NewExperiment, NewObservation
from sigopt_service.usecases import suggest_and_store

ENGINES = ("random", "grid", "offline")
SIZES = (100, 1000)
_CATEGORIES = [{"name": n, "enum_index": i} for i, n in enumerate(("x", "y", "z"), start=1)]


def _parameters(engine_type: str) -> list[dict[str, Any]]:
    if engine_type == "grid":
        return [
            {"name": "a", "type": "double", "grid": [i / 10 for i in range(10)]},
            {"name": "b", "type": "double", "grid": [10.0**-i for i in range(1, 8)]},
            {"name": "c", "type": "int", "grid": list(range(1, 11))},
            {"name": "d", "type": "categorical", "categorical_values": _CATEGORIES},
        ]
    return [
        {"name": "a", "type": "double", "bounds": {"min": 0.0, "max": 1.0}},
        {
            "name": "b",
            "type": "double",
            "bounds": {"min": 1e-7, "max": 1e-1},
            "transformation": "log",
        },
        {"name": "c", "type": "int", "bounds": {"min": 1, "max": 10}},
        {"name": "d", "type": "categorical", "categorical_values": _CATEGORIES},
    ]


def _value(assignments: dict[str, Any]) -> float:
    a, b, c = float(assignments["a"]), float(assignments["b"]), int(assignments["c"])
    return (a - 0.3) ** 2 + abs(b - 1e-3) + (c - 4) ** 2 / 10 + float(assignments["d"] == "y")


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(
    engine_type: str, n_observations: int, *, cycles: int, seed: int = 0
) -> dict[str, float]:
    """Milliseconds: rebuild (first suggest), suggest p50/p95, full cycle p50/p95."""
    store = InMemoryStore()
    experiment = store.create_experiment(
        NewExperiment.model_validate(
            {
                "name": "latency",
                "type": engine_type,
                "parameters": _parameters(engine_type),
                "metrics": [{"name": "loss", "objective": "minimize"}],
            }
        )
    )
    experiment_id = int(experiment.id)
    space = Space.from_parameters(experiment.parameters)
    rng = random.Random(seed)
    points = [space.random_assignments(rng) for _ in range(n_observations)]
    store.create_observations(
        experiment_id,
        [
            NewObservation(assignments=p, values=[MetricEvaluation(name="loss", value=_value(p))])
            for p in points
        ],
    )
    engine = Engine(store, seed=seed, use_gp=False)

    start = time.perf_counter()
    first = suggest_and_store(engine, store, experiment)
    rebuild_ms = (time.perf_counter() - start) * 1e3
    pending = [first]
    suggest_ms: list[float] = []
    cycle_ms: list[float] = []
    for _ in range(cycles):
        start = time.perf_counter()
        suggestion = suggest_and_store(engine, store, experiment)
        suggested = time.perf_counter()
        oldest = pending.pop(0)
        new = NewObservation(
            suggestion=int(oldest.id),
            values=[MetricEvaluation(name="loss", value=_value(oldest.assignments))],
        )
        engine.observed(experiment, store.create_observations(experiment_id, [new]))
        done = time.perf_counter()
        pending.append(suggestion)
        suggest_ms.append((suggested - start) * 1e3)
        cycle_ms.append((done - start) * 1e3)
    return {
        "rebuild_ms": rebuild_ms,
        "suggest_p50_ms": statistics.median(suggest_ms),
        "suggest_p95_ms": _percentile(suggest_ms, 0.95),
        "cycle_p50_ms": statistics.median(cycle_ms),
        "cycle_p95_ms": _percentile(cycle_ms, 0.95),
    }


def run(*, cycles: dict[str, int] | None = None) -> dict[str, dict[int, dict[str, float]]]:
    """Latencies per engine type and observation count, in milliseconds."""
    # Grid suggest walks every observation (O(n) per call), so fewer grid cycles.
    cycles = cycles or {"random": 2000, "grid": 200, "offline": 100}
    return {
        engine_type: {n: measure(engine_type, n, cycles=cycles[engine_type]) for n in SIZES}
        for engine_type in ENGINES
    }


def main() -> None:
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    results = run()
    header = (
        f"{'engine':<8} {'obs':>5} {'rebuild':>9} {'sugg p50':>9} {'sugg p95':>9} "
        f"{'cycle p50':>10} {'cycle p95':>10}   (ms)"
    )
    print(header)
    for engine_type, by_size in results.items():
        for n, r in by_size.items():
            print(
                f"{engine_type:<8} {n:>5} {r['rebuild_ms']:>9.3f} {r['suggest_p50_ms']:>9.3f} "
                f"{r['suggest_p95_ms']:>9.3f} {r['cycle_p50_ms']:>10.3f} {r['cycle_p95_ms']:>10.3f}"
            )


if __name__ == "__main__":
    main()
