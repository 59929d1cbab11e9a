"""Start a command and await its exit without a thread per command.

asyncio (before 3.12) learns that a child exited from `ThreadedChildWatcher`: one thread
per child, blocked in `waitpid`, waking the event loop through its self-pipe. On this
2-core machine that thread cost ~0.33 ms of CPU per command, a third of all the CPU the
plain-asyncio floor spends per short command (measured in `benchmarks.subprocess_workers`).
On Linux (5.3+) the kernel hands out a descriptor for a process, a *pidfd*, that becomes
readable when the process exits: the event loop waits on it like on a socket, and
`waitpid` then returns at once. Python 3.12 made the same switch (`PidfdChildWatcher`).
Where `os.pidfd_open` is missing or refused, `anyio.open_process` is used as before.

```python
child = await spawn(["sleep", "1"], stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL,
                    cwd=None, env=dict(os.environ))
returncode = await child.wait()
```
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Protocol

import anyio

__all__ = ["Child", "spawn"]

Stream = IO[bytes] | int


class Child(Protocol):
    """A started command: its pid (the leader of its own session) and its exit status."""

    @property
    def pid(self) -> int: ...

    async def wait(self) -> int:
        """The exit status (negative: the signal that killed it), once it has exited.
        Safe to call from several tasks, and again after it returned."""
        ...


class _PidfdChild:
    """A `subprocess.Popen` whose exit is awaited on its pidfd."""

    def __init__(self, popen: subprocess.Popen[bytes], pidfd: int) -> None:
        self._popen = popen
        self._pidfd: int | None = pidfd
        # One waiter at a time on the descriptor (anyio allows no more); the others queue
        # here and find the status already reaped.
        self._lock = anyio.Lock()

    @property
    def pid(self) -> int:
        return self._popen.pid

    async def wait(self) -> int:
        async with self._lock:
            while self._pidfd is not None:
                # The pid stays ours until reaped, so poll() cannot reap a stranger; it
                # returns None only if the process has not exited yet.
                if self._popen.poll() is not None:
                    self._close()
                    break
                await anyio.wait_readable(self._pidfd)
            returncode = self._popen.returncode
            assert returncode is not None  # reaped above, or by an earlier wait
            return returncode

    def _close(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    def __del__(self) -> None:
        # Only a child nobody waited for gets here with its descriptor open.
        self._close()


class _AnyioChild:
    """The portable way: `anyio.open_process`, whose wait is asyncio's child watcher."""

    def __init__(self, process: anyio.abc.Process) -> None:
        self._process = process

    @property
    def pid(self) -> int:
        return self._process.pid

    async def wait(self) -> int:
        return await self._process.wait()


async def spawn(
    argv: Sequence[str],
    *,
    stdin: Stream,
    stdout: Stream,
    stderr: Stream,
    cwd: Path | None,
    env: Mapping[str, str],
) -> Child:
    """Start `argv` as the leader of a new session (so of its own process group).

    Raises `OSError` when it cannot start (not found, not executable). The caller must
    `wait()` for the child; a cancellation cannot land between the start and the return.
    """
    if not hasattr(os, "pidfd_open"):
        return await _open_with_anyio(argv, stdin, stdout, stderr, cwd, env)
    # Started on the loop, as asyncio's own subprocess transport does: the fork/exec of
    # `_posixsubprocess` (vfork on Linux) holds the loop only until the child has exec'd,
    # and a thread hop to avoid that would cost more CPU than it saves.
    popen = subprocess.Popen(  # noqa: ASYNC220
        list(argv),
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        cwd=cwd,
        env=dict(env),
        start_new_session=True,
    )
    try:
        pidfd = os.pidfd_open(popen.pid)
    except OSError:
        # ENOSYS (kernel before 5.3), EMFILE, a seccomp filter: wait the blocking way, in
        # a thread, rather than leave a started command unwatched.
        return _ThreadWaitChild(popen)
    return _PidfdChild(popen, pidfd)


class _ThreadWaitChild:
    """A started `Popen` whose pidfd could not be had: waited for in a worker thread."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self._popen = popen

    @property
    def pid(self) -> int:
        return self._popen.pid

    async def wait(self) -> int:
        while (returncode := self._popen.poll()) is None:
            # Bounded, so a cancellation is seen within a second; the thread is abandoned
            # on cancel (Popen.wait is safe to leave running) instead of blocking it.
            await anyio.to_thread.run_sync(_wait_up_to, self._popen, 1.0, abandon_on_cancel=True)
        return returncode


def _wait_up_to(popen: subprocess.Popen[bytes], timeout_s: float) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        popen.wait(timeout_s)


async def _open_with_anyio(
    argv: Sequence[str],
    stdin: Stream,
    stdout: Stream,
    stderr: Stream,
    cwd: Path | None,
    env: Mapping[str, str],
) -> Child:
    process = await anyio.open_process(
        list(argv),
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        cwd=cwd,
        env=dict(env),
        start_new_session=True,
    )
    return _AnyioChild(process)
