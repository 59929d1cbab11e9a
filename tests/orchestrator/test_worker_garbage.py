"""Workers whose output is hostile, through the real coordinator and the loopback service:
garbage bytes, invalid JSON, metrics of the wrong type or name, a gigabyte of output.
Each ends as a failed observation with its `failure_reason`, and the coordinator's memory
stays bounded however much a command prints (stdout goes to a file; only its tail is read).
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import psutil
import pytest

from orchestrator.client import ServiceClient
from orchestrator.coordinator import ExitReason, FailurePolicy
from tests.orchestrator.conftest import assert_exactly_budget, run
from tests.orchestrator.test_coordinator import new_experiment, queue_suggestions
from workers.subprocess import SubprocessWorker

GARBAGE = Path(__file__).parent / "scripts" / "garbage.py"

#: kind (scripts/garbage.py) -> the failure_reason it must end with (None: completed)
EXPECTED: dict[str, str | None] = {
    "binary": "no_metric",
    "truncated_json": "no_metric",
    "python_repr": "no_metric",
    "string_value": "invalid_result",
    "bool_value": "invalid_result",
    "null_value": "invalid_result",
    "values_not_a_list": "invalid_result",
    "infinite_value": "invalid_result",
    "two_wrong_names": "metric_mismatch",
    "bad_result_file": "invalid_result",
    "huge_result_file": "invalid_result",
    "huge_line": "no_metric",
    "garbage_then_metric": None,
}


def _remove_stdout_logs(run_dir: Path) -> list[int]:
    """Delete the evaluations' stdout logs (3 GB: not for pytest's tmp retention), return
    their sizes."""
    sizes = []
    for log in run_dir.glob("evaluations/*/stdout.log"):
        sizes.append(log.stat().st_size)
        log.unlink()
    return sizes


class _PeakRss:
    """Samples this process's resident memory while a run goes on."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.baseline = self.process.memory_info().rss
        self.peak = self.baseline

    async def sample(self, done: anyio.Event) -> None:
        while not done.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            await anyio.sleep(0.02)

    @property
    def growth_mb(self) -> float:
        return float(self.peak - self.baseline) / 2**20


class TestGarbageOutput:
    """Every kind of garbage is a failed observation carrying its reason."""

    async def test_each_kind_fails_with_its_reason(
        self, client: ServiceClient, tmp_path: Path
    ) -> None:
        kinds = list(EXPECTED)
        eid = await new_experiment(client, len(kinds), kind=kinds)
        await queue_suggestions(client, eid, [{"x": 0.5, "kind": k} for k in kinds])
        worker = SubprocessWorker([sys.executable, str(GARBAGE), "--kind", "{kind}"])
        try:
            summary = await run(
                client,
                worker,
                eid,
                workers=4,
                run_dir=tmp_path,
                failures=FailurePolicy(None, None),
            )
        finally:
            await worker.aclose()
        assert summary.reason is ExitReason.BUDGET_REACHED
        by_kind = {str(o.assignments["kind"]): o for o in await client.observations(eid)}
        reasons = {k: (o.metadata or {}).get("failure_reason") for k, o in by_kind.items()}
        assert reasons == EXPECTED
        for kind, observation in by_kind.items():
            meta = observation.metadata or {}
            if EXPECTED[kind] is None:
                assert not observation.failed and observation.value == 0.75
            else:
                assert observation.failed and observation.values == []
                assert meta.get("failure_message"), (kind, meta)
        assert "must be a number, got str: 'high'" in str(
            (by_kind["string_value"].metadata or {})["failure_message"]
        )
        await assert_exactly_budget(client, eid, len(kinds))

    async def test_one_metric_of_the_wrong_name(
        self, client: ServiceClient, tmp_path: Path
    ) -> None:
        eid = await new_experiment(client, 1, kind=["wrong_name", "unused"])
        await queue_suggestions(client, eid, [{"x": 0.5, "kind": "wrong_name"}])
        worker = SubprocessWorker([sys.executable, str(GARBAGE), "--kind", "{kind}"])
        try:
            await run(client, worker, eid, workers=1, run_dir=tmp_path)
        finally:
            await worker.aclose()
        (observation,) = await client.observations(eid)
        assert observation.failed
        assert (observation.metadata or {})["failure_reason"] == "metric_mismatch"


class TestHugeOutput:
    """A command printing a gigabyte is read by its tail: bounded memory, metric found."""

    @pytest.mark.slow
    async def test_a_gigabyte_of_stdout(self, client: ServiceClient, tmp_path: Path) -> None:
        """1. Two evaluations each print 1 GB of lines (at full speed), then a metric;
           one more prints 1 GB and no metric.
        2. The coordinator's RSS is sampled throughout: it grows by less than 100 MB.
        3. The metrics are read from the last 64 KiB; the third is `no_metric`."""
        gigabyte = (
            "import sys\n"
            "chunk = (b'garbage ' * 131072)[:-1] + b'\\n'\n"  # 1 MiB
            "for _ in range(954): sys.stdout.buffer.write(chunk)\n"  # 1e9 bytes
            "if sys.argv[1] == 'yes': print('{{\"value\": 0.25}}')\n"
        )
        eid = await new_experiment(client, 3, kind=["yes", "no"])
        await queue_suggestions(client, eid, [{"x": 0.5, "kind": k} for k in ("yes", "yes", "no")])
        worker = SubprocessWorker([sys.executable, "-c", gigabyte, "{kind}"])
        rss = _PeakRss()
        done = anyio.Event()
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(rss.sample, done)
                summary = await run(
                    client,
                    worker,
                    eid,
                    workers=3,
                    run_dir=tmp_path,
                    failures=FailurePolicy(None, None),
                )
                done.set()
        finally:
            await worker.aclose()
        printed = _remove_stdout_logs(tmp_path)
        assert sorted(printed)[0] >= 10**9, printed
        assert summary.reason is ExitReason.BUDGET_REACHED
        assert rss.growth_mb < 100, f"coordinator RSS grew by {rss.growth_mb:.0f} MB"
        observations = await client.observations(eid)
        reasons = sorted(str((o.metadata or {}).get("failure_reason")) for o in observations)
        assert reasons == ["None", "None", "no_metric"]
        assert sorted(o.value or 0 for o in observations if not o.failed) == [0.25, 0.25]
