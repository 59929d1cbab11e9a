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
  200 of them under an `asyncio.Semaphore(8)`: no service, no files, no process group.

Target: ours within 1.1x of the floor's wall time. `python -m benchmarks.subprocess_workers`.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
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
    ours: list[float] = []
    folders: list[float] = []
    # Interleaved, so a slow phase of the machine hits every series alike.
    for _ in range(repeats):
        floors.append(await floor_wall_s(evaluations, workers))
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
