"""The service's own cost per suggest + observe cycle, on loopback, against the HTTP floor.

A `random` experiment lives in the embedded service (`running_service`, a real SQLite
file in a temporary folder); one client reuses one aiohttp session and runs cycles
one after another: `suggest`, then `observe` of that suggestion. Three series, each
after a warm-up, all in this process:

- `client`: through `ServiceClient`, as the coordinator calls it (target p50 < 2 ms);
- `raw`: the same two requests on a bare `aiohttp.ClientSession`, so the difference
  to `client` is the client's own cost (retry wrapper, pydantic parsing);
- `floor`: two round trips to a bare server answering `{}` (`http_floor`).

`python -m benchmarks.service_cycle` prints the table; `run()` returns the numbers.
"""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp
import anyio

from benchmarks.common import (
    METRIC,
    experiment_body,
    markdown_table,
    quiet_logging,
    summarize_ms,
    temp_db,
)
from benchmarks.http_floor import bare_server, floor_cycles
from orchestrator.client import ServiceClient
from sigopt_service.config import ServiceConfig
from sigopt_service.http import running_service
from sigopt_service.models import MetricEvaluation

CYCLES = 2000
WARMUP = 200
TARGET_P50_MS = 2.0
_METADATA = {"run_id": "bench", "worker_slot": 0, "host": "bench"}


async def _client_cycles(url: str, *, cycles: int, warmup: int) -> dict[str, list[float]]:
    """Seconds per cycle, per suggest and per observe, through `ServiceClient`."""
    series: dict[str, list[float]] = {"cycle": [], "suggest": [], "observe": []}
    async with ServiceClient(url) as client:
        experiment = await client.create_experiment(
            experiment_body("random", budget=cycles + warmup)
        )
        eid = experiment.id
        for i in range(warmup + cycles):
            start = time.perf_counter()
            suggestion = await client.suggest(eid, metadata=_METADATA)
            suggested = time.perf_counter()
            await client.observe(
                eid,
                suggestion.id,
                values=[MetricEvaluation(name=METRIC, value=float(i))],
                metadata={**_METADATA, "duration_s": 0.0, "attempt": 1},
            )
            done = time.perf_counter()
            if i >= warmup:
                series["cycle"].append(done - start)
                series["suggest"].append(suggested - start)
                series["observe"].append(done - suggested)
    return series


async def _raw_cycles(url: str, *, cycles: int, warmup: int) -> list[float]:
    """Seconds per cycle with the same requests on a bare aiohttp session."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    samples: list[float] = []
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.post(
            f"{url}/v1/experiments",
            data=json.dumps(experiment_body("random", budget=cycles + warmup)),
        ) as resp:
            eid = json.loads(await resp.text())["id"]
        suggest_body = json.dumps({"metadata": _METADATA})
        for i in range(warmup + cycles):
            start = time.perf_counter()
            async with session.post(
                f"{url}/v1/experiments/{eid}/suggestions", data=suggest_body
            ) as resp:
                sid = json.loads(await resp.text())["id"]
            observation = {
                "suggestion": sid,
                "values": [{"name": METRIC, "value": float(i)}],
                "metadata": {**_METADATA, "duration_s": 0.0, "attempt": 1},
            }
            async with session.post(
                f"{url}/v1/experiments/{eid}/observations", data=json.dumps(observation)
            ) as resp:
                json.loads(await resp.text())
            if i >= warmup:
                samples.append(time.perf_counter() - start)
    return samples


async def measure(*, cycles: int = CYCLES, warmup: int = WARMUP) -> dict[str, Any]:
    async with bare_server() as floor_url:
        floor = summarize_ms(await floor_cycles(floor_url, cycles=cycles, warmup=warmup))
    # A fresh database per series: a fuller file (and its WAL checkpoints) must not
    # handicap whichever series runs second.
    with temp_db("cycle") as db:
        async with running_service(ServiceConfig(port=0, db=db)) as url:
            client = await _client_cycles(url, cycles=cycles, warmup=warmup)
    with temp_db("cycle-raw") as db:
        async with running_service(ServiceConfig(port=0, db=db)) as url:
            raw = summarize_ms(await _raw_cycles(url, cycles=cycles, warmup=warmup))
    cycle = summarize_ms(client["cycle"])
    return {
        "cycles": cycles,
        "warmup": warmup,
        "engine": "random",
        "storage": "sqlite file",
        "client_cycle": cycle,
        "client_suggest": summarize_ms(client["suggest"]),
        "client_observe": summarize_ms(client["observe"]),
        "raw_cycle": raw,
        "floor_cycle": floor,
        "ratio_p50_client_vs_floor": cycle["p50_ms"] / floor["p50_ms"],
        "ratio_p95_client_vs_floor": cycle["p95_ms"] / floor["p95_ms"],
        "ratio_p50_raw_vs_floor": raw["p50_ms"] / floor["p50_ms"],
        "target_p50_ms": TARGET_P50_MS,
        "meets_target": cycle["p50_ms"] < TARGET_P50_MS,
    }


def run(*, cycles: int = CYCLES, warmup: int = WARMUP) -> dict[str, Any]:
    """Milliseconds per cycle and ratios to the HTTP floor (see the module docstring)."""
    result: dict[str, Any] = anyio.run(lambda: measure(cycles=cycles, warmup=warmup))
    return result


def table(result: dict[str, Any]) -> str:
    floor = result["floor_cycle"]
    rows: list[list[object]] = []
    for label, key in (
        ("suggest + observe, ServiceClient", "client_cycle"),
        ("  suggest only", "client_suggest"),
        ("  observe only", "client_observe"),
        ("suggest + observe, bare aiohttp session", "raw_cycle"),
        ("HTTP floor: 2 round trips to a `{}` server", "floor_cycle"),
    ):
        r = result[key]
        rows.append(
            [
                label,
                r["p50_ms"],
                r["p95_ms"],
                r["p99_ms"],
                r["p50_ms"] / floor["p50_ms"],
                r["p95_ms"] / floor["p95_ms"],
            ]
        )
    note = (
        f"\n\n{result['cycles']} cycles after {result['warmup']} warm-up, `random` engine, "
        f"SQLite file. Target: ServiceClient cycle p50 < {result['target_p50_ms']} ms: "
        f"{'met' if result['meets_target'] else '**missed**'}."
    )
    headers = ["series", "p50 ms", "p95 ms", "p99 ms", "p50 / floor", "p95 / floor"]
    return markdown_table(headers, rows) + note


def main() -> None:
    quiet_logging()
    print(table(run()))


if __name__ == "__main__":
    main()
