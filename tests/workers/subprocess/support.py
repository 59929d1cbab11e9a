"""Helpers of the SubprocessWorker tests: scripts, evaluations, bounded waits."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import anyio
import pytest

from workers.base import AssignmentValue, Completed, Evaluation, Failed, Outcome
from workers.subprocess import SubprocessWorker

DEADLINE_S = 20


def script(tmp_path: Path, code: str, name: str = "script.py") -> str:
    """Write a Python script and return its path, for `[sys.executable, path, ...]`."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(code))
    return str(path)


def evaluation(tmp_path: Path, eval_id: str = "1", **assignments: AssignmentValue) -> Evaluation:
    workdir = tmp_path / f"eval-{eval_id}"
    workdir.mkdir(exist_ok=True)
    return Evaluation(id=eval_id, assignments=assignments, workdir=workdir)


async def evaluate(worker: SubprocessWorker, ev: Evaluation) -> Outcome:
    with anyio.fail_after(DEADLINE_S):
        return await worker.evaluate(ev)


def value_of(outcome: Outcome) -> float:
    assert isinstance(outcome, Completed), outcome
    (metric,) = outcome.values
    return metric.value


def failed(outcome: Outcome, reason: str) -> Failed:
    assert isinstance(outcome, Failed), outcome
    assert outcome.reason == reason, outcome
    return outcome


async def cancel_when_ready(worker: SubprocessWorker, ev: Evaluation, ready: Path) -> float:
    """Evaluate under `fail_after`, whose deadline is moved to now once `ready` exists
    (so the command is surely running); return how long the cancellation took."""
    tripped_at = 0.0
    with pytest.raises(TimeoutError):
        with anyio.fail_after(DEADLINE_S) as scope:

            async def trip() -> None:
                nonlocal tripped_at
                # Polling: the signal comes from another process, not an Event.
                while not await anyio.Path(ready).exists():  # noqa: ASYNC110
                    await anyio.sleep(0.02)
                tripped_at = time.monotonic()
                scope.deadline = anyio.current_time()

            async with anyio.create_task_group() as tg:
                tg.start_soon(trip)
                await worker.evaluate(ev)
    return time.monotonic() - tripped_at


#: A script printing 50 MB to stdout between a first and a last metric line (`value` 7).
HUGE_STDOUT = """
    import sys
    print('{"value": 1}')
    line = b"x" * 1023 + b"\\n"
    for _ in range(50 * 1024):
        sys.stdout.buffer.write(line)
    print('{"value": 7}')
"""

ECHO_ARGV = """
    import json, os, sys
    from pathlib import Path
    out = Path(os.environ["SIGOPT_RESULT_FILE"]).with_name("argv.json")
    out.write_text(json.dumps(sys.argv[1:]))
    print(json.dumps({"value": 1}))
"""


def bare(eval_id: str = "1", **assignments: AssignmentValue) -> Evaluation:
    """An evaluation without a workdir (a library run with no run folder)."""
    return Evaluation(id=eval_id, assignments=assignments)
