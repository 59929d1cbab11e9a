"""The leak runs: one coordinator's fds, child processes and RSS sampled over many evaluations."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import psutil
import yaml

from benchmarks.soak.processes import (
    CoordinatorProcess,
    direct_client,
    experiment_body,
    free_port,
    kill_all,
    observed_count,
    processes_naming,
    start_service,
)
from benchmarks.soak.spec import LeakBounds, SoakReport


@dataclass(frozen=True)
class Sample:
    observed: int
    fds: int
    children: int
    rss_mb: float


def sample(proc: psutil.Process, observed: int) -> Sample | None:
    """None once the process is gone or exiting (a zombie has no fds and no memory)."""
    try:
        with proc.oneshot():
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return Sample(
                observed,
                proc.num_fds(),
                len(proc.children(recursive=True)),
                proc.memory_info().rss / 2**20,
            )
    except psutil.NoSuchProcess:
        return None


def leak_workers(bounds: LeakBounds) -> dict[str, Any]:
    workers: dict[str, Any] = {"kind": bounds.kind, "count": bounds.workers}
    if bounds.kind == "subprocess":
        # The cheapest command there is: what remains is the worker's own machinery
        # (process group, evaluation folder, log files, reaping).
        workers["command"] = ["/bin/echo", '{{"value": 1}}']  # braces doubled: literal
    else:
        workers["function"] = "benchmarks.soak_objectives:noop"
    return workers


async def run_leak(bounds: LeakBounds, folder: Path, *, say: Any = print) -> SoakReport:
    """One coordinator process, `bounds.evaluations` no-op evaluations, sampled: its open
    file descriptors, child processes (recursive) and RSS, four times a second."""
    report = SoakReport()
    folder.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before anything runs
    service = await anyio.to_thread.run_sync(start_service, folder / "leak.db", free_port(), 1)
    try:
        async with direct_client(service.url) as client:
            body = experiment_body(bounds.evaluations, bounds.workers)
            experiment_id = (await client.create_experiment(body)).id
        config = folder / "leak.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "service": {"url": service.url},
                    "workers": leak_workers(bounds),
                    "logging": {"format": "json", "level": "warning"},
                    "run": {"name": "leak", "dir": str(folder / "runs")},
                }
            )
        )
        coordinator = CoordinatorProcess(0, config, experiment_id, dict(os.environ), folder)
        say(f"leak: {bounds.evaluations} {bounds.kind} evaluations")
        started = time.monotonic()
        coordinator.start()
        assert coordinator.proc is not None
        assert service.proc is not None
        proc = psutil.Process(coordinator.proc.pid)
        service_proc = psutil.Process(service.proc.pid)
        samples: list[Sample] = []
        service_samples: list[Sample] = []
        while coordinator.poll() is None:
            count = await observed_count(service.url, experiment_id)
            point = sample(proc, count or 0)
            if point is not None:
                samples.append(point)
            point = sample(service_proc, count or 0)
            if point is not None:
                service_samples.append(point)
            await anyio.sleep(0.05)
        wall_s = time.monotonic() - started
        code = coordinator.poll()
        async with direct_client(service.url) as client:
            observed = len(await client.observations(experiment_id))
    finally:
        if service.proc is not None and service.proc.poll() is None:
            service.terminate()
    name = f"leak ({bounds.kind}, {bounds.workers} workers)"
    report.add(
        f"{name}: evaluations (exit code), time",
        f"{observed} ({code}), {wall_s:.1f} s",
        f"== {bounds.evaluations} (0)",
        observed == bounds.evaluations and code == 0,
    )
    # Past warm-up and before the last evaluation: shutdown closes connections and files.
    warm = [s for s in samples if bounds.warmup <= s.observed < bounds.evaluations]
    if len(warm) < 2:
        report.add(f"{name}: samples after warm-up", len(warm), ">= 2", False)
        return report
    # Open fds move with the evaluations running at the instant of a sample (a
    # subprocess holds a few while it runs), so growth compares the floors of the first
    # and last quarter of the run after warm-up: a leak raises the floor.
    quarter = max(1, len(warm) // 4)
    first_floor = min(s.fds for s in warm[:quarter])
    last_floor = min(s.fds for s in warm[-quarter:])
    top_fds = max(s.fds for s in warm)
    fd_growth = last_floor - first_floor
    base_rss, top_rss = warm[0].rss_mb, max(s.rss_mb for s in warm)
    rss_growth = top_rss - base_rss
    children = max(s.children for s in samples)
    report.add(
        f"{name}: open fds growth after {bounds.warmup} (floor first/last quarter, max)",
        f"{fd_growth} ({first_floor}, {last_floor}, {top_fds})",
        f"<= {bounds.fd_growth}",
        fd_growth <= bounds.fd_growth,
    )
    report.add(
        f"{name}: RSS growth MB after {bounds.warmup} (at warm-up, max, last)",
        f"{rss_growth:.1f} ({base_rss:.1f}, {top_rss:.1f}, {warm[-1].rss_mb:.1f})",
        f"<= {bounds.rss_growth_mb:.0f}",
        rss_growth <= bounds.rss_growth_mb,
    )
    limit = bounds.children
    report.add(f"{name}: child processes (max)", children, f"<= {limit}", children <= limit)
    leftovers = processes_naming(str(folder))
    report.add(f"{name}: processes alive after", len(leftovers), "0", not leftovers)
    kill_all(leftovers)
    service_warm = [s for s in service_samples if bounds.warmup <= s.observed < bounds.evaluations]
    if len(service_warm) >= 2:
        # The service's own figures, for information: it stores every observation, so
        # some growth with their number is expected; its bounds are its owners' call.
        first, last = service_warm[0], service_warm[-1]
        report.add(
            f"{name}: service fds / RSS MB after {bounds.warmup} -> end (info)",
            f"{first.fds} -> {last.fds} / {first.rss_mb:.1f} -> {last.rss_mb:.1f}",
            "reported",
            True,
        )
    report.details[f"samples_{bounds.kind}"] = [
        asdict(s) for s in samples[:: max(1, len(samples) // 40)]
    ]
    return report
