"""The soak's Dask row: one `orchestrator run` of kind `dask` on a cluster of 3 Dask
workers, two of which are killed with -9 mid-run.

A standalone service (SQLite), a `dask scheduler` and three `dask worker` processes (no
nanny: the process killed is the one running the evaluation) on loopback, and one
coordinator (`python -m orchestrator run CONFIG`) with `workers.scheduler` pointing there,
3 evaluations at once, running the chaos soak's subprocess objective
(`benchmarks/soak_objectives.py`: 0.05-0.3 s, 8% fail, 3% hang past the 1.5 s timeout).
As the observations pass 25% and 55% of the budget, one Dask worker is killed with -9 and
a new one started in its place (as a batch system would bring a new job). Checked:

- observations == budget, none duplicated, none open, none lost (every evaluation that
  finished is observed, by suggestion id), every failure with its reason, exit 0;
- 2 kills; the evaluations re-run after a lost worker (information);
- no evaluation process alive once the run has ended, while the Dask workers still run
  (the run's end killed them), and no process at all, reapers included, once the
  cluster is stopped (what the killed workers' evaluations left, their reapers killed).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import yaml

from benchmarks.soak.chaos import check_observations
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
from benchmarks.soak.spec import OBJECTIVES_SCRIPT, SoakReport
from tests.workers.dask.support import DaskCluster, reaper_pids


@dataclass(frozen=True)
class DaskSoakSpec:
    budget: int
    wall_target_s: float
    #: Dask workers, and evaluations at once.
    workers: int = 3
    #: Progress fractions at which a Dask worker is killed with -9 (and replaced).
    kills_at: tuple[float, ...] = (0.25, 0.55)
    timeout_s: float = 1.5
    seed: int = 5


FULL_DASK = DaskSoakSpec(budget=400, wall_target_s=300.0)
QUICK_DASK = DaskSoakSpec(budget=60, wall_target_s=120.0)


def write_dask_config(
    path: Path, *, spec: DaskSoakSpec, url: str, scheduler: str, folder: Path
) -> None:
    config = {
        "service": {"url": url},
        "workers": {
            "kind": "dask",
            "count": spec.workers,
            "scheduler": scheduler,
            # -S: no site import; the objective needs only the stdlib and starts faster.
            "command": ["{python}", "-S", str(OBJECTIVES_SCRIPT), "{x}", "{y}"],
            "timeout": spec.timeout_s,
            "max_retries": 2,
            # Names the soak's folder in every evaluation's environment: what finds them.
            "env": {"SOAK_LOG": str(folder / "finished-dask.jsonl")},
        },
        "failures": {"max_consecutive": 40, "max_fraction": 0.5, "min_finished": 50},
        "timeouts": {"drain_s": 30, "kill_grace_s": 1},
        "logging": {"format": "json", "level": "info"},
        "run": {"name": "soak-dask", "dir": str(folder / "runs")},
    }
    path.write_text(yaml.safe_dump(config))


async def run_dask_soak(spec: DaskSoakSpec, folder: Path, *, say: Any = print) -> SoakReport:
    """Run the Dask row in `folder` (absolute; it names the run's processes) and check it."""
    report = SoakReport()
    logs = folder / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    reapers_before = reaper_pids()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    service = await anyio.to_thread.run_sync(start_service, folder / "service.db", port, spec.seed)
    # The cluster's own files elsewhere: the processes naming `folder` are the run's.
    cluster = DaskCluster(Path(tempfile.mkdtemp(prefix="soak-dask-cluster-")))
    kills = 0
    try:
        names = [f"w{i}" for i in range(spec.workers)]
        scheduler = await cluster.start(dict.fromkeys(names))
        async with direct_client(url) as client:
            body = experiment_body(spec.budget, spec.workers)
            experiment_id = (await client.create_experiment(body)).id
        config = folder / "dask.yaml"
        write_dask_config(config, spec=spec, url=url, scheduler=scheduler, folder=folder)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        coordinator = CoordinatorProcess(0, config, experiment_id, env, logs)
        say(f"dask soak: experiment {experiment_id}, budget {spec.budget}, {scheduler}")
        started = time.monotonic()
        coordinator.start()
        pending = list(spec.kills_at)
        deadline = started + spec.wall_target_s * 1.5
        while coordinator.poll() is None and time.monotonic() < deadline:
            await anyio.sleep(0.1)
            count = await observed_count(url, experiment_id)
            if not pending or count is None or count < pending[0] * spec.budget:
                continue
            pending.pop(0)
            victim = names[kills]
            cluster.kill(cluster.workers[victim])
            kills += 1
            say(f"  kill -9 Dask worker {victim} at {count} observations")
            replacement = f"w{spec.workers + kills - 1}"
            cluster.start_worker(replacement)
        wall_s = time.monotonic() - started
        if coordinator.poll() is None:
            coordinator.kill()  # past the deadline: a hang, and a failed row
        else:
            coordinator.exit_codes.append(coordinator.poll() or 0)
        # The run is over, the Dask workers still run: its evaluations must be gone.
        service_pid = service.proc.pid if service.proc is not None else None
        left = [p for p in processes_naming(str(folder)) if p.pid != service_pid]
        report.add("dask: evaluation processes alive after the run", len(left), "0", not left)
        kill_all(left)
        await _check(spec, report, folder, url, experiment_id, coordinator, kills, wall_s)
    finally:
        cluster.stop()
        service.terminate()
    with anyio.move_on_after(10):
        while reaper_pids() - reapers_before:  # noqa: ASYNC110 - other processes, no event
            await anyio.sleep(0.1)
    left = processes_naming(str(folder))
    reapers = reaper_pids() - reapers_before
    report.add(
        "dask: processes alive after the cluster stopped (reapers included)",
        len(left) + len(reapers),
        "0",
        not left and not reapers,
    )
    return report


async def _check(
    spec: DaskSoakSpec,
    report: SoakReport,
    folder: Path,
    url: str,
    experiment_id: str,
    coordinator: CoordinatorProcess,
    kills: int,
    wall_s: float,
) -> None:
    observations = await check_observations(
        report, folder, url, experiment_id, spec.budget, prefix="dask: "
    )
    failed = [o for o in observations if o.failed]
    reruns = sum(1 for o in observations if str((o.metadata or {}).get("attempt", 1)) != "1")
    exit_code = coordinator.exit_codes[-1] if coordinator.exit_codes else None
    report.add("dask: coordinator exit code", exit_code, "0", exit_code == 0)
    report.add("dask: Dask workers killed -9 (of 3)", kills, "2", kills == 2)
    report.add("dask: evaluations re-run after a lost worker", reruns, "information", True)
    report.add(
        "dask: wall time s",
        f"{wall_s:.1f}",
        f"< {spec.wall_target_s:.0f}",
        wall_s < spec.wall_target_s,
    )
    report.details.update(
        wall_s=wall_s,
        failed=len(failed),
        reruns=reruns,
        python=sys.executable,
    )
