"""Where an evaluation's files live: its own run folder (`prepare_workdir`, kept for the
user), or, for evaluations that have no workdir (a library run without a run folder), the
worker's private scratch folder (`ScratchFolder`, removed).

Every evaluation writes `assignments.json` before its command starts and reads
`result.json` after it exits. In a worker thread that is two thread hops per evaluation,
a CPU cost comparable to what the plain-asyncio floor spends per short command (see
docs/benchmark-results.md). So the scratch folder goes on a file system held in memory (tmpfs)
when one is at hand, and there these few small operations run on the event loop: a
tmpfs write or read copies memory and never waits for a device. Elsewhere they keep
their thread hop.

The folder is the temporary directory (`TMPDIR`, else the platform's) when that is in
memory; else `/dev/shm` (Linux) when the user chose no `TMPDIR` and it has 256 MiB free;
else the temporary directory, with thread hops. A folder in memory that fills up gives
way to one in the temporary directory. Folders are made with mode 0o700 on first use
and removed by `remove()` (or, if nobody calls it, by the garbage collector or at exit).

What the command leaves at the result path is its own choice: only a small regular file
is read and removed on the loop; a big one, a symlink or a FIFO takes the thread, and
anything but a regular file counts as no result (`read_result`).
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import re
import shutil
import stat
import tempfile
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import anyio
import anyio.to_thread
import structlog

from workers.base import AssignmentValue
from workers.errors import BrokenWorker
from workers.subprocess._output import RESULT_FILE, STDERR_FILE, STDOUT_FILE, read_result
from workers.subprocess._recovery import mark_starting

__all__ = [
    "ASSIGNMENTS_FILE",
    "FolderFiles",
    "ScratchFolder",
    "file_system_type",
    "prepare_workdir",
    "private_file",
    "write_assignments",
]

ASSIGNMENTS_FILE = "assignments.json"
#: The most a result file read on the event loop may copy (the worker's `max_output_bytes`
#: is 64 KiB by default; above this, the read takes its thread hop).
INLINE_READ_MAX_BYTES = 1024 * 1024
#: /dev/shm is used only with at least this much free (see `_choose_parent`).
SHARED_MEMORY_MIN_FREE_BYTES = 256 * 1024 * 1024
MEMORY_FILE_SYSTEMS = frozenset({"tmpfs", "ramfs"})
_SHARED_MEMORY = Path("/dev/shm")
_MOUNTINFO = Path("/proc/self/mountinfo")

T = TypeVar("T")

log = structlog.get_logger()


def private_file(path: Path) -> IO[bytes]:
    """Open for writing (truncated), mode 0o600 however the umask is set."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its old mode otherwise
    return os.fdopen(fd, "wb")


def write_assignments(path: Path, assignments: Mapping[str, AssignmentValue]) -> None:
    with private_file(path) as f:
        f.write(json.dumps(dict(assignments)).encode())


@dataclass(frozen=True)
class FolderFiles:
    """An evaluation folder made ready: its absolute path and its open output logs."""

    workdir: Path
    stdout: IO[bytes]
    stderr: IO[bytes]

    def close(self) -> None:
        self.stdout.close()
        self.stderr.close()


def prepare_workdir(workdir: Path, assignments: Mapping[str, AssignmentValue]) -> FolderFiles:
    """Make the evaluation's folder ready for its command. Blocking: run it in a thread."""
    # Absolute: the command may run in another cwd, and gets these paths in its env.
    workdir = workdir.absolute()
    # The owner's alone, whatever the umask: outputs may hold data or secrets of the run.
    workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_assignments(workdir / ASSIGNMENTS_FILE, assignments)
    mark_starting(workdir)
    # A result left by an earlier attempt in the same folder must not pass for this one's.
    (workdir / RESULT_FILE).unlink(missing_ok=True)
    stdout = private_file(workdir / STDOUT_FILE)
    try:
        stderr = private_file(workdir / STDERR_FILE)
    except BaseException:
        stdout.close()
        raise
    return FolderFiles(workdir, stdout, stderr)


