"""Crash recovery: kill the process groups a run killed with -9 left running.

A run records each evaluation's process group in its folder (`GROUP_FILE`) right after
the start, so a restart can kill what a `kill -9` of the coordinator left behind. Between
the start and that record there is a thread hop; a kill landing there would leave a group
nobody knows, and a long evaluation would run on, holding its GPU, for hours. So the
folder holds a "starting" record from before the start, and for each folder still in that
state the restart looks through `/proc` (Linux) for processes whose environment names
that evaluation's result file, which the command and everything it starts inherit. Only
those folders: a process an evaluation that ended normally left running on purpose (a
daemon it detached, with `setsid`) is never touched. Elsewhere (no `/proc`) such a group
is not found.

```python
mark_starting(workdir)            # before the start
record_group(workdir, pid)        # once started (its pid is its group id)
forget_group(workdir)             # once the group is gone
kill_leftover_groups(run_dir / "evaluations")   # at the restart of a crashed run
```
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from pathlib import Path

import structlog

from workers.subprocess._output import RESULT_ENV, RESULT_FILE

__all__ = [
    "GROUP_FILE",
    "STARTING_RECORD",
    "forget_group",
    "groups_naming",
    "kill_leftover_groups",
    "mark_starting",
    "record_group",
    "signal_group",
    "start_time",
]

log = structlog.get_logger()

#: Written while an evaluation's process group runs: "<pgid> <leader start time>"; before
#: the start, `STARTING_RECORD`.
GROUP_FILE = "process_group"
STARTING_RECORD = "starting"
_PROC = Path("/proc")


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # Field 22; the command name (field 2) may hold spaces, so split after its ')'.
    return stat.rpartition(")")[2].split()[19]


def mark_starting(workdir: Path) -> None:
    """Before the start: a run killed before the group is recorded leaves this for its
    restart, which then finds the group by its environment (`groups_naming`)."""
    (workdir / GROUP_FILE).write_text(f"{STARTING_RECORD}\n")


def record_group(workdir: Path, pgid: int) -> None:
    """Leave the group's id in the evaluation folder until the group is gone, so a run
    restarted after a kill -9 of the coordinator can kill what that run left behind."""
    (workdir / GROUP_FILE).write_text(f"{pgid} {start_time(pgid) or '-'}\n")


def forget_group(workdir: Path) -> None:
    """The group has exited: nothing of it is left for a restart to kill."""
    (workdir / GROUP_FILE).unlink(missing_ok=True)


def signal_group(pgid: int, sig: signal.Signals) -> bool:
    """Signal a process group; False if it has no process left."""
    try:
        os.killpg(pgid, sig)
    # ESRCH: the group is gone. EPERM: only zombies are left (macOS reports that).
    except (ProcessLookupError, PermissionError):
        return False
    return True


def kill_leftover_groups(root: Path) -> int:
    """SIGKILL the process groups that evaluations under `root` left running (a
    coordinator killed with -9 could not); returns how many were killed.

    A recorded group counts only if its leader's start time still matches, so a pid
    reused by an unrelated process is never touched. An evaluation whose record still
    says it was starting had its group found by its environment (`groups_naming`).
    """
    killed: set[int] = set()
    starting: list[Path] = []
    for record in root.glob(f"*/{GROUP_FILE}"):
        try:
            text = record.read_text().strip()
        except OSError:
            continue
        if text == STARTING_RECORD:
            starting.append(record.parent)
        else:
            try:
                pgid_text, started = text.split()
                pgid = int(pgid_text)
            except ValueError:
                continue
            if (
                started != "-"
                and start_time(pgid) == started
                and signal_group(pgid, signal.SIGKILL)
            ):
                killed.add(pgid)
                log.warning(
                    "leftover_process_group_killed", pgid=pgid, evaluation=record.parent.name
                )
        record.unlink(missing_ok=True)
    for pgid in groups_naming(starting) - killed:
        if signal_group(pgid, signal.SIGKILL):
            killed.add(pgid)
            log.warning("leftover_process_group_killed", pgid=pgid, found_by="environment")
    return len(killed)


def _environ(pid: int) -> bytes | None:
    try:
        return (_PROC / str(pid) / "environ").read_bytes()
    # Gone meanwhile, another user's, or a kernel thread: not ours either way.
    except OSError:
        return None


def groups_naming(folders: Sequence[Path]) -> set[int]:
    """Process groups holding a live process whose environment gives, as its result
    file, the one of an evaluation folder in `folders`. Never this process's own group.
    No scan at all for no folders (the usual restart)."""
    if not folders or not _PROC.is_dir():
        return set()
    # `absolute()`, not `resolve()`: as the worker made the path it put in the environment.
    wanted = {os.fsencode(f"{RESULT_ENV}={folder.absolute() / RESULT_FILE}") for folder in folders}
    own_group = os.getpgrp()
    uid = os.getuid()
    groups = set()
    for entry in os.scandir(_PROC):
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue  # another user's process cannot be one of our evaluations
        except OSError:
            continue
        pid = int(entry.name)
        environ = _environ(pid)
        if environ is None or wanted.isdisjoint(environ.split(b"\0")):
            continue
        try:
            pgid = os.getpgid(pid)
        except ProcessLookupError:
            continue
        if pgid != own_group:
            groups.add(pgid)
    return groups
