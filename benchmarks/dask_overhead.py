"""Dask workers: the orchestrator's cost per evaluation around a Dask task, against
`LocalCluster` + `client.submit` used directly, on the same cluster in the same run.

One `LocalCluster` of 2 worker processes with one thread each (the machine's two cores),
then, interleaved, `REPEATS` times each of:

- direct, function: `client.submit` of a no-op function, 2 in flight, `EVALUATIONS`
  times, results gathered as they complete: Dask's own floor;
- ours, function: `Coordinator` + the dask kind (`workers.scheduler` = that cluster) with
  the same no-op as `workers.function`, against the embedded service (`random` engine,
  SQLite), as `orchestrator run` wires them (no run folder): the service round trips,
  the task's release watch, and the evaluation in a warm child process of the worker;
- direct, command / ours, command: the same with a command (`python -c` printing a
  JSON line), run by the direct task with `subprocess.run`, by ours with the subprocess
  kind's contract (own process group, output files, result file) in a folder on the
  worker.

Reported: wall ms per evaluation and the ratio ours / direct. No target: the ratio is
information (what a user pays per evaluation over raw Dask), and an evaluation worth a
cluster runs for seconds to hours. `python -m benchmarks.dask_overhead`.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
from distributed import Client, LocalCluster

from benchmarks.common import markdown_table, quiet_logging, timed_coordinator_run
from workers.base import Evaluation, WorkerSettings
from workers.dask import DASK_KIND

REPO = Path(__file__).resolve().parents[1]
DASK_WORKERS = 2
EVALUATIONS = 100
REPEATS = 3
COMMAND = [sys.executable, "-c", "print('{\"value\": 1}')"]
#: The same argv as a template, whose literal braces are doubled.
COMMAND_TEMPLATE = [sys.executable, "-c", "print('{{\"value\": 1}}')"]
FUNCTION = "benchmarks.dask_overhead:noop"


def noop(assignments: dict[str, Any]) -> float:
    """The objective of both function series: nothing to compute."""
    return 1.0


def run_command() -> float:
    """The direct command series' task: the command, its last stdout line parsed."""
    out = subprocess.run(COMMAND, capture_output=True, check=True).stdout
    return float(json.loads(out.decode().splitlines()[-1])["value"])


async def direct_wall_s(client: Client, task: Any, evaluations: int) -> float:
    """`evaluations` submissions of `task`, `DASK_WORKERS` in flight: each lane submits
    its next one as its last completes (as the coordinator keeps N open)."""
    arguments = ({"x": 0.5},) if task is noop else ()
    left = evaluations

    async def lane() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            if await client.submit(task, *arguments, pure=False) != 1.0:
                raise RuntimeError("unexpected result")

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(DASK_WORKERS):
            tg.start_soon(lane)
    return time.perf_counter() - start


async def ours_wall_s(address: str, settings: WorkerSettings, evaluations: int) -> float:
    """`Coordinator` + the dask kind on the cluster at `address`; connecting is done
    before the clock starts (a run does it once)."""
    worker = DASK_KIND.build(settings)
    await worker.prepare(Evaluation(id="warm-up", assignments={}))
    wall_s, _ = await timed_coordinator_run(
        worker,
        engine_type="random",
        evaluations=evaluations,
        workers=DASK_WORKERS,
        db_prefix="dask",
    )
    return wall_s


async def measure(*, evaluations: int = EVALUATIONS, repeats: int = REPEATS) -> dict[str, Any]:
    series: dict[str, list[float]] = {
        "direct_function": [],
        "ours_function": [],
        "direct_command": [],
        "ours_command": [],
    }
    cluster = await LocalCluster(
        n_workers=DASK_WORKERS,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        asynchronous=True,
    )
    try:
        async with Client(cluster, asynchronous=True, set_as_default=False) as client:
            address = str(cluster.scheduler_address)
            function = WorkerSettings(
                count=DASK_WORKERS, function=FUNCTION, scheduler=address, import_path=(REPO,)
            )
            command = WorkerSettings(
                count=DASK_WORKERS, command=COMMAND_TEMPLATE, scheduler=address
            )
            # A first, untimed round of each warms the workers (imports, the reapers,
            # the function's child processes).
            await direct_wall_s(client, noop, DASK_WORKERS)
            await ours_wall_s(address, function, DASK_WORKERS)
            # Interleaved, so a slow phase of the machine hits every series alike.
            for _ in range(repeats):
                series["direct_function"].append(await direct_wall_s(client, noop, evaluations))
                series["ours_function"].append(await ours_wall_s(address, function, evaluations))
                series["direct_command"].append(
                    await direct_wall_s(client, run_command, evaluations)
                )
                series["ours_command"].append(await ours_wall_s(address, command, evaluations))
    finally:
        await cluster.close()  # type: ignore[misc]  # a coroutine: the cluster is asynchronous
    medians = {name: statistics.median(walls) for name, walls in series.items()}
    return {
        "evaluations": evaluations,
        "dask_workers": DASK_WORKERS,
        "repeats": repeats,
        "all_s": series,
        "ms_per_eval": {name: 1e3 * wall / evaluations for name, wall in medians.items()},
        "function_ratio": medians["ours_function"] / medians["direct_function"],
        "command_ratio": medians["ours_command"] / medians["direct_command"],
    }


def run(*, evaluations: int = EVALUATIONS, repeats: int = REPEATS) -> dict[str, Any]:
    """Wall times (median of `repeats`) of ours and of Dask used directly."""
    result: dict[str, Any] = anyio.run(lambda: measure(evaluations=evaluations, repeats=repeats))
    return result


def table(result: dict[str, Any]) -> str:
    ms = result["ms_per_eval"]
    runs = result["all_s"]
    labels = {
        "direct_function": "direct: `client.submit(noop)`",
        "ours_function": "ours: Coordinator + dask kind, `function` (warm child process)",
        "direct_command": "direct: `client.submit` of `subprocess.run(command)`",
        "ours_command": "ours: Coordinator + dask kind, `command` (subprocess contract)",
    }
    ratio = {
        "direct_function": 1.0,
        "ours_function": result["function_ratio"],
        "direct_command": 1.0,
        "ours_command": result["command_ratio"],
    }
    rows = [
        [label, ms[name], ", ".join(f"{x:.2f}" for x in runs[name]), ratio[name]]
        for name, label in labels.items()
    ]
    headers = ["run", "wall ms / evaluation (median)", "all runs, s", "ours / direct"]
    note = (
        f"\n\n{result['evaluations']} evaluations, {result['dask_workers']} at once on a "
        f"LocalCluster of {result['dask_workers']} processes with one thread each, shared by "
        f"all four series; median of {result['repeats']} interleaved runs. Ours includes "
        "the embedded service (suggest and observe over HTTP, SQLite) per evaluation."
    )
    return markdown_table(headers, rows) + note


def main() -> None:
    quiet_logging()
    print(table(run()))


# LocalCluster's worker processes are spawned: they import this module as `__mp_main__`,
# which must not run the benchmark again.
if __name__ == "__main__":
    main()
