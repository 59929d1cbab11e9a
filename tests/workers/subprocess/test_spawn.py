"""spawn: a command's exit awaited on its pidfd, with the thread and anyio fallbacks."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import anyio
import pytest

from tests.support.processes import is_gone
from workers.subprocess import _spawn
from workers.subprocess._spawn import Child, spawn

DEADLINE_S = 20


async def start(code: str) -> Child:
    return await spawn(
        [sys.executable, "-c", code],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=None,
        env=dict(os.environ),
    )


async def wait(child: Child) -> int:
    with anyio.fail_after(DEADLINE_S):
        return await child.wait()


def refuse_pidfds(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(pid: int, flags: int = 0) -> int:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(os, "pidfd_open", refuse)


@pytest.fixture(params=["pidfd", "poll", "anyio"])
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each way of waiting: the pidfd; polling, when pidfds work but this child's could
    not be had (descriptors ran out); anyio, where pidfds do not work at all."""
    if request.param == "poll":
        assert _spawn.pidfds_work()  # asked (and cached) before the refusal
        refuse_pidfds(monkeypatch)
    elif request.param == "anyio":
        monkeypatch.setattr(_spawn, "pidfds_work", lambda: False)
    return str(request.param)


async def test_exit_status(way: str) -> None:
    child = await start("raise SystemExit(3)")
    assert await wait(child) == 3
    assert await wait(child) == 3  # again, once reaped
    assert is_gone(child.pid)


async def test_killed_by_a_signal_is_negative(way: str) -> None:
    child = await start("import time; time.sleep(60)")
    os.killpg(child.pid, signal.SIGKILL)
    assert await wait(child) == -signal.SIGKILL


async def test_leads_its_own_process_group(way: str) -> None:
    child = await start("import time; time.sleep(60)")
    try:
        assert os.getpgid(child.pid) == child.pid
        assert os.getsid(child.pid) == child.pid
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        await wait(child)


async def test_several_waiters_all_get_the_status(way: str) -> None:
    child = await start("import time; time.sleep(0.3); raise SystemExit(5)")
    statuses: list[int] = []

    async def waiter() -> None:
        statuses.append(await wait(child))

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(waiter)
    assert statuses == [5, 5, 5]


async def test_a_cancelled_wait_leaves_the_child_waitable(way: str) -> None:
    child = await start("import time; time.sleep(0.5); raise SystemExit(7)")
    with anyio.move_on_after(0.05) as scope:
        await child.wait()
    assert scope.cancelled_caught
    assert await wait(child) == 7


async def test_pidfd_wait_starts_no_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """The point of the pidfd: no thread per running command (asyncio's watcher starts
    one `waitpid` thread per child; a thread hop per wait would be as bad)."""

    def no_thread_hop(*args: object, **kwargs: object) -> None:
        raise AssertionError("waiting for a child took a thread hop")

    monkeypatch.setattr(anyio.to_thread, "run_sync", no_thread_hop)
    before = {t.ident for t in threading.enumerate()}
    children = [await start("import time; time.sleep(0.5)") for _ in range(4)]
    seen: set[int | None] = set()

    async def watch_threads() -> None:
        while True:
            seen.update(t.ident for t in threading.enumerate())
            await anyio.sleep(0.02)

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch_threads)
        with anyio.fail_after(DEADLINE_S):
            for child in children:
                assert await child.wait() == 0
        tg.cancel_scope.cancel()
    # Threads may have ended meanwhile (idle workers of anyio's pool); none may start.
    assert seen - before == set()


def is_pidfd(fd: int) -> bool:
    try:
        return os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:[pidfd]"
    except OSError:
        return False


async def test_pidfd_is_closed_once_reaped() -> None:
    child = await start("pass")
    assert isinstance(child, _spawn._PopenChild)
    fd = child._pidfd
    assert fd is not None and is_pidfd(fd)
    await wait(child)
    assert child._pidfd is None
    assert not is_pidfd(fd)  # closed, not only forgotten


async def test_a_missing_program_raises_oserror(way: str, tmp_path: Path) -> None:
    with pytest.raises(OSError):
        await spawn(
            [str(tmp_path / "missing")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=None,
            env=dict(os.environ),
        )


@pytest.mark.parametrize("way", ["pidfd", "poll"], indirect=True)
async def test_a_child_reaped_elsewhere_is_no_success(way: str) -> None:
    """`Popen.poll` calls a status it cannot have (ECHILD) 0; a failed command must not
    pass for a successful one."""
    child = await start("raise SystemExit(3)")
    # Someone else reaps it (SIGCHLD ignored, a waitpid(-1)); blocks only until it exits.
    os.waitpid(child.pid, 0)  # noqa: ASYNC222
    assert await wait(child) == _spawn.UNKNOWN_EXIT_STATUS


def test_pidfds_are_probed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    _spawn.pidfds_work.cache_clear()
    try:
        refuse_pidfds(monkeypatch)
        assert not _spawn.pidfds_work()
        monkeypatch.undo()
        assert not _spawn.pidfds_work()  # cached
    finally:
        _spawn.pidfds_work.cache_clear()
    assert _spawn.pidfds_work() == hasattr(os, "pidfd_open")
