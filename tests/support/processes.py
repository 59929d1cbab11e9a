"""Process checks shared by the tests that kill things."""

from __future__ import annotations

import anyio
import psutil


def is_gone(pid: int) -> bool:
    """Exited (a zombie counts: it runs nothing and waits only for its parent's reap)."""
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


async def wait_gone(*pids: int) -> None:
    """Assert every pid is gone within 5 s: SIGKILL is sent, not awaited, and re-parented
    grandchildren are reaped by init a moment after the kill."""
    with anyio.move_on_after(5):
        while not all(is_gone(pid) for pid in pids):  # noqa: ASYNC110 - no event to wait on
            await anyio.sleep(0.02)
    assert [pid for pid in pids if not is_gone(pid)] == [], "processes outlived the kill"
