"""Start a command in its own process group, with pipes for its output, and await its
exit without a thread per command.

asyncio (before 3.12) learns that a child exited from `ThreadedChildWatcher`: one thread
per child, blocked in `waitpid`, waking the event loop through its self-pipe, a cost paid
per command (see docs/benchmark-results.md, `benchmarks.subprocess_workers`).
On Linux (5.3+) the kernel hands out a descriptor for a process, a *pidfd*, that becomes
readable when the process exits: the event loop waits on it like on a socket, and
`waitpid` then returns at once. Python 3.12 made the same switch (`PidfdChildWatcher`).
Where pidfds do not work (no `os.pidfd_open`, a kernel before 5.3, a seccomp filter),
`anyio.open_process` is used as before, unless the command is pinned to cores: it is then
started here too and polled.

A pinned command (`cpus`) is started from a thread pinned to those cores for the moment
of the start (`pinned_thread`): the process inherits the mask, so it is pinned before it
runs its first instruction.

The leader's reap says nothing of the rest of its group: a SIGKILLed grandchild dies when
it next runs, and frees its memory and closes its files (a GPU's included) as it does.
`group_ended` waits for that, so what the evaluation held can go to the next one.

```python
child = await spawn(["sleep", "1"], stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL,
                    cwd=None, env=dict(os.environ))
returncode = await child.wait()
```
"""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import IO, Protocol, TypedDict

import anyio
import anyio.to_thread
import structlog

from workers.errors import BrokenWorker
from workers.resources import pinned_thread

__all__ = ["UNKNOWN_EXIT_STATUS", "Child", "Pipes", "group_ended", "pidfds_work", "spawn"]

log = structlog.get_logger()

Stream = IO[bytes] | int

#: The status of a child someone else reaped (SIGCHLD ignored, a stray `waitpid(-1)`):
#: what asyncio's child watcher reports too. Never 0: an unknown exit is no success.
UNKNOWN_EXIT_STATUS = 255
#: How often a child is polled when its pidfd could not be had (descriptors ran out).
_POLL_INTERVAL_S = 0.02
#: How often a SIGKILLed group is looked at until its last process has died (a few ms).
_GROUP_POLL_INTERVAL_S = 0.005
_PROC = Path("/proc")


class Child(Protocol):
    """A started command: its pid (the leader of its own session) and its exit status."""

    @property
    def pid(self) -> int: ...

    async def wait(self) -> int:
        """The exit status (negative: the signal that killed it), once it has exited.
        Safe to call from several tasks, and again after it returned."""
        ...


@functools.cache
def pidfds_work() -> bool:
    """Whether this process can have pidfds (asked once, of our own pid)."""
    if not hasattr(os, "pidfd_open"):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:  # ENOSYS: kernel before 5.3; EPERM: a seccomp filter
        return False
    return True


