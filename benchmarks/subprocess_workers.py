"""Subprocess workers: the coordinator's cost around a command, against plain asyncio.

200 evaluations of `python -c "print('{\"value\": 1}')"` with 8 workers, two ways, in
this process:

- ours: `Coordinator` + `SubprocessWorker` (a process group per evaluation, stdout and
  stderr through pipes of which only the tails are kept, the metric read from the last
  JSON line) against the embedded service (`random` engine, SQLite file), as a library
  run without a run folder wires them;
- ours with a run folder: the same, but every evaluation gets its own folder with
  `assignments.json`, `stdout.log`, `stderr.log` and the process-group record, kept after
  the run, as `orchestrator run` does; reported, not held to the target: it buys the logs
  and the crash recovery a run folder gives;
- floor: `asyncio.create_subprocess_exec` of the same command, stdout piped and parsed,
  200 of them under an `asyncio.Semaphore(8)`: no service, no files, no process group;
- the same floor with asyncio waiting on pidfds (`PidfdChildWatcher`, Python 3.12's
  default) instead of a thread per child, as our worker does on Linux: information only,
  to show how much of our lead over the floor is that one choice.

Target: ours within 1.1x of the floor's wall time. `python -m benchmarks.subprocess_workers`.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio

from benchmarks.common import markdown_table, quiet_logging, timed_coordinator_run
from workers.subprocess import SubprocessWorker

WORKERS = 8
EVALUATIONS = 200
TARGET_RATIO = 1.1
COMMAND = [sys.executable, "-c", "print('{\"value\": 1}')"]
#: The same argv for `SubprocessWorker`, whose `{name}` placeholders need literal braces doubled.
WORKER_COMMAND = [sys.executable, "-c", "print('{{\"value\": 1}}')"]
REPEATS = 3


async def floor_wall_s(evaluations: int = EVALUATIONS, workers: int = WORKERS) -> float:
    """Plain asyncio: the same command `evaluations` times, `workers` at once."""
    semaphore = asyncio.Semaphore(workers)

    async def one() -> None:
        async with semaphore:
            proc = await asyncio.create_subprocess_exec(
                *COMMAND,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, _ = await proc.communicate()
            if json.loads(out.decode().splitlines()[-1])["value"] != 1:
                raise RuntimeError("unexpected output")

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(evaluations)))
    return time.perf_counter() - start


@contextmanager
def pidfd_child_watcher() -> Iterator[bool]:
    """asyncio waiting on pidfds instead of a `waitpid` thread per child, as Python 3.12
    does by default and our `SubprocessWorker` does on Linux; yields whether it could
    (Python 3.11 with pidfd support), restoring the previous watcher after."""
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        yield False
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        previous = asyncio.get_child_watcher()
        watcher = asyncio.PidfdChildWatcher()
        watcher.attach_loop(asyncio.get_running_loop())
        asyncio.set_child_watcher(watcher)
    try:
        yield True
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            asyncio.set_child_watcher(previous)


async def pidfd_floor_wall_s(
    evaluations: int = EVALUATIONS, workers: int = WORKERS
) -> float | None:
    """The floor with `pidfd_child_watcher`; None where that is not available."""
    with pidfd_child_watcher() as switched:
        return await floor_wall_s(evaluations, workers) if switched else None


async def coordinated_wall_s(
    evaluations: int = EVALUATIONS, workers: int = WORKERS, *, evaluation_folders: bool = False
) -> float:
    """Wall time of `Coordinator.run` with a `SubprocessWorker` running `COMMAND`."""
    wall_s, _ = await timed_coordinator_run(
        SubprocessWorker(WORKER_COMMAND),
        engine_type="random",
        evaluations=evaluations,
        workers=workers,
        db_prefix="subprocess",
        evaluation_folders=evaluation_folders,
    )
    return wall_s


async def measure(
    *, evaluations: int = EVALUATIONS, workers: int = WORKERS, repeats: int = REPEATS
) -> dict[str, Any]:
    floors: list[float] = []
    pidfd_floors: list[float] = []
    ours: list[float] = []
    folders: list[float] = []
    # Interleaved, so a slow phase of the machine hits every series alike.
    for _ in range(repeats):
        floors.append(await floor_wall_s(evaluations, workers))
        pidfd_floor = await pidfd_floor_wall_s(evaluations, workers)
        if pidfd_floor is not None:
            pidfd_floors.append(pidfd_floor)
        ours.append(await coordinated_wall_s(evaluations, workers))
        folders.append(await coordinated_wall_s(evaluations, workers, evaluation_folders=True))
    floor_s = statistics.median(floors)
    ours_s = statistics.median(ours)
    folders_s = statistics.median(folders)
    ratio = ours_s / floor_s
    return {
        "evaluations": evaluations,
        "workers": workers,
        "repeats": repeats,
        "command": COMMAND,
        "floor_s": floor_s,
        "floor_all_s": floors,
        "ours_s": ours_s,
        "ours_all_s": ours,
        "floor_ms_per_eval": 1e3 * floor_s / evaluations,
        "ours_ms_per_eval": 1e3 * ours_s / evaluations,
        "ratio": ratio,
        "with_folders_s": folders_s,
        "with_folders_all_s": folders,
        "with_folders_ms_per_eval": 1e3 * folders_s / evaluations,
        "with_folders_ratio": folders_s / floor_s,
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio <= TARGET_RATIO,
        # Information, not the target's floor: see `pidfd_child_watcher`.
        "pidfd_floor_s": statistics.median(pidfd_floors) if pidfd_floors else None,
        "pidfd_floor_all_s": pidfd_floors,
    }


def run(
    *, evaluations: int = EVALUATIONS, workers: int = WORKERS, repeats: int = REPEATS
) -> dict[str, Any]:
    """Wall times (median of `repeats`) of ours and of the plain-asyncio floor."""
    result: dict[str, Any] = anyio.run(
        lambda: measure(evaluations=evaluations, workers=workers, repeats=repeats)
    )
    return result


def table(result: dict[str, Any]) -> str:
    rows: list[list[object]] = [
        [
            "floor: asyncio subprocesses under Semaphore(8)",
            result["floor_s"],
            ", ".join(f"{x:.2f}" for x in result["floor_all_s"]),
            result["floor_ms_per_eval"],
            1.0,
            "",
        ],
        [
            "ours: Coordinator + SubprocessWorker, `random`, SQLite",
            result["ours_s"],
            ", ".join(f"{x:.2f}" for x in result["ours_all_s"]),
            result["ours_ms_per_eval"],
            result["ratio"],
            result["meets_target"],
        ],
    ]
    if result.get("pidfd_floor_s"):
        rows.insert(
            1,
            [
                "floor with pidfd child watcher (Python 3.12's default)",
                result["pidfd_floor_s"],
                ", ".join(f"{x:.2f}" for x in result["pidfd_floor_all_s"]),
                1e3 * result["pidfd_floor_s"] / result["evaluations"],
                result["pidfd_floor_s"] / result["floor_s"],
                "(information)",
            ],
        )
    if "with_folders_s" in result:
        rows.append(
            [
                "ours with a run folder (kept logs per evaluation, as `orchestrator run`)",
                result["with_folders_s"],
                ", ".join(f"{x:.2f}" for x in result["with_folders_all_s"]),
                result["with_folders_ms_per_eval"],
                result["with_folders_ratio"],
                "(not a target)",
            ]
        )
    headers = [
        "run",
        "wall s (median)",
        "all runs",
        "wall ms / evaluation",
        "wall / floor",
        f"≤ {result['target_ratio']}x",
    ]
    note = (
        f'\n\n{result["evaluations"]} evaluations of `python -c "print(\'{{\\"value\\": 1}}\')"` '
        f"with {result['workers']} at once; median of {result['repeats']} interleaved runs."
    )
    return markdown_table(headers, rows) + note


def main() -> None:
    quiet_logging()
    print(table(run()))


if __name__ == "__main__":
    main()
