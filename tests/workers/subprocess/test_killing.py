"""SubprocessWorker cancellation and close: the whole process group is killed."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import anyio
import pytest

from tests.support.processes import is_gone, wait_gone
from tests.workers.subprocess.support import (
    DEADLINE_S,
    bare,
    cancel_when_ready,
    evaluate,
    evaluation,
    script,
    value_of,
)
from workers.errors import BrokenWorker
from workers.subprocess import SubprocessWorker

SPAWNS_GRANDCHILD = """
    import os, signal, subprocess, sys, time
    from pathlib import Path
    grandchild = subprocess.Popen([sys.executable, "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(100)"])
    time.sleep(0.2)  # let the grandchild install its handler
    workdir = Path(os.environ["SIGOPT_RESULT_FILE"]).parent
    (workdir / "pids.tmp").write_text(f"{os.getpid()} {grandchild.pid}")
    (workdir / "pids.tmp").rename(workdir / "pids")
    if sys.argv[1] == "hang":
        time.sleep(100)
    print('{"value": 1}')
"""


class TestKilling:
    """Cancellation and normal exit leave no process of the evaluation behind."""

    async def test_cancel_kills_command_and_grandchild(self, tmp_path: Path) -> None:
        """1. The command starts a grandchild that ignores SIGTERM, then hangs.
        2. The caller's fail_after expires.
        3. Both are dead (SIGTERM, then SIGKILL to the group) and TimeoutError reaches the caller.
        """
        worker = SubprocessWorker(
            [sys.executable, script(tmp_path, SPAWNS_GRANDCHILD), "hang"], kill_grace_s=5.0
        )
        ev = evaluation(tmp_path)
        assert ev.workdir is not None
        took = await cancel_when_ready(worker, ev, ev.workdir / "pids")
        pids = [int(p) for p in (ev.workdir / "pids").read_text().split()]
        await wait_gone(*pids)
        # The leader obeyed SIGTERM, so nobody waited out the grace period.
        assert took < 3.0
        assert "running=0" in repr(worker)

    async def test_background_grandchild_killed_after_normal_exit(self, tmp_path: Path) -> None:
        """A grandchild left running by a command that exited 0 is killed with its group."""
        worker = SubprocessWorker([sys.executable, script(tmp_path, SPAWNS_GRANDCHILD), "exit"])
        ev = evaluation(tmp_path)
        assert value_of(await evaluate(worker, ev)) == 1.0
        assert ev.workdir is not None
        pids = [int(p) for p in (ev.workdir / "pids").read_text().split()]
        await wait_gone(*pids)

    async def test_sigterm_ignored_means_sigkill_after_grace(self, tmp_path: Path) -> None:
        """A command ignoring SIGTERM is SIGKILLed once kill_grace_s has passed."""
        code = """
            import os, signal, time
            from pathlib import Path
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            ready = Path(os.environ["SIGOPT_RESULT_FILE"]).with_name("ready")
            ready.write_text(str(os.getpid()))
            time.sleep(100)
        """
        worker = SubprocessWorker([sys.executable, script(tmp_path, code)], kill_grace_s=0.5)
        ev = evaluation(tmp_path)
        assert ev.workdir is not None
        took = await cancel_when_ready(worker, ev, ev.workdir / "ready")
        assert 0.5 <= took < 3.0
        await wait_gone(int((ev.workdir / "ready").read_text()))

    async def test_aclose_kills_running_evaluation(self, tmp_path: Path) -> None:
        """Closing the worker mid-evaluation kills the command; its evaluate raises BrokenWorker."""
        code = """
            import os, time
            from pathlib import Path
            Path(os.environ["SIGOPT_RESULT_FILE"]).with_name("ready").write_text(str(os.getpid()))
            time.sleep(100)
        """
        worker = SubprocessWorker([sys.executable, script(tmp_path, code)], kill_grace_s=1.0)
        ev = evaluation(tmp_path)
        assert ev.workdir is not None
        ready = ev.workdir / "ready"
        with anyio.fail_after(DEADLINE_S):
            async with anyio.create_task_group() as tg:

                async def close_when_ready() -> None:
                    while not await anyio.Path(ready).exists():  # noqa: ASYNC110
                        await anyio.sleep(0.02)
                    await worker.aclose()

                tg.start_soon(close_when_ready)
                with pytest.raises(BrokenWorker, match="closed during evaluation"):
                    await worker.evaluate(ev)
        await wait_gone(int(ready.read_text()))


SLOW_TO_DIE = """
    import os, subprocess, sys, time
    from pathlib import Path
    # The kernel frees the memory of a killed process before it is a zombie: for 256 MB
    # that takes ~10 ms, the time a process holding GPU memory takes to let go of it.
    grandchild = subprocess.Popen([sys.executable, "-c",
        "import time; held = b'x' * (256 << 20); print(flush=True); time.sleep(100)"],
        stdout=subprocess.PIPE)
    grandchild.stdout.readline()
    workdir = Path(os.environ["SIGOPT_RESULT_FILE"]).parent
    (workdir / "pids.tmp").write_text(f"{os.getpid()} {grandchild.pid}")
    (workdir / "pids.tmp").rename(workdir / "pids")
    if sys.argv[1] == "hang":
        time.sleep(100)
    print('{"value": 1}')
"""


class TestDeadOnReturn:
    """`evaluate` returns or raises only once every process of the group has died, not
    just its leader: the GPUs and cores the evaluation held go back to the pool then."""

    async def test_after_a_normal_exit(self, tmp_path: Path) -> None:
        worker = SubprocessWorker([sys.executable, script(tmp_path, SLOW_TO_DIE), "exit"])
        ev = evaluation(tmp_path)
        assert ev.workdir is not None
        assert value_of(await evaluate(worker, ev)) == 1.0
        pids = [int(p) for p in (ev.workdir / "pids").read_text().split()]
        assert [pid for pid in pids if not is_gone(pid)] == []

    async def test_after_a_cancellation(self, tmp_path: Path) -> None:
        worker = SubprocessWorker(
            [sys.executable, script(tmp_path, SLOW_TO_DIE), "hang"], kill_grace_s=0.2
        )
        ev = evaluation(tmp_path)
        assert ev.workdir is not None
        await cancel_when_ready(worker, ev, ev.workdir / "pids")
        pids = [int(p) for p in (ev.workdir / "pids").read_text().split()]
        assert [pid for pid in pids if not is_gone(pid)] == []


class TestCloseWhileStarting:
    """`aclose` while an evaluation is still starting (writing its files, spawning) does
    not leave the command running: the evaluation ends it as soon as it has a process."""

    @pytest.mark.parametrize("with_workdir", [True, False])
    async def test_the_command_is_ended(self, tmp_path: Path, with_workdir: bool) -> None:
        worker = SubprocessWorker([sys.executable, "-c", "import time; time.sleep(30)"])
        ev = evaluation(tmp_path) if with_workdir else bare()
        start = time.monotonic()
        with anyio.fail_after(DEADLINE_S):
            async with anyio.create_task_group() as tg:

                async def close_at_once() -> None:
                    await worker.aclose()  # runs while evaluate waits on its first step

                tg.start_soon(close_at_once)
                with pytest.raises(BrokenWorker):
                    await worker.evaluate(ev)
        assert time.monotonic() - start < 10
        assert "running=0" in repr(worker)
