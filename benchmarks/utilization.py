"""Coordinator utilization: how much of the wall time the workers spend evaluating.

16 workers, 400 evaluations of 0.1 s each (`benchmarks.objectives:sleep_100ms`, an async
sleep), driven by `Coordinator` through a `ServiceClient` against the embedded service
(`embedded_service`: `python -m sigopt_service` as a child process, SQLite file), as
`orchestrator.runner` wires them.
Once with the default `offline` engine (TPE) and once with `random`.

    utilization = ideal wall time (400 * 0.1 s / 16) / measured wall time    (target >= 0.97)

The same workload run by the tools users would pick instead (`benchmarks.rivals`):
Optuna `study.optimize(n_jobs=16)` with its default sampler for each of our engines (TPE,
random), in memory and on a SQLite file, and Ray Tune (`max_concurrent_trials=16`,
`--full` only: it needs about a minute per 100 trials on a 2-core machine) where it
imports. Each row also gives its wall time over ours (`offline` for TPE rows, `random`
for random rows): above 1 means the rival is slower.

Two baselines, measured in this process:

- sleep only: 16 tasks each awaiting 25 sleeps of 0.1 s, no orchestration at all: what
  the event loop's timers alone cost;
- HTTP floor: the same tasks, each sleep preceded by two loopback round trips to a bare
  `{}` server (`http_floor`): the least any HTTP-driven suggest/observe loop can cost.
  Equal sleeps keep the 16 slots in lock-step, so every round all of them queue on the
  one event loop at once; even this floor loses a few percent.

`python -m benchmarks.utilization` prints the table; `run()` returns the numbers.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import aiohttp
import anyio

from benchmarks.common import (
    markdown_table,
    quiet_logging,
    summarize_ms,
    timed_coordinator_run,
)
from benchmarks.http_floor import HEADERS, bare_server
from benchmarks.http_floor import cycle as floor_cycle
from benchmarks.objectives import EVALUATION_S
from benchmarks.rivals import Sampler, Storage, optuna_wall_s, ray_status, ray_wall_s
from workers.async_function import AsyncFunctionWorker

WORKERS = 16
EVALUATIONS = 400
ENGINES = ("offline", "random")
TARGET_UTILIZATION = 0.97
OBJECTIVE = "benchmarks.objectives:sleep_100ms"
REPEATS = 3


def ideal_wall_s(evaluations: int = EVALUATIONS, workers: int = WORKERS) -> float:
    return evaluations * EVALUATION_S / workers


async def sleep_only_wall_s(evaluations: int = EVALUATIONS, workers: int = WORKERS) -> float:
    """The baseline: the same sleeps on `workers` tasks, nothing else."""
    remaining = evaluations

    async def slot() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await anyio.sleep(EVALUATION_S)

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(workers):
            tg.start_soon(slot)
    return time.perf_counter() - start


async def http_floor_wall_s(evaluations: int = EVALUATIONS, workers: int = WORKERS) -> float:
    """The HTTP-floor baseline: two bare round trips, then the sleep, on `workers` tasks."""
    remaining = evaluations
    async with bare_server() as url:
        target = f"{url}/v1/floor"
        async with aiohttp.ClientSession(headers=HEADERS) as session:

            async def slot() -> None:
                nonlocal remaining
                while remaining > 0:
                    remaining -= 1
                    await floor_cycle(session, target)
                    await anyio.sleep(EVALUATION_S)

            start = time.perf_counter()
            async with anyio.create_task_group() as tg:
                for _ in range(workers):
                    tg.start_soon(slot)
            return time.perf_counter() - start


async def coordinated_run(
    engine_type: str, *, evaluations: int = EVALUATIONS, workers: int = WORKERS
) -> dict[str, Any]:
    """One full run through the coordinator; wall time covers `Coordinator.run` only."""
    wall_s, client = await timed_coordinator_run(
        AsyncFunctionWorker(OBJECTIVE),
        engine_type=engine_type,
        evaluations=evaluations,
        workers=workers,
        db_prefix=f"util-{engine_type}",
    )
    ideal = ideal_wall_s(evaluations, workers)
    return {
        "engine": engine_type,
        "wall_s": wall_s,
        "ideal_s": ideal,
        "utilization": ideal / wall_s,
        "suggest": summarize_ms(client.timings.suggest_s),
        # Most reports bring the slot's next suggestion in the same request.
        "report": summarize_ms(client.timings.report_s),
    }


def rival_runs(
    *, evaluations: int, workers: int, repeats: int, with_ray: bool
) -> dict[str, dict[str, Any]]:
    """Optuna (and Ray Tune) on the same workload; wall time is the median of `repeats`."""
    ideal = ideal_wall_s(evaluations, workers)
    rows: dict[str, dict[str, Any]] = {}
    pairs: tuple[tuple[Sampler, str], ...] = (("tpe", "offline"), ("random", "random"))
    storages: tuple[Storage, ...] = ("memory", "sqlite")
    for sampler, ours in pairs:
        for storage in storages:
            walls = sorted(
                optuna_wall_s(
                    sampler, storage=storage, trials=evaluations, jobs=workers, objective="sleep"
                )
                for _ in range(repeats)
            )
            wall_s = walls[len(walls) // 2]
            rows[f"optuna {sampler}, {storage}"] = {
                "wall_s": wall_s,
                "utilization": ideal / wall_s,
                "utilization_all": [ideal / w for w in walls],
                "compare_to": ours,
            }
    status = ray_status()
    if status is None and not with_ray:
        status = "skipped in the quick run (`--full` runs it)"
    if status is None:
        try:
            ray = ray_wall_s(evaluations, workers)
            rows["ray tune, random"] = {
                "wall_s": ray["wall_s"],
                "utilization": ideal / ray["wall_s"],
                "utilization_all": [ideal / ray["wall_s"]],
                "compare_to": "random",
                "init_s": ray["init_s"],
                "version": ray["version"],
            }
        except (RuntimeError, OSError, ValueError) as exc:
            status = f"failed: {exc}"[:300]
    if status is not None:
        rows["ray tune, random"] = {"status": status, "compare_to": "random"}
    return rows


async def measure(
    *,
    evaluations: int = EVALUATIONS,
    workers: int = WORKERS,
    repeats: int = REPEATS,
    rival_repeats: int = 1,
    with_ray: bool = False,
) -> dict[str, Any]:
    ideal = ideal_wall_s(evaluations, workers)
    # Medians of `repeats` runs each: a single 2.5 s run moves by a few percent with
    # whatever else the machine does.
    baseline_s = statistics.median(
        [await sleep_only_wall_s(evaluations, workers) for _ in range(repeats)]
    )
    floor_s = statistics.median(
        [await http_floor_wall_s(evaluations, workers) for _ in range(repeats)]
    )
    runs: dict[str, dict[str, Any]] = {}
    for engine_type in ENGINES:
        tries = [
            await coordinated_run(engine_type, evaluations=evaluations, workers=workers)
            for _ in range(repeats)
        ]
        tries.sort(key=lambda r: r["wall_s"])
        median = tries[len(tries) // 2]
        median["utilization_all"] = [r["utilization"] for r in tries]
        runs[engine_type] = median
    for r in runs.values():
        r["ratio_vs_sleep_only"] = r["wall_s"] / baseline_s
        r["ratio_vs_http_floor"] = r["wall_s"] / floor_s
        r["meets_target"] = r["utilization"] >= TARGET_UTILIZATION
    # Synchronous on purpose: Optuna's threads and Ray's child process own the machine
    # while they run, as our coordinator did during its own runs.
    rivals = rival_runs(
        evaluations=evaluations, workers=workers, repeats=rival_repeats, with_ray=with_ray
    )
    for r in rivals.values():
        if "wall_s" in r:
            r["ratio_vs_ours"] = r["wall_s"] / runs[r["compare_to"]]["wall_s"]
            r["ratio_vs_sleep_only"] = r["wall_s"] / baseline_s
    for engine_type, r in runs.items():
        r["leads_rivals"] = all(
            r["wall_s"] <= x["wall_s"]
            for x in rivals.values()
            if "wall_s" in x and x["compare_to"] == engine_type
        )
    return {
        "workers": workers,
        "evaluations": evaluations,
        "evaluation_s": EVALUATION_S,
        "repeats": repeats,
        "ideal_s": ideal,
        "sleep_only_s": baseline_s,
        "sleep_only_utilization": ideal / baseline_s,
        "http_floor_s": floor_s,
        "http_floor_utilization": ideal / floor_s,
        "target_utilization": TARGET_UTILIZATION,
        "runs": runs,
        "rival_repeats": rival_repeats,
        "rivals": rivals,
    }


def run(
    *,
    evaluations: int = EVALUATIONS,
    workers: int = WORKERS,
    repeats: int = REPEATS,
    rival_repeats: int = 1,
    with_ray: bool = False,
) -> dict[str, Any]:
    """Wall times (s), utilizations and per-call latencies (ms) per engine and rival."""
    result: dict[str, Any] = anyio.run(
        lambda: measure(
            evaluations=evaluations,
            workers=workers,
            repeats=repeats,
            rival_repeats=rival_repeats,
            with_ray=with_ray,
        )
    )
    return result


def table(result: dict[str, Any]) -> str:
    blank = ["", "", "", ""]
    rows: list[list[object]] = [
        [
            "baseline: sleep only",
            result["sleep_only_s"],
            result["sleep_only_utilization"],
            1.0,
            result["sleep_only_s"] / result["http_floor_s"],
            *blank,
            result["sleep_only_utilization"] >= result["target_utilization"],
        ],
        [
            "baseline: HTTP floor + sleep",
            result["http_floor_s"],
            result["http_floor_utilization"],
            result["http_floor_s"] / result["sleep_only_s"],
            1.0,
            *blank,
            result["http_floor_utilization"] >= result["target_utilization"],
        ],
    ]
    for engine_type, r in result["runs"].items():
        rows.append(
            [
                f"coordinator, `{engine_type}`",
                r["wall_s"],
                r["utilization"],
                r["ratio_vs_sleep_only"],
                r["ratio_vs_http_floor"],
                r["suggest"]["p50_ms"],
                r["suggest"]["p95_ms"],
                r["report"]["p50_ms"],
                r["report"]["p95_ms"],
                r["meets_target"],
            ]
        )
    headers = [
        "run",
        "wall s",
        "utilization",
        "wall / sleep-only",
        "wall / HTTP floor",
        "suggest p50 ms",
        "suggest p95 ms",
        "report (+ next) p50 ms",
        "report (+ next) p95 ms",
        f"≥ {result['target_utilization']}",
    ]
    note = (
        f"\n\n{result['workers']} workers, {result['evaluations']} evaluations of "
        f"{result['evaluation_s']} s, SQLite file; ideal wall {result['ideal_s']:.3f} s; "
        "utilization = ideal / wall. Median of "
        f"{result['repeats']} runs per row; utilization of every run: "
        + "; ".join(
            f"`{e}` " + ", ".join(f"{u:.3f}" for u in r["utilization_all"])
            for e, r in result["runs"].items()
        )
        + ". Latencies are as the coordinator saw them (under load); a report is one "
        "request that also brings the slot's next suggestion, so `suggest` counts only "
        "each slot's first."
    )
    return markdown_table(headers, rows) + note + "\n\n" + rivals_table(result)


def rivals_table(result: dict[str, Any]) -> str:
    """Ours against Optuna and Ray Tune on the same workload."""
    rows: list[list[object]] = []
    for engine_type, r in result["runs"].items():
        rows.append(
            [
                f"ours, `{engine_type}` (embedded service, SQLite)",
                r["wall_s"],
                r["utilization"],
                1.0,
                r["ratio_vs_sleep_only"],
                r["meets_target"] and r.get("leads_rivals", False),
            ]
        )
    for name, r in result.get("rivals", {}).items():
        if "wall_s" not in r:
            rows.append([name, r["status"], "", "", "", ""])
            continue
        rows.append(
            [
                name,
                r["wall_s"],
                r["utilization"],
                r["ratio_vs_ours"],
                r["ratio_vs_sleep_only"],
                "",
            ]
        )
    headers = [
        "tool",
        "wall s",
        "utilization",
        "wall / ours (same sampler)",
        "wall / sleep-only",
        f"ours ≥ {result['target_utilization']} and fastest",
    ]
    note = (
        f"\n\nSame {result['workers']} workers, {result['evaluations']} evaluations of "
        f"{result['evaluation_s']} s. Optuna: `study.optimize(n_jobs={result['workers']})`, "
        "threads sleeping 0.1 s, default `TPESampler`/`RandomSampler`, compared with our "
        "`offline`/`random` rows; median of "
        f"{result.get('rival_repeats', 1)} run(s). Ray Tune: `max_concurrent_trials` = "
        "workers, random search, 127.0.0.1, wall time of `Tuner.fit` (its `ray.init` apart)."
    )
    return markdown_table(headers, rows) + note


def main() -> None:
    quiet_logging()
    print(table(run()))


if __name__ == "__main__":
    main()
