"""Scale: the cost of one suggest + observe cycle as an experiment grows to 10,000 observations.

Per engine (`random`, `grid`, `offline` = TPE) the service runs in its own process
(`python -m sigopt_service`, SQLite file in a temporary folder, 127.0.0.1), so its resident
memory (RSS, read with psutil) is its own. One experiment (the suite's 4 parameters) is
filled through `POST /observations/batch` (random points, 2,500 per request) to 100,
1,000 and 10,000 observations; at each level `ServiceClient` times sequential
`suggest` + `observe` cycles (the first suggest after each fill apart: for `offline` it
rebuilds or catches up the study). The cycles themselves add observations, so a level
means "at least N".

Targets: the `random` cycle flat within 2x from 100 to 10,000; TPE p50 < 20 ms at 1,000.
Baseline of every ratio: the same engine's p50 at 100 observations, same run.
`python -m benchmarks.scale` prints the table.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import aiohttp
import anyio
import anyio.to_thread
import psutil

from benchmarks.common import METRIC, experiment_body, markdown_table, quiet_logging, summarize_ms
from benchmarks.engine_latency import _value
from orchestrator.client import ServiceClient
from sigopt_service.engine import Space
from sigopt_service.models import MetricEvaluation
from tests.support.service_process import ServiceProcess

ENGINES = ("random", "grid", "offline")
LEVELS = (100, 1000, 10000)
BATCH = 2500
#: Timed cycles per level, by engine; TPE at 10,000 costs a good fraction of a second.
#: Cycles timed per engine: one count for every level, or one per level.
CyclePlan = dict[str, int | dict[int, int]]
QUICK_CYCLES: CyclePlan = {"random": 200, "grid": 100, "offline": {100: 40, 1000: 60, 10000: 5}}
FULL_CYCLES: CyclePlan = {
    "random": 500,
    "grid": 300,
    "offline": {100: 100, 1000: 100, 10000: 20},
}
TARGET_RANDOM_FLATNESS = 2.0
TARGET_TPE_P50_MS_AT_1000 = 20.0
_METADATA = {"run_id": "bench", "worker_slot": 0, "host": "bench"}


def rss_mb(process: psutil.Process) -> float:
    return float(process.memory_info().rss) / 2**20


async def _fill(
    session: aiohttp.ClientSession, url: str, eid: str, space: Space, rng: random.Random, n: int
) -> float:
    """Add `n` observations at random points through the batch endpoint; seconds taken."""
    start = time.perf_counter()
    while n > 0:
        size = min(n, BATCH)
        body = {
            "observations": [
                {"assignments": p, "values": [{"name": METRIC, "value": _value(p)}]}
                for p in (space.random_assignments(rng) for _ in range(size))
            ]
        }
        async with session.post(
            f"{url}/v1/experiments/{eid}/observations/batch", data=json.dumps(body)
        ) as resp:
            if resp.status != 200:
                raise RuntimeError(f"batch refused: {resp.status} {await resp.text()}")
            await resp.read()
        n -= size
    return time.perf_counter() - start


async def _cycles(client: ServiceClient, eid: str, cycles: int) -> dict[str, Any]:
    """The first cycle (timed apart), then `cycles` timed suggest + observe cycles."""
    series: dict[str, list[float]] = {"cycle": [], "suggest": [], "observe": []}
    first_s = 0.0
    for i in range(cycles + 1):
        start = time.perf_counter()
        suggestion = await client.suggest(eid, metadata=_METADATA)
        suggested = time.perf_counter()
        await client.observe(
            eid,
            suggestion.id,
            values=[MetricEvaluation(name=METRIC, value=_value(dict(suggestion.assignments)))],
            metadata=_METADATA,
        )
        done = time.perf_counter()
        if i == 0:
            first_s = done - start
            continue
        series["cycle"].append(done - start)
        series["suggest"].append(suggested - start)
        series["observe"].append(done - suggested)
    return {
        "first_cycle_ms": first_s * 1e3,
        "cycle": summarize_ms(series["cycle"]),
        "suggest": summarize_ms(series["suggest"]),
        "observe": summarize_ms(series["observe"]),
        "cycles": cycles,
    }


async def measure_engine(
    engine_type: str, *, levels: Sequence[int], cycles: dict[int, int]
) -> dict[str, Any]:
    with TemporaryDirectory(prefix=f"bench-scale-{engine_type}-") as folder:
        service = ServiceProcess(Path(folder) / "service.db", "--seed", "0")
        try:
            # Blocking (it reads the service's start-up lines): off the loop.
            await anyio.to_thread.run_sync(service.start)
            assert service.proc is not None
            process = psutil.Process(service.proc.pid)
            rss_start = rss_mb(process)
            by_level: dict[str, Any] = {}
            headers = {"Content-Type": "application/json", "Accept": "application/json"}
            async with (
                ServiceClient(service.url) as client,
                aiohttp.ClientSession(headers=headers) as session,
            ):
                experiment = await client.create_experiment(
                    experiment_body(engine_type, budget=10 * max(levels))
                )
                space = Space.from_parameters(experiment.parameters)
                rng = random.Random(0)
                count = 0
                for level in levels:
                    fill_s = await _fill(
                        session, service.url, experiment.id, space, rng, max(0, level - count)
                    )
                    count = max(count, level)
                    timed = await _cycles(client, experiment.id, cycles[level])
                    count += cycles[level] + 1
                    by_level[str(level)] = {
                        **timed,
                        "fill_s": fill_s,
                        "observations_after": count,
                        "rss_mb": rss_mb(process),
                    }
        finally:
            service.kill()
    return {"rss_start_mb": rss_start, "levels": by_level}


async def measure(*, levels: Sequence[int], full: bool) -> dict[str, Any]:
    plan = FULL_CYCLES if full else QUICK_CYCLES
    engines: dict[str, Any] = {}
    for engine_type in ENGINES:
        spec = plan[engine_type]
        cycles = (
            {lv: spec[lv] for lv in levels}
            if isinstance(spec, dict)
            else dict.fromkeys(levels, spec)
        )
        result = await measure_engine(engine_type, levels=levels, cycles=cycles)
        base = result["levels"][str(levels[0])]["cycle"]["p50_ms"]
        for r in result["levels"].values():
            r["p50_vs_first_level"] = r["cycle"]["p50_ms"] / base
        engines[engine_type] = result
    last, first = str(levels[-1]), str(levels[0])
    random_ratio = engines["random"]["levels"][last]["p50_vs_first_level"]
    tpe_1000 = engines["offline"]["levels"].get("1000", {}).get("cycle", {}).get("p50_ms")
    return {
        "levels": list(levels),
        "engines": engines,
        "random_flatness": random_ratio,
        "meets_random_flatness": random_ratio <= TARGET_RANDOM_FLATNESS,
        "tpe_p50_ms_at_1000": tpe_1000,
        "meets_tpe_target": tpe_1000 is not None and tpe_1000 < TARGET_TPE_P50_MS_AT_1000,
        "target_random_flatness": TARGET_RANDOM_FLATNESS,
        "target_tpe_p50_ms_at_1000": TARGET_TPE_P50_MS_AT_1000,
        "baseline": f"each engine's cycle p50 at {first} observations",
    }


def run(*, levels: Sequence[int] = LEVELS, full: bool = False) -> dict[str, Any]:
    """Cycle latencies (ms) and service RSS (MB) per engine and observation count."""
    result: dict[str, Any] = anyio.run(lambda: measure(levels=levels, full=full))
    return result


def table(result: dict[str, Any]) -> str:
    rows = []
    for engine_type, r in result["engines"].items():
        for level, x in r["levels"].items():
            rows.append(
                [
                    engine_type,
                    int(level),
                    x["cycles"],
                    x["cycle"]["p50_ms"],
                    x["cycle"]["p95_ms"],
                    x["suggest"]["p50_ms"],
                    x["observe"]["p50_ms"],
                    x["first_cycle_ms"],
                    x["p50_vs_first_level"],
                    x["fill_s"],
                    x["rss_mb"],
                ]
            )
    headers = [
        "engine",
        "observations",
        "cycles timed",
        "cycle p50 ms",
        "cycle p95 ms",
        "suggest p50 ms",
        "observe p50 ms",
        "first cycle ms",
        f"p50 / p50 at {result['levels'][0]}",
        "batch fill s",
        "service RSS MB",
    ]
    tpe = result["tpe_p50_ms_at_1000"]
    note = (
        "\n\nService in its own process (`python -m sigopt_service`, SQLite file), sequential "
        "cycles "
        "through `ServiceClient` on loopback. Targets: `random` p50 at "
        f"{result['levels'][-1]:,} within {result['target_random_flatness']}x of "
        f"{result['levels'][0]}: {result['random_flatness']:.2f}x, "
        f"{'met' if result['meets_random_flatness'] else '**missed**'}; TPE (`offline`) "
        f"p50 at 1,000 < {result['target_tpe_p50_ms_at_1000']:.0f} ms: "
        + (f"{tpe:.1f} ms, " if tpe is not None else "")
        + ("met" if result["meets_tpe_target"] else "**missed**")
        + ". RSS: resident memory of the service process after the level's cycles "
        "(random engine at start: "
        f"{result['engines']['random']['rss_start_mb']:.0f} MB)."
    )
    return markdown_table(headers, rows) + note


def main() -> None:
    quiet_logging()
    print(table(run(full="--full" in sys.argv)))


if __name__ == "__main__":
    main()
