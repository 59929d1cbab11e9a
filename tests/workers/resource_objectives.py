"""Objectives that report what their evaluation holds, for the async and process kinds.

Each writes `<folder>/<suggestion id>.json` (the folder is the `out` assignment, else
`$RESOURCE_OUT`): its pid,
its `CUDA_VISIBLE_DEVICES`, `SIGOPT_GPUS` and thread counts, the CPU mask of every thread
of its process, and the `Evaluation` it got (if it asked for one).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from workers.base import Evaluation

#: Started when the module is imported, as a BLAS library starts its threads: pinning the
#: process later must reach it too.
_IMPORT_THREAD_GO = threading.Event()
_IMPORT_THREAD = threading.Thread(target=_IMPORT_THREAD_GO.wait, daemon=True)
_IMPORT_THREAD.start()
#: What a module that starts CUDA on import would have given it.
_CUDA_AT_IMPORT = os.environ.get("CUDA_VISIBLE_DEVICES")
#: An import under these GPUs takes a second (a test orders two warm-ups by it).
if _CUDA_AT_IMPORT is not None and os.environ.get("RESOURCE_SLOW_IMPORT_GPUS") == _CUDA_AT_IMPORT:
    time.sleep(1.0)
#: What CUDA would have read when it started in this process (at the first evaluation).
_CUDA_AT_FIRST_CALL: list[str | None] = []


def _report(assignments: dict[str, Any], evaluation: Evaluation | None) -> None:
    if not _CUDA_AT_FIRST_CALL:
        _CUDA_AT_FIRST_CALL.append(os.environ.get("CUDA_VISIBLE_DEVICES"))
    masks = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            masks[tid] = sorted(os.sched_getaffinity(int(tid)))
        except ProcessLookupError:
            continue
    record = {
        "pid": os.getpid(),
        "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "cuda_at_import": _CUDA_AT_IMPORT,
        "cuda_at_first_call": _CUDA_AT_FIRST_CALL[0],
        "sigopt_gpus": os.environ.get("SIGOPT_GPUS"),
        "omp": os.environ.get("OMP_NUM_THREADS"),
        "masks": masks,
        "evaluation": None
        if evaluation is None
        else {"id": evaluation.id, "gpus": list(evaluation.gpus), "cpus": list(evaluation.cpus)},
    }
    name = evaluation.id if evaluation is not None else str(assignments["id"])
    folder = assignments.get("out") or os.environ["RESOURCE_OUT"]
    (Path(str(folder)) / f"{name}.json").write_text(json.dumps(record))


def reports_holdings(assignments: dict[str, Any], evaluation: Evaluation) -> float:
    _report(assignments, evaluation)
    time.sleep(float(assignments.get("sleep_s", 0)))
    return float(assignments["x"])


def reports_without_evaluation(assignments: dict[str, Any]) -> float:
    """An objective with the old signature: still called with the assignments alone."""
    _report(assignments, None)
    return float(assignments["x"])


def keyword_only_evaluation(assignments: dict[str, Any], *, evaluation: Evaluation) -> float:
    _report(assignments, evaluation)
    return float(assignments["x"])


async def reports_holdings_async(assignments: dict[str, Any], evaluation: Evaluation) -> float:
    _report(assignments, evaluation)
    return float(assignments["x"])