def _unescape_mount_point(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as octal escapes (\040 ...).
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def file_system_type(path: Path, mountinfo: Path = _MOUNTINFO) -> str | None:
    """The type of the file system holding `path` ("tmpfs", "ext4", ...), from the
    mount table; None where there is none to read (not Linux). Blocking: small reads."""
    try:
        # Mount points are bytes: decoded as paths are (`os.fsdecode`), so one that is
        # not UTF-8 still compares equal to itself and breaks nothing.
        lines = os.fsdecode(mountinfo.read_bytes()).splitlines()
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


def _has_room(path: Path) -> bool:
    try:
        info = os.statvfs(path)
    except OSError:
        return False
    return info.f_bavail * info.f_frsize >= SHARED_MEMORY_MIN_FREE_BYTES


def _choose_parent() -> tuple[Path, bool]:
    """Where to make the folder, and whether that is in memory. Blocking."""
    temp = Path(tempfile.gettempdir())
    if _in_memory(temp):
        return temp, True
    if (
        "TMPDIR" not in os.environ
        and os.access(_SHARED_MEMORY, os.W_OK | os.X_OK)
        and _in_memory(_SHARED_MEMORY)
        # Docker gives containers 64 MB of /dev/shm, which data loaders fill: the
        # commands' result files would compete for it. Disk then, with thread hops.
        and _has_room(_SHARED_MEMORY)
    ):
        return _SHARED_MEMORY, True
    return temp, False


def _make_folder(parent: Path) -> Path:
    return Path(tempfile.mkdtemp(prefix="sigopt-worker-", dir=parent))


def _temp_folder_instead_of(parent: Path) -> Path | None:
    """A folder in the temporary directory, for one in `parent` (in memory) that was
    refused or ran out of space; None if `parent` is the temporary directory itself."""
    temp = Path(tempfile.gettempdir())
    return None if parent == temp else _make_folder(temp)


def _make_first_folder() -> tuple[Path, bool]:
    parent, in_memory = _choose_parent()
    try:
        return _make_folder(parent), in_memory
    except OSError:
        made = _temp_folder_instead_of(parent) if in_memory else None
        if made is None:
            raise
        return made, False


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _remove(path: Path) -> None:
    """Remove what is at `path`, whatever the command made of it (a file, a link, a
    FIFO, a directory); nothing there is fine."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        shutil.rmtree(path, ignore_errors=True)
    except OSError as exc:
        # Left for `remove()`, which takes the whole folder; the outcome must not wait.
        log.warning("scratch_file_not_removed", path=str(path), error=str(exc))


def _collect(assignments: Path, result: Path, max_bytes: int) -> tuple[bytes, bool] | None:
    """Read the result file if the command wrote one, then remove both files (also when
    the read fails)."""
    try:
        return read_result(result, max_bytes)
    finally:
        _remove(result)
        _remove(assignments)


class ScratchFolder:
    """One worker's folder for the JSON files of its evaluations, under unique names.

    Removed by `remove()` (the worker's `aclose`), and by the garbage collector or at
    interpreter exit if nobody called it: /dev/shm is not aged out as /tmp is.
    """

    def __init__(self) -> None:
        self._path: Path | None = None
        self._in_memory = False
        self._removed = False
        self._lock = anyio.Lock()
        self._names = itertools.count()
        self._finalizers: list[weakref.finalize[Any, Any]] = []

    @property
    def path(self) -> Path | None:
        """The folder, once the first evaluation made it."""
        return self._path

    @property
    def in_memory(self) -> bool:
        """Whether the folder (made by now) is on a file system held in memory."""
        return self._in_memory

    async def prepare(self, assignments: Mapping[str, AssignmentValue]) -> tuple[Path, Path]:
        """One evaluation's files: its assignments written, and the name its command may
        write its result to. The folder is made on first use; when a folder in memory
        runs out of space, this and later evaluations go to the temporary directory.

        Raises `BrokenWorker` when no folder can be made or the write fails, or after
        `remove()`.
        """
        name = next(self._names)

        def files(folder: Path) -> tuple[Path, Path]:
            return folder / f"{name}.{ASSIGNMENTS_FILE}", folder / f"{name}.{RESULT_FILE}"

        folder = await self._folder()
        try:
            await self._run(write_assignments, files(folder)[0], assignments)
        except OSError as exc:
            await self._run(_remove, files(folder)[0])  # what part of it got written
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT) or not await self._leave(folder):
                raise BrokenWorker(f"cannot write {files(folder)[0]}: {exc}") from exc
            folder = await self._folder()
            try:
                await self._run(write_assignments, files(folder)[0], assignments)
            except OSError as again:
                raise BrokenWorker(f"cannot write {files(folder)[0]}: {again}") from again
        return files(folder)

    async def collect(
        self, assignments: Path, result: Path, max_bytes: int
    ) -> tuple[bytes, bool] | None:
        """The tail of the result file, if the command wrote one as a regular file; both
        files removed. Not abandoned on cancel: the files must not outlive the evaluation.
        """
        if self._in_memory:
            # The command decides what is at `result`: a big file (whose unlink alone
            # frees pages for milliseconds), a symlink to a disk or NFS, a FIFO. Only a
            # small regular file, or none, is dealt with on the loop (one lstat in memory).
            info = _lstat(result)
            if info is None:  # the usual case: the metric came on stdout
                _remove(assignments)
                return None
            if stat.S_ISREG(info.st_mode) and info.st_size <= INLINE_READ_MAX_BYTES:
                return _collect(assignments, result, max_bytes)
        return await anyio.to_thread.run_sync(
            _collect, assignments, result, max_bytes, abandon_on_cancel=False
        )

    async def remove(self) -> None:
        """Remove every folder made; later `prepare` calls raise `BrokenWorker`. Waits for
        a folder being made meanwhile, so none is left behind."""
        async with self._lock:
            self._removed = True
            finalizers, self._finalizers = self._finalizers, []
        for finalizer in finalizers:
            await anyio.to_thread.run_sync(finalizer)

    async def _folder(self) -> Path:
        async with self._lock:
            if self._removed:
                raise BrokenWorker("the worker's temporary folder was removed (worker closed)")
            if self._path is None:
                try:
                    made, self._in_memory = await anyio.to_thread.run_sync(_make_first_folder)
                except OSError as exc:
                    raise BrokenWorker(f"cannot make a temporary folder: {exc}") from exc
                self._adopt(made)
            assert self._path is not None
            return self._path

    async def _leave(self, full: Path) -> bool:
        """After `full` ran out of space: whether there is another folder to use now."""
        async with self._lock:
            if self._removed:
                return False  # closed meanwhile: no new folder that nobody would remove
            if self._path != full:
                return True  # another evaluation moved on already
            if not self._in_memory:
                return False  # the disk is full too
            try:
                made = await anyio.to_thread.run_sync(_temp_folder_instead_of, full.parent)
            except OSError:
                return False
            if made is None:
                return False
            log.warning("scratch_memory_full", full=str(full), now=str(made))
            self._in_memory = False
            self._adopt(made)
            return True

    def _adopt(self, folder: Path) -> None:
        self._path = folder
        self._finalizers.append(weakref.finalize(self, shutil.rmtree, folder, True))

    async def _run(self, work: Callable[..., T], *args: object) -> T:
        if self._in_memory:
            return work(*args)
        return await anyio.to_thread.run_sync(work, *args, abandon_on_cancel=False)
