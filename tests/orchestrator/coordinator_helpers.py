"""Helpers for the coordinator tests: experiments, queued suggestions, polling."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio

from orchestrator.client import ServiceClient
from orchestrator.coordinator import (
    RUN_ID_KEY,
)
from tests.orchestrator.conftest import (
    experiment_body,
)
from workers.subprocess import SubprocessWorker

SCRIPTS = Path(__file__).parent / "scripts"
OBJ = "tests.orchestrator.objectives"


def by_kind_worker(pids: Path, kill_grace_s: float) -> SubprocessWorker:
    """`scripts/by_kind.py` per evaluation: its `kind` assignment picks how it fails; a
    `hang` writes its pid and its grandchild's to `pids`."""
    return SubprocessWorker(
        [
            sys.executable,
            str(SCRIPTS / "by_kind.py"),
            "--x",
            "{x}",
            "--kind",
            "{kind}",
            "--pids",
            str(pids),
        ],
        kill_grace_s=kill_grace_s,
    )


async def new_experiment(client: ServiceClient, budget: int, **kw: Any) -> str:
    return (await client.create_experiment(experiment_body(budget, **kw))).id


async def queue_suggestions(
    client: ServiceClient, eid: str, assignments: Sequence[dict[str, Any]], run_id: str = "test-run"
) -> None:
    """Open suggestions with chosen assignments, tagged as the run's own: it adopts them."""
    for a in assignments:
        await client.create_suggestion(eid, a, metadata={RUN_ID_KEY: run_id})


async def wait_until(predicate: Callable[[], bool]) -> None:
    """Poll a condition that no event can signal (files written by other processes)."""
    with anyio.fail_after(30):
        while not predicate():  # noqa: ASYNC110
            await anyio.sleep(0.05)
