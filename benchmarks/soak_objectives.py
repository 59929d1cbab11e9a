"""The chaos soak's objectives: random durations, some failing, some hanging past the timeout.

Each evaluation's fate follows from its assignments alone (`plan`), so an adopted
suggestion re-run after a coordinator crash behaves as it did the first time, and a seeded
service replays the same mix. Every evaluation that *finishes* (returns a value or fails
by raising / exiting non-zero) first appends one line to the file named by `SOAK_LOG`:

    {"kind": "async", "x": 0.123..., "y": 0.456..., "outcome": "ok"}
    {"kind": "subprocess", "suggestion": "17", "x": ..., "y": ..., "outcome": "failed"}

The soak's "lost" check compares those lines with the observations: an async objective
gets no suggestion id, so it is matched by its assignments (two doubles drawn at random:
equal pairs do not happen), a subprocess one by `SIGOPT_SUGGESTION_ID`. An evaluation
killed at its timeout never finishes, writes nothing, and is reported failed "timeout".

`python benchmarks/soak_objectives.py X Y` is the subprocess objective: stdlib only, so it
starts fast under `python -S`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

#: Fractions of evaluations that fail (raise / exit 1) and that hang past their timeout.
FAIL_RATE = 0.08
HANG_RATE = 0.03
MIN_S, MAX_S = 0.05, 0.3
HANG_S = 60.0
LOG_ENV = "SOAK_LOG"


def plan(x: float, y: float) -> tuple[str, float]:
    """(`ok` | `fail` | `hang`, seconds to sleep first) for a point, from its digits."""
    roll = (x * 1000.0) % 1.0
    duration = MIN_S + (MAX_S - MIN_S) * y
    if roll < FAIL_RATE:
        return "fail", duration
    if roll < FAIL_RATE + HANG_RATE:
        return "hang", HANG_S
    return "ok", duration


def value_of(x: float, y: float) -> float:
    return (x - 0.3) ** 2 + (y - 0.7) ** 2


def record(line: Mapping[str, Any]) -> None:
    """One line per finished evaluation, appended in one write (O_APPEND: lines from
    concurrent writers never interleave at this size)."""
    path = os.environ.get(LOG_ENV)
    if not path:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (json.dumps(dict(line)) + "\n").encode())
    finally:
        os.close(fd)


class ObjectiveFailed(RuntimeError):
    """The failure a `fail` point raises on purpose."""


async def evaluate(assignments: Mapping[str, Any]) -> float:
    """The async objective (`benchmarks.soak_objectives:evaluate`)."""
    import anyio  # here, so the subprocess entry point stays stdlib-only

    x, y = float(assignments["x"]), float(assignments["y"])
    fate, sleep_s = plan(x, y)
    await anyio.sleep(sleep_s)
    outcome = "failed" if fate == "fail" else "ok"
    record({"kind": "async", "x": x, "y": y, "outcome": outcome})
    if fate == "fail":
        raise ObjectiveFailed(f"planned failure at x={x}")
    return value_of(x, y)


async def noop(assignments: Mapping[str, Any]) -> float:
    """The leak measurement's objective: nothing but the machinery around it."""
    return 1.0


def main(argv: list[str]) -> int:
    x, y = float(argv[1]), float(argv[2])
    fate, sleep_s = plan(x, y)
    time.sleep(sleep_s)
    line = {
        "kind": "subprocess",
        "suggestion": os.environ.get("SIGOPT_SUGGESTION_ID"),
        "x": x,
        "y": y,
        "outcome": "failed" if fate == "fail" else "ok",
    }
    record(line)
    if fate == "fail":
        print(f"planned failure at x={x}", file=sys.stderr)
        return 1
    print(json.dumps({"value": value_of(x, y)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
