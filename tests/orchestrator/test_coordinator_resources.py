"""The coordinator sharing GPUs and cores out to real commands: never two evaluations on
one GPU or core at the same time, every set back after timeouts, kills and stops, and the
suggestion and observation metadata saying which evaluation held what."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from orchestrator.client import ServiceClient
from orchestrator.coordinator import (
    CPUS_KEY,
    GPUS_KEY,
    Coordinator,
    CoordinatorSettings,
    FailurePolicy,
    RunningEvaluation,
    RunStats,
    RunSummary,
)
from tests.orchestrator.conftest import assert_exactly_budget
from tests.orchestrator.coordinator_helpers import new_experiment, queue_suggestions, wait_until
from tests.workers.resource_records import Held, assert_never_shared, command, read_records
from workers.base import WorkerSettings
from workers.process_pool import ProcessPoolWorker
from workers.resources import ResourcePool, available_cores, plan_resources
from workers.subprocess import SubprocessWorker

OBJECTIVES = "tests.workers.resource_objectives"

pytestmark = pytest.mark.skipif(len(available_cores()) < 2, reason="needs 2 cores")

#: 4 fake GPUs, 2 per evaluation; 1 core each; 2 slots (this machine has 2 cores).
SHARED = WorkerSettings(count=2, gpus=(0, 1, 2, 3), gpus_per_evaluation=2, cpus_per_evaluation=1)
#: `holds_resources.py` hangs below x = 0.02 and exits 3 below 0.03.
HANG, CRASH = 0.001, 0.025
NO_BREAKER = FailurePolicy(max_consecutive=None, max_fraction=None)


def pool() -> ResourcePool:
    return ResourcePool(plan_resources(SHARED))


def worker(records: Path) -> SubprocessWorker:
    return SubprocessWorker(command(records), env={"RESOURCE_TAG": str(records)}, kill_grace_s=0.2)


async def run(
    client: ServiceClient,
    records: Path,
    eid: str,
    resources: ResourcePool,
    *,
    stop: anyio.Event | None = None,
    on_progress: Callable[[RunStats], None] | None = None,
    **settings: object,
) -> RunSummary:
    # Long enough for a Python start on a loaded machine; the hangs wait it out.
    settings.setdefault("evaluation_timeout_s", 1.0)
    coordinator = Coordinator(
        client,
        worker(records),
        experiment_id=eid,
        settings=CoordinatorSettings(
            workers=2,
            run_id="gpu-run",
            failures=NO_BREAKER,
            **settings,  # type: ignore[arg-type]
        ),
        resources=resources,
        on_progress=on_progress,
    )
    with anyio.fail_after(60):
        return await coordinator.run(stop=stop)


def live_holders(tag: str) -> list[int]:
    """Processes still running with this test's tag in their environment."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if f"RESOURCE_TAG={tag}".encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def read_reports(folder: Path) -> list[dict[str, Any]]:
    """What `resource_objectives` wrote, one per evaluation."""
    return [json.loads(p.read_text()) for p in folder.glob("*.json")]


def held_as_the_metadata_says(held: Held) -> dict[str, str]:
    return {
        GPUS_KEY: ",".join(str(g) for g in sorted(held.gpus)),
        CPUS_KEY: ",".join(str(c) for c in sorted(held.cpus)),
    }