class _PopenChild:
    """A `subprocess.Popen` reaped here with `waitpid`: on its pidfd's readiness, or by
    polling when the pidfd could not be had (`pidfd` None)."""

    def __init__(self, popen: subprocess.Popen[bytes], pidfd: int | None) -> None:
        self._popen = popen
        self._pidfd = pidfd
        self._returncode: int | None = None
        # One waiter at a time on the descriptor (anyio allows no more); the others queue
        # here and find the status already reaped.
        self._lock = anyio.Lock()

    @property
    def pid(self) -> int:
        return self._popen.pid

    async def wait(self) -> int:
        async with self._lock:
            while self._returncode is None:
                if self._reap() is not None:
                    break
                if self._pidfd is not None:
                    await anyio.wait_readable(self._pidfd)
                else:
                    await anyio.sleep(_POLL_INTERVAL_S)
            assert self._returncode is not None
            return self._returncode

    def _reap(self) -> int | None:
        """The exit status if the child has exited (reaping it), else None."""
        try:
            pid, status = os.waitpid(self._popen.pid, os.WNOHANG)
        except ChildProcessError:
            # Reaped by someone else: its status is lost. `Popen.poll` would call that 0,
            # a success; asyncio's watcher says 255 and so do we.
            log.warning("subprocess_reaped_elsewhere", pid=self._popen.pid)
            returncode = UNKNOWN_EXIT_STATUS
        else:
            if pid == 0:
                return None
            returncode = os.waitstatus_to_exitcode(status)
        self._returncode = returncode
        self._popen.returncode = returncode  # so Popen never waits for it again
        self._close()
        return returncode

    def _close(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    def __del__(self) -> None:
        # Only a child nobody waited for gets here with its descriptor open.
        self._close()


def _group_exists(pgid: int) -> bool:
    """Whether group `pgid` has a process at all, zombies included (one syscall)."""
    try:
        os.killpg(pgid, 0)
    # As `signal_group`: ESRCH, gone; EPERM, only zombies are left (macOS).
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _has_live_member(pgid: int) -> bool:
    """Whether a process of group `pgid` has not died yet: running, or still exiting. A
    zombie is dead (it holds nothing), and an orphan's is init's to reap, not ours to
    wait for. Blocking (reads `/proc`); without `/proc`, every member counts as live."""
    if not _PROC.is_dir():
        return True
    for entry in os.scandir(_PROC):
        if not entry.name.isdigit():
            continue
        try:
            with open(os.path.join(entry.path, "stat"), "rb") as stat:
                fields = stat.read().rpartition(b")")[2].split(maxsplit=3)
        except OSError:  # gone meanwhile
            continue
        # After the command name (which may hold spaces and parentheses): state, ppid, pgrp.
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state not in (b"Z", b"X"):
            return True
    return False


async def group_ended(pgid: int) -> None:
    """Return once no process of group `pgid` is alive. The caller has SIGKILLed the
    group, and bounds the wait: a process stuck in the kernel (D state) dies late.
    Usually the group is gone with its reaped leader, and this costs one syscall; else
    `/proc` is read in a thread until its last process has died."""
    # Polled: a process we are not the parent of tells nobody it died.
    while _group_exists(pgid):
        if not await anyio.to_thread.run_sync(_has_live_member, pgid):
            return
        await anyio.sleep(_GROUP_POLL_INTERVAL_S)


class _Options(TypedDict):
    """What both ways of starting take alike (a TypedDict, so `**` stays typed)."""

    stdin: Stream
    stdout: Stream
    stderr: Stream
    cwd: Path | None
    env: Mapping[str, str]
    start_new_session: bool


async def spawn(
    argv: Sequence[str],
    *,
    stdin: Stream,
    stdout: Stream,
    stderr: Stream,
    cwd: Path | None,
    env: Mapping[str, str],
    cpus: Collection[int] = (),
) -> Child:
    """Start `argv` as the leader of a new session (so of its own process group), pinned
    to `cpus` when given.

    Raises `OSError` when it cannot start (not found, not executable, cores not allowed).
    The caller must `wait()` for the child; a cancellation cannot land between the start
    and the return.
    """
    options = _Options(
        stdin=stdin, stdout=stdout, stderr=stderr, cwd=cwd, env=env, start_new_session=True
    )
    if not pidfds_work() and not cpus:
        # anyio's Process is a `Child` already; its wait is asyncio's child watcher. Not
        # for a pinned command: open_process awaits before it starts the process, and
        # another task could pin this thread differently meanwhile.
        return await anyio.open_process(argv, **options)
    # Started on the loop, as asyncio's own subprocess transport does: the fork/exec of
    # `_posixsubprocess` (vfork on Linux) holds the loop only until the child has exec'd,
    # and a thread hop to avoid that would cost more CPU than it saves.
    with pinned_thread(cpus):
        popen = subprocess.Popen(argv, **options)  # noqa: ASYNC220
    pidfd: int | None = None
    if pidfds_work():
        try:
            pidfd = os.pidfd_open(popen.pid)
        except OSError as exc:
            # Out of descriptors (EMFILE, ENFILE): the command runs already, so it is
            # polled rather than left unwatched.
            log.warning("pidfd_unavailable", pid=popen.pid, error=str(exc))
    return _PopenChild(popen, pidfd)


class Pipes:
    """stdout and stderr pipes for a command: the write ends go to the child and are
    closed here once it started, the read ends are non-blocking and closed on exit."""

    def __init__(self) -> None:
        self._fds: list[int] = []
        try:
            self.stdout_read, self.stdout_write = self._pipe()
            self.stderr_read, self.stderr_write = self._pipe()
        except OSError as exc:  # out of descriptors
            self._close(*list(self._fds))
            raise BrokenWorker(f"cannot make pipes for the command: {exc}") from exc

    def _pipe(self) -> tuple[int, int]:
        read, write = os.pipe()
        self._fds += [read, write]
        os.set_blocking(read, False)
        return read, write

    def close_write_ends(self) -> None:
        self._close(self.stdout_write, self.stderr_write)

    def _close(self, *fds: int) -> None:
        for fd in fds:
            if fd in self._fds:
                self._fds.remove(fd)
                os.close(fd)

    def __enter__(self) -> Pipes:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._close(*list(self._fds))
