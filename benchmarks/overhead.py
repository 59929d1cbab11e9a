"""Coordinator overhead per evaluation: no-op evaluations, end to end, against the HTTP floor.

`Coordinator` drives `benchmarks.objectives:noop` (an async objective that returns at
once) through a `ServiceClient` against the embedded service (`random` engine, SQLite
file) with 1, 4, 16 and 64 workers, so every second of the run is orchestration:
suggest, the worker call, observe, bookkeeping. Targets: at least 1,000 evaluations/s,
and within 3x of the HTTP floor: two loopback round trips per evaluation to a bare
`{}` server, with the same number of concurrent tasks, measured in this process.

Rivals on the same no-op objective (`benchmarks.rivals`): Optuna `study.optimize(n_jobs=W)`
with `RandomSampler`, in memory and on a SQLite file (fewer trials: it manages tens per
second), each given as our rate over theirs.

`python -m benchmarks.overhead` prints the table; `run()` returns the numbers.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

import anyio

from benchmarks.common import markdown_table, quiet_logging, timed_coordinator_run
from benchmarks.http_floor import bare_server, floor_throughput
from benchmarks.rivals import Storage, optuna_wall_s
from workers.async_function import AsyncFunctionWorker

WORKER_COUNTS = (1, 4, 16, 64)
EVALUATIONS = 2000
TARGET_PER_S = 1000.0
TARGET_FLOOR_RATIO = 3.0
OBJECTIVE = "benchmarks.objectives:noop"
REPEATS = 3
#: Optuna on SQLite commits each trial in several transactions: 15-80 trials/s here.
OPTUNA_SQLITE_TRIALS = 100


async def coordinated_rate(workers: int, evaluations: int) -> dict[str, float]:
    """Evaluations per second of one coordinator run (wall time of `Coordinator.run`)."""
    wall_s, _ = await timed_coordinator_run(
        AsyncFunctionWorker(OBJECTIVE),
        engine_type="random",
        evaluations=evaluations,
        workers=workers,
        db_prefix=f"overhead-{workers}",
    )
    return {"wall_s": wall_s, "per_s": evaluations / wall_s}


async def measure(
    *,
    worker_counts: Sequence[int] = WORKER_COUNTS,
    evaluations: int = EVALUATIONS,
    repeats: int = REPEATS,
    rival_repeats: int = 1,
    sqlite_trials: int = OPTUNA_SQLITE_TRIALS,
) -> dict[str, Any]:
    rows: dict[str, dict[str, Any]] = {}
    for workers in worker_counts:
        # Medians of `repeats` runs: one 2 s run moves by ~10% with the machine's mood.
        floors: list[float] = []
        rates: list[dict[str, float]] = []
        for _ in range(repeats):
            async with bare_server() as floor_url:
                floors.append(
                    await floor_throughput(floor_url, concurrency=workers, cycles=evaluations)
                )
            rates.append(await coordinated_rate(workers, evaluations))
        floor_per_s = statistics.median(floors)
        rates.sort(key=lambda r: r["per_s"])
        measured: dict[str, Any] = {
            **rates[len(rates) // 2],
            "per_s_all": [r["per_s"] for r in rates],
        }
        ratio = floor_per_s / measured["per_s"]
        rivals: dict[str, float] = {}
        runs: tuple[tuple[Storage, int], ...] = (("memory", evaluations), ("sqlite", sqlite_trials))
        for storage, trials in runs:
            walls = sorted(
                optuna_wall_s(
                    "random", storage=storage, trials=trials, jobs=workers, objective="noop"
                )
                for _ in range(rival_repeats)
            )
            rivals[f"optuna_{storage}_per_s"] = trials / walls[len(walls) // 2]
        rows[str(workers)] = {
            **measured,
            "floor_per_s": floor_per_s,
            "per_eval_ms": 1e3 / measured["per_s"],
            "floor_per_eval_ms": 1e3 / floor_per_s,
            "floor_ratio": ratio,
            "meets_rate": measured["per_s"] >= TARGET_PER_S,
            "meets_floor_ratio": ratio <= TARGET_FLOOR_RATIO,
            **rivals,
            "ours_vs_optuna_memory": measured["per_s"] / rivals["optuna_memory_per_s"],
            "ours_vs_optuna_sqlite": measured["per_s"] / rivals["optuna_sqlite_per_s"],
        }
    return {
        "evaluations": evaluations,
        "engine": "random",
        "repeats": repeats,
        "target_per_s": TARGET_PER_S,
        "target_floor_ratio": TARGET_FLOOR_RATIO,
        "optuna_sqlite_trials": sqlite_trials,
        "rival_repeats": rival_repeats,
        "by_workers": rows,
    }


def run(
    *,
    worker_counts: Sequence[int] = WORKER_COUNTS,
    evaluations: int = EVALUATIONS,
    repeats: int = REPEATS,
    rival_repeats: int = 1,
    sqlite_trials: int = OPTUNA_SQLITE_TRIALS,
) -> dict[str, Any]:
    """Evaluations/s (median run), the floor ratio and Optuna's rates per worker count."""
    result: dict[str, Any] = anyio.run(
        lambda: measure(
            worker_counts=worker_counts,
            evaluations=evaluations,
            repeats=repeats,
            rival_repeats=rival_repeats,
            sqlite_trials=sqlite_trials,
        )
    )
    return result


def table(result: dict[str, Any]) -> str:
    rows = [
        [
            workers,
            r["per_s"],
            ", ".join(f"{x:,.0f}" for x in r["per_s_all"]),
            r["per_eval_ms"],
            r["floor_per_s"],
            r["floor_per_eval_ms"],
            r["floor_ratio"],
            r["meets_rate"],
            r["meets_floor_ratio"],
        ]
        for workers, r in result["by_workers"].items()
    ]
    headers = [
        "workers",
        "evals/s (median)",
        "all runs",
        "ms / eval",
        "floor cycles/s",
        "floor ms / cycle",
        "floor / measured",
        f"≥ {result['target_per_s']:,.0f}/s",
        f"≤ {result['target_floor_ratio']}x floor",
    ]
    note = (
        f"\n\n{result['evaluations']} no-op evaluations per run, median of "
        f"{result['repeats']} runs (floor: median too), `random` engine, SQLite file; "
        "floor = two loopback round trips to a bare `{}` server per evaluation, same concurrency."
    )
    return markdown_table(headers, rows) + note + "\n\n" + rivals_table(result)


def rivals_table(result: dict[str, Any]) -> str:
    rows = [
        [
            workers,
            r["per_s"],
            r["optuna_memory_per_s"],
            r["ours_vs_optuna_memory"],
            r["optuna_sqlite_per_s"],
            r["ours_vs_optuna_sqlite"],
            r["floor_per_s"],
        ]
        for workers, r in result["by_workers"].items()
    ]
    headers = [
        "workers",
        "ours evals/s (SQLite, HTTP)",
        "Optuna in memory",
        "ours / Optuna memory",
        "Optuna SQLite",
        "ours / Optuna SQLite",
        "HTTP floor cycles/s",
    ]
    note = (
        "\n\nOptuna: `study.optimize(noop, n_jobs=workers)`, `RandomSampler`, the same 4 "
        f"parameters; {result['evaluations']} trials in memory, "
        f"{result.get('optuna_sqlite_trials', '')} on SQLite, median of "
        f"{result.get('rival_repeats', 1)} run(s). Above 1 in a ratio column: we are faster."
    )
    return markdown_table(headers, rows) + note


def main() -> None:
    quiet_logging()
    print(table(run()))


if __name__ == "__main__":
    main()
