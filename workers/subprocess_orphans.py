"""Find what a crashed run started but never got to record, by its environment.

A run records each evaluation's process group in its folder right after the start
(`workers.subprocess._record_group`), so a restart can kill what a `kill -9` of the
coordinator left behind. Between the start and that record there is a thread hop; a kill
landing there would leave a group nobody knows, and a long evaluation would run on,
holding its GPU, for hours. So the folder holds a "starting" record from before the start,
and for each folder still in that state the restart looks through `/proc` (Linux) for
processes whose environment names that evaluation's result file, which the command and
everything it starts inherit. Only those folders: a process an evaluation that ended
normally left running on purpose (a daemon it detached, with `setsid`) is never touched.
Elsewhere (no `/proc`) such a group is not found.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from workers.subprocess_output import RESULT_ENV, RESULT_FILE

_PROC = Path("/proc")


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