class TestSharedOut:
    """Forty evaluations on two slots sharing four GPUs and two cores."""

    @pytest.mark.slow
    async def test_never_shared_always_returned(
        self, client: ServiceClient, tmp_path: Path
    ) -> None:
        """1. 40 evaluations: the first 6 adopted (4 hang until the 1 s deadline kills
           them and the grandchild each started, 2 exit 3), the rest new.
        2. Each command saw its GPUs in CUDA_VISIBLE_DEVICES, SIGOPT_GPUS and `{gpus}`,
           ran pinned to its core, with one BLAS thread.
        3. No two ran at once on a GPU or core (timestamps), and none found a live
           holder of its GPUs or cores when it started (killed ones included).
        4. Both sets served evaluations after the kills; both are free at the end.
        5. The metadata of each observation, and of each suggestion the run asked
           for, names the GPUs and cores its evaluation held."""
        records = tmp_path / "records"
        records.mkdir()
        resources = pool()
        eid = await new_experiment(client, 40)
        queued = [{"x": HANG + i / 1000} for i in range(4)] + [{"x": CRASH}] * 2
        await queue_suggestions(client, eid, queued, run_id="gpu-run")
        shown: list[list[RunningEvaluation]] = []
        summary = await run(
            client,
            records,
            eid,
            resources,
            run_dir=tmp_path / "run",
            on_progress=lambda stats: shown.append(list(stats.running_by_slot.values())),
        )

        await assert_exactly_budget(client, eid, 40)
        assert summary.stats.failure_reasons.get("timeout", 0) >= 4
        assert summary.stats.failure_reasons.get("exit_code", 0) >= 2
        held = read_records(records)
        observations = await client.observations(eid)
        timed_out = {
            o.suggestion
            for o in observations
            if (o.metadata or {}).get("failure_reason") == "timeout"
        }
        # Every evaluation left its record, but one its deadline cut short before it
        # could (a slow start on a loaded machine).
        assert {o.suggestion for o in observations} - timed_out <= {h.suggestion for h in held}
        for h in held:
            start = h.start_record
            assert start["cuda"] == start["sigopt_gpus"] == start["argv_gpus"]
            assert len(h.gpus) == 2 and len(h.cpus) == 1
            assert start["threads"]["OMP_NUM_THREADS"] == "1"
        assert_never_shared(held)
        last_kill = max(h.start for h in held if h.end is None)
        after = {h.gpus for h in held if h.start > last_kill}
        assert after == {frozenset({0, 1}), frozenset({2, 3})}
        assert resources.free == resources.capacity == 2
        assert live_holders(str(records)) == []
        # What the panel was shown: each slot's own GPUs and core, never the same twice.
        assert any(len(running) == 2 for running in shown)
        for running in shown:
            gpus = [g for r in running for g in r.gpus]
            cpus = [c for r in running for c in r.cpus]
            assert len(gpus) == len(set(gpus)) == 2 * len(running)
            assert len(cpus) == len(set(cpus)) == len(running)
            assert {r.slot for r in running} <= {0, 1}

        by_suggestion = {h.suggestion: h for h in held}
        adopted = {s.id for s in await self._adopted(client, eid)}
        for observation in observations:
            assert observation.suggestion is not None
            if observation.suggestion not in by_suggestion:
                continue
            wanted = held_as_the_metadata_says(by_suggestion[observation.suggestion])
            metadata = observation.metadata or {}
            assert {k: metadata.get(k) for k in wanted} == wanted
            if observation.suggestion not in adopted:
                suggestion = await client.get_suggestion(eid, observation.suggestion)
                asked = suggestion.metadata or {}
                assert {k: asked.get(k) for k in wanted} == wanted

    @staticmethod
    async def _adopted(client: ServiceClient, eid: str) -> list[object]:
        """The queued suggestions (made before the run, so without GPUs in metadata)."""
        observations = await client.observations(eid)
        found = []
        for o in observations:
            assert o.suggestion is not None
            s = await client.get_suggestion(eid, o.suggestion)
            if GPUS_KEY not in (s.metadata or {}):
                found.append(s)
        assert len(found) == 6
        return found

    async def test_a_stop_kills_and_gives_back(self, client: ServiceClient, tmp_path: Path) -> None:
        """1. Two evaluations hang, one per slot; the run is stopped (no drain).
        2. Both are killed, their process groups gone, both sets free, both suggestions
           left open.
        3. The next run of the same pool resumes them (their deadline kills them again)
           and finishes the budget, GPUs shared out as before."""
        records = tmp_path / "records"
        records.mkdir()
        resources = pool()
        eid = await new_experiment(client, 8)
        await queue_suggestions(client, eid, [{"x": HANG}, {"x": HANG}], run_id="gpu-run")
        stop = anyio.Event()

        async def stop_when_both_hang() -> None:
            await wait_until(lambda: len(list(records.glob("*-start.json"))) == 2)
            stop.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(stop_when_both_hang)
            first = await run(
                client, records, eid, resources, stop=stop, drain_s=0, evaluation_timeout_s=30
            )
        assert len(first.left_open) == 2
        assert resources.free == 2
        assert live_holders(str(records)) == []

        await run(client, records, eid, resources)
        await assert_exactly_budget(client, eid, 8)
        reasons = {
            o.suggestion: (o.metadata or {}).get("failure_reason")
            for o in await client.observations(eid)
        }
        assert [reasons[s] for s in first.left_open] == ["timeout", "timeout"]  # re-run
        assert_never_shared(read_records(records))
        assert resources.free == 2


class TestProcessKind:
    """The process kind through the coordinator: each evaluation holding GPUs in a
    process of its own, started in `prepare`, even with two slots racing for them."""

    async def test_a_fresh_process_per_gpu_evaluation(
        self, client: ServiceClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("RESOURCE_OUT", str(tmp_path))
        resources = pool()
        eid = await new_experiment(client, 10)
        coordinator = Coordinator(
            client,
            ProcessPoolWorker(f"{OBJECTIVES}:reports_holdings", max_workers=2),
            experiment_id=eid,
            settings=CoordinatorSettings(workers=2, run_id="gpu-run", failures=NO_BREAKER),
            resources=resources,
        )
        with anyio.fail_after(60):
            summary = await coordinator.run()
        await assert_exactly_budget(client, eid, 10)
        assert (summary.stats.completed, summary.stats.infrastructure_errors) == (10, 0)
        reports = read_reports(tmp_path)
        assert len({r["pid"] for r in reports}) == 10
        for r in reports:
            gpus = ",".join(str(g) for g in r["evaluation"]["gpus"])
            # Imported under its own GPUs too, though two slots warm processes at once.
            assert r["cuda_at_import"] == r["cuda_at_first_call"] == r["cuda"] == gpus
            assert {tuple(m) for m in r["masks"].values()} == {tuple(r["evaluation"]["cpus"])}
        assert resources.free == 2


class TestCapacity:
    """A pool must have a set for every slot: a slot never waits to report."""

    def test_too_small_a_pool_is_refused(self, tmp_path: Path) -> None:
        small = ResourcePool(plan_resources(WorkerSettings(count=1, gpus=(0,))))
        with pytest.raises(ValueError, match="too few sets for 2 slots"):
            Coordinator(
                ServiceClient("http://127.0.0.1:9"),
                worker(tmp_path),
                experiment_id="1",
                settings=CoordinatorSettings(workers=2, run_id="r"),
                resources=small,
            )


def test_no_process_of_a_test_is_left(tmp_path: Path) -> None:
    """The helper itself finds a tagged process (so an empty answer above means none)."""
    import subprocess
    import sys

    tag = str(tmp_path)
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)"],
        env={**os.environ, "RESOURCE_TAG": tag},
    )
    try:
        assert live_holders(tag) == [child.pid]
    finally:
        child.kill()
        child.wait()
