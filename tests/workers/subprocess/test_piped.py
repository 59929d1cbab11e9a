"""SubprocessWorker without a run folder: output through pipes, files in its scratch
folder, nothing left behind."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import tracemalloc
from pathlib import Path

import anyio
import pytest

from tests.support.processes import wait_gone
from tests.workers.subprocess.support import (
    DEADLINE_S,
    HUGE_STDOUT,
    bare,
    cancel_when_ready,
    evaluate,
    failed,
    script,
    value_of,
)
from workers.subprocess import PIPE_DRAIN_TIMEOUT_S, SubprocessWorker


def scratch_files(worker: SubprocessWorker) -> list[str]:
    folder = worker._scratch.path
    return sorted(p.name for p in folder.iterdir()) if folder is not None else []


class TestWithoutWorkdir:
    """No workdir: output through pipes (tails only), JSON files in the worker's private
    folder under per-evaluation names, nothing left behind."""

    async def test_files_are_private_unique_and_removed(self, tmp_path: Path) -> None:
        code = """
            import json, os, sys
            from pathlib import Path
            seen = {k: os.environ[k] for k in ("SIGOPT_ASSIGNMENTS_FILE", "SIGOPT_RESULT_FILE")}
            seen["assignments"] = json.loads(Path(seen["SIGOPT_ASSIGNMENTS_FILE"]).read_text())
            Path(sys.argv[1] + os.environ["SIGOPT_SUGGESTION_ID"]).write_text(json.dumps(seen))
            Path(os.environ["SIGOPT_RESULT_FILE"]).write_text('{"value": 3}')
            print('{"value": 4}')
        """
        record = str(tmp_path / "seen-")
        worker = SubprocessWorker([sys.executable, script(tmp_path, code), record])
        with anyio.fail_after(DEADLINE_S):
            async with anyio.create_task_group() as tg:
                for i in range(3):
                    tg.start_soon(worker.evaluate, bare(str(i), x=i))
            # The result file wins over stdout, as with a workdir.
            assert value_of(await worker.evaluate(bare("9", x=9))) == 3.0
        seen = [json.loads((tmp_path / f"seen-{i}").read_text()) for i in (0, 1, 2, 9)]
        assert [s["assignments"] for s in seen] == [{"x": 0}, {"x": 1}, {"x": 2}, {"x": 9}]
        paths = {s[k] for s in seen for k in ("SIGOPT_ASSIGNMENTS_FILE", "SIGOPT_RESULT_FILE")}
        assert len(paths) == 8  # one name per evaluation, even when they overlap
        folder = worker._scratch.path
        assert folder is not None and {str(Path(p).parent) for p in paths} == {str(folder)}
        assert folder.stat().st_mode & 0o777 == 0o700
        assert scratch_files(worker) == []  # each evaluation removed its files
        await worker.aclose()
        assert not folder.exists()

    async def test_huge_stdout_is_parsed_from_a_bounded_tail(self, tmp_path: Path) -> None:
        """50 MB through the pipe: the metric from its last line, memory bounded."""
        worker = SubprocessWorker([sys.executable, script(tmp_path, HUGE_STDOUT)])
        tracemalloc.start()
        try:
            outcome = await evaluate(worker, bare())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            await worker.aclose()
        assert value_of(outcome) == 7.0
        assert peak < 4 * 1024 * 1024

    async def test_failures_carry_the_stderr_tail(self, tmp_path: Path) -> None:
        code = "import sys; sys.stderr.write('x' * 9000 + 'boom'); sys.exit(3)"
        worker = SubprocessWorker([sys.executable, "-c", code])
        outcome = failed(await evaluate(worker, bare()), "exit_code")
        tail = str(outcome.details["stderr_tail"])
        assert tail.endswith("boom") and len(tail) == 2000
        worker_quiet = SubprocessWorker([sys.executable, "-c", "print('done')"])
        assert (
            "stderr_tail" not in failed(await evaluate(worker_quiet, bare()), "no_metric").details
        )
        await worker.aclose()
        await worker_quiet.aclose()

    async def test_cancel_kills_the_group_and_removes_the_files(self, tmp_path: Path) -> None:
        ready = tmp_path / "pids"
        code = f"""
            import subprocess, sys, time, os
            from pathlib import Path
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(100)"])
            Path({str(ready)!r} + ".tmp").write_text(f"{{os.getpid()}} {{child.pid}}")
            Path({str(ready)!r} + ".tmp").rename({str(ready)!r})
            time.sleep(100)
        """
        worker = SubprocessWorker([sys.executable, script(tmp_path, code)], kill_grace_s=1.0)
        took = await cancel_when_ready(worker, bare(), ready)
        assert took < 3.0
        await wait_gone(*(int(p) for p in ready.read_text().split()))
        assert scratch_files(worker) == []
        await worker.aclose()

    async def test_a_process_that_left_the_group_cannot_hold_the_evaluation(
        self, tmp_path: Path
    ) -> None:
        """The command prints its metric and exits at once, but a grandchild in its own
        session keeps stdout open. Reading stops PIPE_DRAIN_TIMEOUT_S after the group is
        gone, and the outcome is the metric even under a deadline shorter than that."""
        pid_file = tmp_path / "escaped"
        code = f"""
            import subprocess, sys
            from pathlib import Path
            escaped = subprocess.Popen(
                [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
            )
            Path({str(pid_file)!r}).write_text(str(escaped.pid))
            print('{{"value": 2}}', flush=True)
        """
        worker = SubprocessWorker([sys.executable, script(tmp_path, code)])
        try:
            start = time.monotonic()
            with anyio.fail_after(PIPE_DRAIN_TIMEOUT_S / 2 + 0.5):
                outcome = await worker.evaluate(bare())
            assert value_of(outcome) == 2.0
            assert time.monotonic() - start < PIPE_DRAIN_TIMEOUT_S + 5
        finally:
            await worker.aclose()
            if pid_file.exists():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid_file.read_text()), 9)

    async def test_no_descriptor_is_left_open(self, tmp_path: Path) -> None:
        """Pipes of finished, failed and cancelled evaluations are all closed."""
        worker = SubprocessWorker([sys.executable, "-c", "import sys; print('{{\"value\": 1}}')"])
        failing = SubprocessWorker([sys.executable, "-c", "import sys; sys.exit(2)"])
        hanging = SubprocessWorker([sys.executable, "-c", "import time; time.sleep(60)"])
        await evaluate(worker, bare())  # the scratch folder and any lazy state exist now
        before = len(os.listdir("/proc/self/fd"))
        with anyio.fail_after(DEADLINE_S):
            async with anyio.create_task_group() as tg:
                for i in range(8):
                    tg.start_soon(worker.evaluate, bare(str(i)))
                    tg.start_soon(failing.evaluate, bare(str(i)))
            for i in range(3):
                with anyio.move_on_after(0.3):
                    await hanging.evaluate(bare(str(i)))
        for w in (worker, failing, hanging):
            await w.aclose()
        # No growth: descriptors other tests left may be closed meanwhile, so not ==.
        assert len(os.listdir("/proc/self/fd")) <= before


class TestWhatTheCommandLeavesAtTheResultPath:
    """Anything but a regular file at SIGOPT_RESULT_FILE is no result (the metric then
    comes from stdout), never a broken worker; nothing is left behind, no fd leaks."""

    MAKERS = {
        "directory": "import os; os.mkdir(os.environ['SIGOPT_RESULT_FILE'])",
        "fifo": "import os; os.mkfifo(os.environ['SIGOPT_RESULT_FILE'])",
        "socket": (
            "import os, socket; s = socket.socket(socket.AF_UNIX); "
            "s.bind(os.environ['SIGOPT_RESULT_FILE'])"
        ),
        "symlink loop": ("import os; p = os.environ['SIGOPT_RESULT_FILE']; os.symlink(p, p)"),
    }

    @pytest.mark.parametrize("kind", list(MAKERS))
    async def test_no_result_and_nothing_left(self, tmp_path: Path, kind: str) -> None:
        code = self.MAKERS[kind] + "; print('{\"value\": 5}')"
        template = code.replace("{", "{{").replace("}", "}}")  # literal braces
        worker = SubprocessWorker([sys.executable, "-c", template])
        try:
            assert value_of(await evaluate(worker, bare("0"))) == 5.0  # warm-up
            fds_before = sorted(os.listdir("/proc/self/fd"))
            assert value_of(await evaluate(worker, bare("1"))) == 5.0
            assert scratch_files(worker) == []
            assert sorted(os.listdir("/proc/self/fd")) == fds_before
        finally:
            await worker.aclose()
