"""`make bench`: run the benchmark suite, print a markdown table per benchmark, save JSON.

```
python -m benchmarks                      # the quick suite (a few minutes at most)
python -m benchmarks --only overhead      # one benchmark
python -m benchmarks --full               # quality with more seeds
```
Each benchmark's numbers go to `benchmarks/results/<name>.json` (git-ignored). Speed and
memory targets live here, never in the tests: a missed target is reported in the
table, and the exit status stays 0 unless a benchmark itself fails.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.common import markdown_table, quiet_logging

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _engine_latency_table(result: dict[str, Any]) -> str:
    base = result["random"][100]
    rows = [
        [
            engine_type,
            n,
            r["rebuild_ms"],
            r["suggest_p50_ms"],
            r["suggest_p95_ms"],
            r["cycle_p50_ms"],
            r["cycle_p95_ms"],
            r["cycle_p50_ms"] / base["cycle_p50_ms"],
        ]
        for engine_type, by_size in result.items()
        for n, r in by_size.items()
    ]
    headers = [
        "engine",
        "observations",
        "rebuild ms",
        "suggest p50 ms",
        "suggest p95 ms",
        "cycle p50 ms",
        "cycle p95 ms",
        "cycle p50 / random@100",
    ]
    note = (
        "\n\nIn-memory store, no HTTP; baseline: the `random` engine's cycle at 100 "
        "observations, same run."
    )
    return markdown_table(headers, rows) + note


def _quality_table(result: dict[str, Any]) -> str:
    rows = []
    for name, case in result.items():
        baseline = case["engines"]["random"]["regret"]
        for engine_type, r in case["engines"].items():
            rows.append(
                [
                    name,
                    case["budget"],
                    case["seeds"],
                    engine_type,
                    r["median_best"],
                    r["regret"],
                    r["regret"] / baseline if baseline else float("nan"),
                    case["p"],
                ]
            )
    headers = [
        "function",
        "budget",
        "seeds",
        "engine",
        "median best",
        "regret",
        "regret / random",
        "p (offline < random)",
    ]
    return markdown_table(headers, rows) + "\n\nBaseline: random search, same seeds."


def _module_table(module_name: str) -> Callable[[dict[str, Any]], str]:
    def render(result: dict[str, Any]) -> str:
        table: Callable[[dict[str, Any]], str] = importlib.import_module(module_name).table
        return table(result)

    return render


@dataclass(frozen=True)
class Benchmark:
    name: str
    title: str
    module: str
    table: Callable[[dict[str, Any]], str]
    #: Keyword arguments of `run()` by mode.
    quick_kwargs: dict[str, Any]
    full_kwargs: dict[str, Any]


BENCHMARKS = (
    Benchmark(
        "engine_latency",
        "Engine latency (in memory)",
        "benchmarks.engine_latency",
        _engine_latency_table,
        {},
        {},
    ),
    Benchmark(
        "service_cycle",
        "Service cost per suggest + observe cycle (loopback, SQLite)",
        "benchmarks.service_cycle",
        _module_table("benchmarks.service_cycle"),
        {},
        {},
    ),
    Benchmark(
        "utilization",
        "Coordinator utilization (16 workers, 0.1 s evaluations)",
        "benchmarks.utilization",
        _module_table("benchmarks.utilization"),
        {},
        {},
    ),
    Benchmark(
        "overhead",
        "Coordinator overhead (no-op evaluations)",
        "benchmarks.overhead",
        _module_table("benchmarks.overhead"),
        {},
        {},
    ),
    # A few seconds with the default seeds, so the quick suite keeps it; --full adds seeds.
    Benchmark(
        "quality",
        "Optimization quality (offline engine vs random search)",
        "benchmarks.quality",
        _quality_table,
        {"full": False},
        {"full": True},
    ),
)
NAMES = tuple(b.name for b in BENCHMARKS)


def _environment() -> dict[str, Any]:
    import os

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def run_one(benchmark: Benchmark, *, full: bool) -> str:
    """Run one benchmark, save its JSON, return its markdown section."""
    kwargs = benchmark.full_kwargs if full else benchmark.quick_kwargs
    start = time.perf_counter()
    run: Callable[..., dict[str, Any]] = importlib.import_module(benchmark.module).run
    result = run(**kwargs)
    elapsed_s = time.perf_counter() - start
    RESULTS_DIR.mkdir(exist_ok=True)
    payload = {
        "benchmark": benchmark.name,
        "mode": "full" if full else "quick",
        "elapsed_s": elapsed_s,
        "environment": _environment(),
        "result": result,
    }
    path = RESULTS_DIR / f"{benchmark.name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
    footer = f"_{elapsed_s:.1f} s; saved to {shown}_"
    return f"## {benchmark.title}\n\n{benchmark.table(result)}\n\n{footer}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--only", choices=NAMES, action="append", help="run only this benchmark (repeatable)"
    )
    parser.add_argument(
        "--full", action="store_true", help="the long versions (more quality seeds)"
    )
    args = parser.parse_args(argv)
    quiet_logging()
    selected = [b for b in BENCHMARKS if not args.only or b.name in args.only]
    env = _environment()
    print(
        f"# Benchmarks ({env['timestamp']}, Python {env['python']}, {env['cpus']} CPUs)\n",
        flush=True,
    )
    start = time.perf_counter()
    for benchmark in selected:
        print(run_one(benchmark, full=args.full), flush=True)
    print(f"_Suite: {time.perf_counter() - start:.1f} s_")
    return 0


if __name__ == "__main__":
    sys.exit(main())
