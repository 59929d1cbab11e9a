"""Process checks shared by the tests that kill things."""

from __future__ import annotations

import psutil


def is_gone(pid: int) -> bool:
    """Exited (a zombie counts: it runs nothing and waits only for its parent's reap)."""
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True
