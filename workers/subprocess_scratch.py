"""The private folder where a `SubprocessWorker` keeps the two JSON files of evaluations
that have no workdir (a library run without a run folder).

Every evaluation writes `assignments.json` before its command starts and reads
`result.json` after it exits. In a worker thread that is two thread hops per evaluation,
which cost ~0.55 ms of CPU on this 2-core machine: half of what the plain-asyncio floor
spends per short command. So the folder goes on a file system held in memory (tmpfs)
when one is at hand, and there these few small operations run on the event loop: a
tmpfs write or read copies memory and never waits for a device. Elsewhere they keep
their thread hop.

The folder is the temporary directory (`TMPDIR`, else the platform's) when that is in
memory; else `/dev/shm` (Linux) unless the user chose a `TMPDIR`; else the temporary
directory, with thread hops. It is made with mode 0o700 on first use and removed by
`remove()`.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, TypeVar

import anyio
import anyio.to_thread

from workers.base import AssignmentValue
from workers.errors import BrokenWorker
from workers.subprocess_output import RESULT_FILE, read_tail

__all__ = [
    "ASSIGNMENTS_FILE",
    "MEMORY_FILE_SYSTEMS",
    "ScratchFolder",
    "file_system_type",
    "write_assignments",
]

ASSIGNMENTS_FILE = "assignments.json"
#: The most a result file read on the event loop may copy (the worker's `max_output_bytes`
#: is 64 KiB by default; above this, the read takes its thread hop).
INLINE_READ_MAX_BYTES = 1024 * 1024
MEMORY_FILE_SYSTEMS = frozenset({"tmpfs", "ramfs"})
_SHARED_MEMORY = Path("/dev/shm")
_MOUNTINFO = Path("/proc/self/mountinfo")

T = TypeVar("T")


def private_file(path: Path) -> IO[bytes]:
    """Open for writing (truncated), mode 0o600 however the umask is set."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its old mode otherwise
    return os.fdopen(fd, "wb")


def write_assignments(path: Path, assignments: Mapping[str, AssignmentValue]) -> None:
    with private_file(path) as f:
        f.write(json.dumps(dict(assignments)).encode())


def _unescape_mount_point(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as octal escapes (\040 ...).
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def file_system_type(path: Path, mountinfo: Path = _MOUNTINFO) -> str | None:
    """The type of the file system holding `path` ("tmpfs", "ext4", ...), from the
    mount table; None where there is none to read (not Linux). Blocking: small reads."""
    try:
        lines = mountinfo.read_text().splitlines()
    except OSError:
        return None
    target = os.path.realpath(path)
    best: tuple[int, str] | None = None
    for line in lines:
        # "<id> <parent> <major:minor> <root> <mount point> <options> ... - <type> ..."
        fields, _, tail = line.partition(" - ")
        parts = fields.split()
        if len(parts) < 5 or not tail:
            continue
        mount_point = _unescape_mount_point(parts[4])
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        # The deepest mount point holding the path; a later mount on the same point
        # hides an earlier one, hence >=.
        if inside and (best is None or len(mount_point) >= best[0]):
            best = (len(mount_point), tail.split()[0])
    return None if best is None else best[1]


def _in_memory(path: Path) -> bool:
    return file_system_type(path) in MEMORY_FILE_SYSTEMS


def _choose_parent() -> tuple[Path, bool]:
    """Where to make the folder, and whether that is in memory. Blocking."""
    temp = Path(tempfile.gettempdir())
    if _in_memory(temp):
        return temp, True
    shm_usable = os.access(_SHARED_MEMORY, os.W_OK | os.X_OK)
    if "TMPDIR" not in os.environ and shm_usable and _in_memory(_SHARED_MEMORY):
        return _SHARED_MEMORY, True
    return temp, False


def _make_folder() -> tuple[Path, bool]:
    parent, in_memory = _choose_parent()
    try:
        return Path(tempfile.mkdtemp(prefix="sigopt-worker-", dir=parent)), in_memory
    except OSError:
        if parent == Path(tempfile.gettempdir()):
            raise
        # /dev/shm full or refused: the ordinary temporary directory still works.
        return Path(tempfile.mkdtemp(prefix="sigopt-worker-")), False


def _collect(assignments: Path, result: Path, max_bytes: int) -> tuple[bytes, bool] | None:
    """Read the result file if the command wrote one, then remove both files."""
    found = read_tail(result, max_bytes) if result.exists() else None
    result.unlink(missing_ok=True)
    assignments.unlink(missing_ok=True)
    return found


class ScratchFolder:
    """One worker's folder for the JSON files of its evaluations, under unique names."""

    def __init__(self) -> None:
        self._path: Path | None = None
        self._in_memory = False
        self._lock = anyio.Lock()
        self._names = itertools.count()

    @property
    def path(self) -> Path | None:
        """The folder, once the first evaluation made it."""
        return self._path

    @property
    def in_memory(self) -> bool:
        """Whether the folder (made by now) is on a file system held in memory."""
        return self._in_memory

    async def new_files(self) -> tuple[Path, Path]:
        """Names for one evaluation's assignments and result files, in the folder (made
        on first use). Raises `BrokenWorker` when the folder cannot be made."""
        async with self._lock:
            folder = self._path
            if folder is None:
                try:
                    made, self._in_memory = await anyio.to_thread.run_sync(_make_folder)
                except OSError as exc:
                    raise BrokenWorker(f"cannot make a temporary folder: {exc}") from exc
                folder = self._path = made
        name = next(self._names)
        return folder / f"{name}.{ASSIGNMENTS_FILE}", folder / f"{name}.{RESULT_FILE}"

    async def write_assignments(
        self, path: Path, assignments: Mapping[str, AssignmentValue]
    ) -> None:
        await self._run(write_assignments, path, assignments)

    async def collect(
        self, assignments: Path, result: Path, max_bytes: int
    ) -> tuple[bytes, bool] | None:
        """The tail of the result file, if the command wrote one; both files removed.
        Not abandoned on cancel: the files must not outlive the evaluation."""
        if max_bytes > INLINE_READ_MAX_BYTES:
            # Even from memory, copying megabytes would hold the loop for milliseconds.
            return await anyio.to_thread.run_sync(
                _collect, assignments, result, max_bytes, abandon_on_cancel=False
            )
        return await self._run(_collect, assignments, result, max_bytes)

    async def remove(self) -> None:
        if self._path is not None:
            await anyio.to_thread.run_sync(shutil.rmtree, self._path, True)

    async def _run(self, work: Callable[..., T], *args: object) -> T:
        if self._in_memory:
            return work(*args)
        return await anyio.to_thread.run_sync(work, *args, abandon_on_cancel=False)
