"""SubprocessWorker and what an evaluation holds: the command sees its GPUs in its
environment and in `{gpus}`, runs pinned to its cores from its start, and gets thread
counts to match unless the user set them."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from tests.workers.resource_records import command, read_records
from tests.workers.subprocess.support import evaluate, script
from workers.base import Evaluation, InvalidSetting, WorkerSettings
from workers.errors import BrokenWorker
from workers.resources import available_cores
from workers.subprocess import SUBPROCESS_KIND, SubprocessWorker

CORE = available_cores()[-1]


def held_evaluation(
    tmp_path: Path | None, eval_id: str = "1", *, gpus: tuple[int, ...], cpus: tuple[int, ...]
) -> Evaluation:
    return Evaluation(
        id=eval_id,
        assignments={"x": 0.5},
        workdir=None if tmp_path is None else tmp_path / f"eval-{eval_id}",
        gpus=gpus,
        cpus=cpus,
    )


@pytest.fixture(params=["folder", "piped"])
def workdir(request: pytest.FixtureRequest, tmp_path: Path) -> Path | None:
    """Both ways a command runs: with an evaluation folder, and through pipes."""
    return tmp_path if request.param == "folder" else None


class TestWhatTheCommandSees:
    """Environment, argv and affinity of a real command, as it reports them."""

    async def test_gpus_cores_and_thread_counts(self, tmp_path: Path, workdir: Path | None) -> None:
        records = tmp_path / "records"
        records.mkdir()
        worker = SubprocessWorker(command(records))
        ev = held_evaluation(workdir, gpus=(2, 3), cpus=(CORE,))
        try:
            await evaluate(worker, ev)
        finally:
            await worker.aclose()
        (held,) = read_records(records)
        start = held.start_record
        assert start["cuda"] == start["sigopt_gpus"] == start["argv_gpus"] == "2,3"
        assert start["cpus"] == [CORE]
        assert start["threads"] == {
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
        }

    async def test_pinned_from_the_first_instruction(self, tmp_path: Path) -> None:
        """A shell script (no Python start-up to hide a late pin) reads its own mask
        before anything else, and so does the program it starts."""
        out = tmp_path / "mask"
        worker = SubprocessWorker(
            [
                "/bin/sh",
                "-c",
                f"grep Cpus_allowed_list /proc/$$/status > {out}; "
                f"grep Cpus_allowed_list /proc/self/status >> {out}; echo 1",
            ]
        )
        try:
            await evaluate(worker, held_evaluation(None, gpus=(), cpus=(CORE,)))
        finally:
            await worker.aclose()
        first, second = out.read_text().splitlines()
        assert first.split()[-1] == second.split()[-1] == str(CORE)

    async def test_thread_counts_from_workers_env_win(self, tmp_path: Path) -> None:
        records = tmp_path / "records"
        records.mkdir()
        worker = SubprocessWorker(command(records), env={"OMP_NUM_THREADS": "8"})
        try:
            await evaluate(worker, held_evaluation(tmp_path, gpus=(), cpus=(CORE,)))
        finally:
            await worker.aclose()
        (held,) = read_records(records)
        assert held.start_record["threads"] == {
            "OMP_NUM_THREADS": "8",
            "MKL_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
        }

    async def test_nothing_held_nothing_changed(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """No resources: the command gets the orchestrator's environment and mask as before."""
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7")
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        records = tmp_path / "records"
        records.mkdir()
        worker = SubprocessWorker(command(records))
        try:
            await evaluate(worker, held_evaluation(tmp_path, gpus=(), cpus=()))
        finally:
            await worker.aclose()
        (held,) = read_records(records)
        start = held.start_record
        assert (start["cuda"], start["sigopt_gpus"], start["argv_gpus"]) == ("7", None, "")
        assert start["cpus"] == list(available_cores())
        assert start["threads"]["OMP_NUM_THREADS"] is None

    async def test_gpus_in_a_shell_command(self, tmp_path: Path) -> None:
        """With `shell: true` the ids arrive quoted, as one word."""
        out = tmp_path / "argv.json"
        show = script(
            tmp_path, f"import json, sys; json.dump(sys.argv[1:], open({str(out)!r}, 'w'))"
        )
        worker = SubprocessWorker([f"python3 {show} --devices {{gpus}}; echo 1"], shell=True)
        try:
            await evaluate(worker, held_evaluation(None, gpus=(0, 1), cpus=()))
        finally:
            await worker.aclose()
        assert json.loads(out.read_text()) == ["--devices", "0,1"]

    async def test_cores_not_allowed_are_a_broken_worker(self, tmp_path: Path) -> None:
        """A core outside this process's mask (a changed cpuset) cannot be used: the
        command does not start, and that is the machine's fault, not the parameters'."""
        worker = SubprocessWorker(command(tmp_path))
        try:
            with pytest.raises(BrokenWorker, match="cannot start"):
                await evaluate(worker, held_evaluation(None, gpus=(), cpus=(4095,)))
        finally:
            await worker.aclose()

    async def test_concurrent_evaluations_each_see_their_own(self, tmp_path: Path) -> None:
        """Several commands started at once from one event loop: each gets its own mask,
        though they are all started from the same thread."""
        records = tmp_path / "records"
        records.mkdir()
        worker = SubprocessWorker(command(records), env={"RESOURCE_TAG": str(tmp_path)})
        cores = available_cores()
        evaluations = [
            held_evaluation(None, str(i), gpus=(i,), cpus=(cores[i % len(cores)],))
            for i in range(6)
        ]
        try:
            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    for ev in evaluations:
                        tg.start_soon(worker.evaluate, ev)
        finally:
            await worker.aclose()
        seen = {h.suggestion: (h.gpus, h.cpus) for h in read_records(records)}
        assert seen == {ev.id: (frozenset(ev.gpus), frozenset(ev.cpus)) for ev in evaluations}


def check(command_: list[str], parameters: list[str], **values: object) -> None:
    settings = WorkerSettings(command=command_, **values)  # type: ignore[arg-type]
    assert SUBPROCESS_KIND.check_parameters is not None
    SUBPROCESS_KIND.check_parameters(settings, parameters)


class TestGpusPlaceholder:
    """`{gpus}` is the orchestrator's own placeholder, checked before the run."""

    def test_needs_gpus_to_share_out(self) -> None:
        with pytest.raises(InvalidSetting, match=r"\{gpus\} needs `gpus`") as caught:
            check(["train", "--devices={gpus}"], ["x"])
        assert caught.value.field == "command[1]"

    def test_fine_with_gpus(self) -> None:
        check(["train", "--devices={gpus}"], ["x"], gpus=(0, 1))

    def test_a_parameter_called_gpus_is_ambiguous(self) -> None:
        with pytest.raises(InvalidSetting, match="ambiguous"):
            check(["train", "{gpus}"], ["gpus"], gpus=(0,))

    def test_a_parameter_called_gpus_is_fine_when_unused(self) -> None:
        check(["train", "{x}"], ["gpus", "x"])
