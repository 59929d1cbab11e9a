"""Reading what `scripts/holds_resources.py` recorded, and the check that no two
evaluations held a GPU or a core at the same time."""

from __future__ import annotations

import itertools
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).parent / "scripts" / "holds_resources.py"


def command(records: Path) -> list[str]:
    """The argv template of a subprocess worker running the script."""
    return [sys.executable, str(SCRIPT), "--records", str(records), "--x", "{x}", "--gpus={gpus}"]


@dataclass(frozen=True)
class Held:
    """One run of the script: what it held, from its start to its end (None: it was
    killed before it recorded one)."""

    pid: int
    suggestion: str
    start: float
    end: float | None
    gpus: frozenset[int]
    cpus: frozenset[int]
    start_record: dict[str, Any]

    def overlaps(self, other: Held) -> bool:
        if self.end is None or other.end is None:
            return False  # a killed run is checked through `conflicts` instead
        return self.start < other.end and other.start < self.end


def read_records(folder: Path) -> list[Held]:
    held = []
    for path in sorted(folder.glob("*-start.json")):
        start = json.loads(path.read_text())
        end_path = folder / f"{start['pid']}-end.json"
        end = json.loads(end_path.read_text()) if end_path.exists() else None
        gpus = start["sigopt_gpus"]
        held.append(
            Held(
                pid=start["pid"],
                suggestion=start["suggestion"],
                start=start["t"],
                end=None if end is None else end["t"],
                gpus=frozenset(int(i) for i in gpus.split(",")) if gpus else frozenset(),
                cpus=frozenset(start["cpus"]),
                start_record=start,
            )
        )
    return held


def assert_never_shared(held: list[Held]) -> None:
    """No two runs that overlapped in time shared a GPU or a core, and no run found a
    live holder of its GPUs or cores when it started."""
    for a, b in itertools.combinations(held, 2):
        if a.overlaps(b):
            assert not (a.gpus & b.gpus), f"GPUs shared at the same time: {a} {b}"
            assert not (a.cpus & b.cpus), f"cores shared at the same time: {a} {b}"
    conflicts = [(h.suggestion, h.start_record["conflicts"]) for h in held]
    assert [c for c in conflicts if c[1]] == [], "a live process held the same GPUs or cores"
