"""`make bench`: run the benchmark suite, print a markdown table per benchmark, save JSON.

```
python -m benchmarks                      # the quick suite (a few minutes at most)
python -m benchmarks --only overhead      # one benchmark
python -m benchmarks --full               # more seeds and repeats, Ray Tune (~15 min)
```
Each benchmark's numbers go to `benchmarks/results/<name>.json` (git-ignored); then
`benchmarks/results/README.md` (every table) and `benchmarks/results/*.png` (plots, with
the `bench` extra's matplotlib) are rebuilt from all the JSON files present, so a run
with `--only` refreshes its own section and keeps the others. Speed and memory targets
live here, never in the tests: a missed target is reported in the table, and the exit
status stays 0 unless a benchmark itself fails.
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
    base = next(iter(result["random"].values()))  # the smallest size (int keys or, from JSON, str)
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
        "Utilization vs Optuna and Ray Tune (16 workers, 0.1 s evaluations)",
        "benchmarks.utilization",
        _module_table("benchmarks.utilization"),
        {},
        {"rival_repeats": 3, "with_ray": True},
    ),
    Benchmark(
        "overhead",
        "Overhead vs Optuna and the HTTP floor (no-op evaluations)",
        "benchmarks.overhead",
        _module_table("benchmarks.overhead"),
        {},
        {"rival_repeats": 3, "sqlite_trials": 300},
    ),
    Benchmark(
        "subprocess_workers",
        "Subprocess workers vs plain asyncio subprocesses (8 workers, 200 evaluations)",
        "benchmarks.subprocess_workers",
        _module_table("benchmarks.subprocess_workers"),
        {},
        {"repeats": 5},
    ),
    Benchmark(
        "dask_overhead",
        "Dask workers vs LocalCluster + client.submit (2 Dask workers, 100 evaluations)",
        "benchmarks.dask_overhead",
        _module_table("benchmarks.dask_overhead"),
        {},
        {"repeats": 5},
    ),
    Benchmark(
        "scale",
        "Scale: cycle cost and service memory up to 10,000 observations",
        "benchmarks.scale",
        _module_table("benchmarks.scale"),
        {"full": False},
        {"full": True},
    ),
    # Starts its own PostgreSQL server; ~1.5 min quick on 2 cores, ~5 min with --full.
    Benchmark(
        "postgres",
        "PostgreSQL store vs SQLite and Optuna's RDB storage (same server, one run)",
        "benchmarks.postgres",
        _module_table("benchmarks.postgres"),
        {},
        {"full": True},
    ),
    Benchmark(
        "pages", "Analysis page load", "benchmarks.pages", _module_table("benchmarks.pages"), {}, {}
    ),
    # Seeds run in a process per core: ~20 s quick (10 seeds), ~2 min with --full (20);
    # with torch installed the GP rows add ~12 min to a full run on 2 cores.
    Benchmark(
        "quality",
        "Answer quality: ours vs Optuna and random search (10 functions)",
        "benchmarks.quality",
        _module_table("benchmarks.quality"),
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


def write_report(results_dir: Path = RESULTS_DIR) -> Path:
    """`results/README.md` from every saved result, plus the plots; returns its path."""
    from benchmarks.plots import matplotlib_status, plot_all

    pngs = {p.stem for p in plot_all(results_dir)}
    sections = [
        "# Benchmark results\n",
        "Generated by `make bench` (quick) or `make bench-full` from "
        "`benchmarks/results/*.json`; every figure is also given as a ratio to a baseline "
        "measured in the same run on the same machine. Reproduce with "
        "`python -m benchmarks [--full] [--only NAME]`.\n",
    ]
    if (status := matplotlib_status()) is not None:
        sections.append(f"_{status}_\n")
    for benchmark in BENCHMARKS:
        path = results_dir / f"{benchmark.name}.json"
        if not path.exists():
            continue
        payload = json.loads(path.read_text())
        env = payload["environment"]
        try:
            body = benchmark.table(payload["result"])
        except (KeyError, TypeError):
            body = "_saved by an older version of the suite: re-run this benchmark_"
        plot = f"\n\n![{benchmark.name}]({benchmark.name}.png)" if benchmark.name in pngs else ""
        sections.append(
            f"## {benchmark.title}\n\n{body}{plot}\n\n_{payload['mode']} run, "
            f"{payload['elapsed_s']:.0f} s, {env['timestamp']}, Python {env['python']}, "
            f"{env['cpus']} CPUs, {env['platform']}_\n"
        )
    readme = results_dir / "README.md"
    readme.write_text("\n".join(sections))
    return readme


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--only", choices=NAMES, action="append", help="run only this benchmark (repeatable)"
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="the long versions (more seeds and repeats, Ray Tune where installed)",
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
    readme = write_report()
    shown = readme.relative_to(Path.cwd()) if readme.is_relative_to(Path.cwd()) else readme
    print(f"_Suite: {time.perf_counter() - start:.1f} s; tables and plots in {shown}_")
    return 0


if __name__ == "__main__":
    sys.exit(main())
