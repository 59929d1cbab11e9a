"""Shared pieces of the benchmark suite: quiet logging, percentiles, the experiment body,
a timing `ServiceClient`, one timed coordinator run, and markdown tables.

Every benchmark reports its figures next to a baseline measured in the same process, so
the ratios hold across machines even when the absolute numbers do not.
"""

from __future__ import annotations

import logging
import os
import statistics
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import structlog

from benchmarks.engine_latency import _parameters as latency_parameters
from orchestrator.client import ServiceClient
from orchestrator.coordinator import Coordinator, CoordinatorSettings, ExitReason
from orchestrator.embedded import embedded_service
from orchestrator.transport import AiohttpTransport, TransportResponse
from workers.base import Worker

#: The suite's experiments share engine_latency's 4-parameter space (double, log double,
#: int, categorical), so the engine costs seen over HTTP compare with the in-memory ones.
METRIC = "value"


def quiet_logging() -> None:
    """Warnings and up only: per-event debug/info logging is not what we measure."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (`q` in [0, 1]) of a non-empty sample."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarize_ms(samples_s: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/mean in milliseconds of durations given in seconds, and how many."""
    ms = [s * 1e3 for s in samples_s]
    return {
        "count": float(len(ms)),
        "p50_ms": statistics.median(ms),
        "p95_ms": percentile(ms, 0.95),
        "p99_ms": percentile(ms, 0.99),
        "mean_ms": statistics.fmean(ms),
    }


def experiment_body(
    engine_type: str, *, budget: int, parallel_bandwidth: int = 1, name: str = "bench"
) -> dict[str, Any]:
    """The body of `POST /experiments` for a one-metric minimization experiment."""
    return {
        "name": name,
        "type": engine_type,
        "parameters": latency_parameters(engine_type),
        "metrics": [{"name": METRIC, "objective": "minimize"}],
        "observation_budget": budget,
        "parallel_bandwidth": parallel_bandwidth,
    }


@contextmanager
def temp_db(prefix: str) -> Iterator[Path]:
    """A fresh SQLite path in a temporary folder, removed afterwards."""
    with TemporaryDirectory(prefix=f"bench-{prefix}-") as folder:
        yield Path(folder) / "service.db"


class TimedTransport(AiohttpTransport):
    """The client's transport, recording how long each request that asks for a suggestion
    (`POST .../suggestions`) and each report (`POST .../observations`, most often bringing
    the next suggestion too) took, in seconds, so a slow run can be blamed on a phase.
    Timed here, below the client, so it follows whatever calls the client makes."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.suggest_s: list[float] = []
        self.report_s: list[float] = []

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> TransportResponse:
        start = time.perf_counter()
        try:
            return await super().request(method, path, params=params, json=json)
        finally:
            if method == "POST" and path.endswith("/suggestions"):
                self.suggest_s.append(time.perf_counter() - start)
            elif method == "POST" and path.endswith("/observations"):
                self.report_s.append(time.perf_counter() - start)


class TimedClient(ServiceClient):
    """A `ServiceClient` on a `TimedTransport` (`timings`), which it closes with itself."""

    def __init__(self, base_url: str) -> None:
        self.timings = TimedTransport(base_url)
        super().__init__(base_url, transport=self.timings)

    async def aclose(self) -> None:
        await super().aclose()
        await self.timings.aclose()


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table; floats get 3 significant decimals."""

    def cell(value: object) -> str:
        if isinstance(value, bool):
            return "yes" if value else "**NO**"
        if isinstance(value, float):
            if value == 0 or abs(value) >= 100:
                return f"{value:,.0f}"
            return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
        return str(value)

    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


async def timed_coordinator_run(
    worker: Worker,
    *,
    engine_type: str,
    evaluations: int,
    workers: int,
    db_prefix: str,
    evaluation_folders: bool = False,
) -> tuple[float, TimedClient]:
    """Wall time of one `Coordinator.run` to the budget against the embedded service (a
    child process, SQLite), as `orchestrator run` wires it; the worker is closed after.
    `evaluation_folders`: a run folder, so every evaluation gets its own kept folder, as
    `orchestrator run` does (without: a library run, no files kept)."""
    with temp_db(db_prefix) as db:
        run_dir = db.parent / "run" if evaluation_folders else None
        async with embedded_service(db) as url, TimedClient(url) as client:
            experiment = await client.create_experiment(
                experiment_body(engine_type, budget=evaluations, parallel_bandwidth=workers)
            )
            coordinator = Coordinator(
                client,
                worker,
                experiment_id=experiment.id,
                settings=CoordinatorSettings(workers=workers, run_id="bench", run_dir=run_dir),
            )
            try:
                start = time.perf_counter()
                summary = await coordinator.run()
                wall_s = time.perf_counter() - start
            finally:
                await worker.aclose()
        if (
            summary.reason is not ExitReason.BUDGET_REACHED
            or summary.stats.completed != evaluations
        ):
            raise RuntimeError(f"benchmark run did not complete: {summary!r}")
        # What a run with folders pays for must be there: one kept folder per evaluation.
        if (
            run_dir is not None
            and (kept := len(os.listdir(run_dir / "evaluations"))) != evaluations
        ):
            raise RuntimeError(f"{evaluations} evaluations kept {kept} evaluation folders")
    return wall_s, client
