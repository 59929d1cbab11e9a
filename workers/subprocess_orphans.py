"""Find the evaluations a crashed run left running that it never got to record.

A run records each evaluation's process group in its folder right after the start
(`workers.subprocess._record_group`), so a restart can kill what a `kill -9` of the
coordinator left behind. Between the start and that record there is a thread hop: a kill
landing there leaves a group nobody knows, and a long evaluation then runs on, holding
its GPU, for hours. Every evaluation's environment names its own folder
(`SIGOPT_RESULT_FILE`), and so does anything it starts, so on Linux the restart also
looks through `/proc` for processes whose environment names a folder under the run's
evaluations folder, and kills their groups. Elsewhere (no `/proc`) the records alone
count.
"""

from __future__ import annotations

import os
from pathlib import Path

RESULT_ENV = "SIGOPT_RESULT_FILE"
_PROC = Path("/proc")


def _environ(pid: int) -> bytes | None:
    try:
        return (_PROC / str(pid) / "environ").read_bytes()
    # Gone meanwhile, another user's, or a kernel thread: not ours either way.
    except OSError:
        return None


def groups_naming(root: Path) -> set[int]:
    """Process groups holding a live process whose environment puts its result file under
    `root`: an evaluation of a run in that folder, or something one of them started. Never
    this process's own group."""
    if not _PROC.is_dir():
        return set()
    # `absolute()`, not `resolve()`: as the worker made the paths it put in the environment.
    prefix = os.fsencode(f"{RESULT_ENV}={root.absolute()}{os.sep}")
    own_group = os.getpgrp()
    groups = set()
    for entry in os.scandir(_PROC):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        environ = _environ(pid)
        if environ is None or not any(v.startswith(prefix) for v in environ.split(b"\0")):
            continue
        try:
            pgid = os.getpgid(pid)
        except ProcessLookupError:
            continue
        if pgid != own_group and pid != os.getpid():
            groups.add(pgid)
    return groups
