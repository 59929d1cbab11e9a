"""ScratchFolder: where a worker keeps the JSON files of evaluations without a workdir,
and whether its file operations may run on the event loop (a file system in memory)."""

from __future__ import annotations

import errno
import gc
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from workers.errors import BrokenWorker
from workers.subprocess import _scratch
from workers.subprocess._scratch import ScratchFolder, file_system_type

MOUNTINFO = "\n".join(
    [
        "22 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda rw",
        "23 22 0:21 / /dev/shm rw,nosuid,nodev shared:2 - tmpfs tmpfs rw",
        "24 22 0:22 / /data rw shared:3 - xfs /dev/vdb rw",
        "25 24 0:23 / /data/fast rw shared:4 - tmpfs tmpfs rw,size=1g",
        r"26 22 0:24 / /mnt/with\040space rw shared:5 - ramfs none rw",
        # Mounted over /data/fast later: hides the tmpfs.
        "27 24 0:25 / /data/fast rw shared:6 - ext4 /dev/vdc rw",
    ]
)


@pytest.fixture
def mountinfo(tmp_path: Path) -> Path:
    path = tmp_path / "mountinfo"
    path.write_text(MOUNTINFO + "\n")
    return path


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", "ext4"),
        ("/home/user/x", "ext4"),
        ("/dev/shm", "tmpfs"),
        ("/dev/shm/a/b", "tmpfs"),
        ("/dev/shmx", "ext4"),  # a prefix of the name is not a parent folder
        ("/data/run", "xfs"),
        ("/data/fast/run", "ext4"),  # the later mount on the same point wins
        ("/mnt/with space/run", "ramfs"),  # octal escapes in mount points
    ],
)
def test_file_system_type_from_the_mount_table(mountinfo: Path, path: str, expected: str) -> None:
    assert file_system_type(Path(path), mountinfo) == expected


def test_no_mount_table_no_type(tmp_path: Path) -> None:
    assert file_system_type(Path("/"), tmp_path / "missing") is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux mount table")
def test_this_machines_mount_table_is_read() -> None:
    assert file_system_type(Path("/proc")) == "proc"


def use_temp_dir(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() caches its answer


def in_memory_at(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The temporary directory is `tmp_path`, taken for a file system in memory."""
    use_temp_dir(monkeypatch, tmp_path)
    monkeypatch.setattr(_scratch, "_in_memory", lambda path: path == tmp_path)


async def use(scratch: ScratchFolder) -> Path:
    """One evaluation's worth of work; returns the folder."""
    assignments, result = await scratch.prepare({"x": 1.5})
    assert assignments.read_text() == '{"x": 1.5}'
    assert assignments.stat().st_mode & 0o777 == 0o600
    result.write_text('{"value": 2}')
    assert await scratch.collect(assignments, result, 1024) == (b'{"value": 2}', False)
    assert not assignments.exists() and not result.exists()
    folder = scratch.path
    assert folder is not None
    assert folder.stat().st_mode & 0o777 == 0o700
    return folder


async def test_a_chosen_tmpdir_on_disk_is_kept_and_used_through_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_temp_dir(monkeypatch, tmp_path)
    monkeypatch.setattr(_scratch, "_in_memory", lambda path: False)
    scratch = ScratchFolder()
    folder = await use(scratch)
    assert folder.parent == tmp_path
    assert not scratch.in_memory
    await scratch.remove()
    assert not folder.exists()


async def test_a_tmpdir_in_memory_is_used_on_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_memory_at(monkeypatch, tmp_path)
    scratch = ScratchFolder()
    folder = await use(scratch)
    assert folder.parent == tmp_path
    assert scratch.in_memory

    def no_thread(*args: object, **kwargs: object) -> None:
        raise AssertionError("a file system in memory needs no thread hop")

    monkeypatch.setattr(anyio.to_thread, "run_sync", no_thread)
    await use(scratch)
    # The usual case, the metric on stdout: no result file, the assignments removed.
    assignments, result = await scratch.prepare({})
    assert await scratch.collect(assignments, result, 1024) is None
    assert not assignments.exists()


@pytest.mark.skipif(file_system_type(Path("/dev/shm")) != "tmpfs", reason="needs /dev/shm on tmpfs")
async def test_without_tmpdir_a_disk_temp_dir_gives_way_to_dev_shm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TMPDIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", None)
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    monkeypatch.setattr(_scratch, "_in_memory", lambda path: path == Path("/dev/shm"))
    scratch = ScratchFolder()
    folder = await use(scratch)
    try:
        assert folder.parent == Path("/dev/shm")
        assert scratch.in_memory
    finally:
        await scratch.remove()
    assert not folder.exists()


async def test_collect_without_a_result_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_temp_dir(monkeypatch, tmp_path)
    scratch = ScratchFolder()
    assignments, result = await scratch.prepare({})
    assert await scratch.collect(assignments, result, 1024) is None
    assert not assignments.exists()
    await scratch.remove()


async def test_a_shared_memory_folder_that_refuses_falls_back_to_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Shared memory chosen (in memory, with room), but a file where its folder would go.
    not_a_folder, disk = shm_and_disk(monkeypatch, tmp_path)
    not_a_folder.rmdir()
    not_a_folder.write_text("")
    not_a_folder.chmod(0o700)
    assert _scratch._choose_parent() == (not_a_folder, True)
    scratch = ScratchFolder()
    folder = await use(scratch)
    assert folder.parent == disk
    assert not scratch.in_memory
    await scratch.remove()


def count_thread_hops(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    hops: list[object] = []
    real_run_sync = anyio.to_thread.run_sync

    async def counting(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(func)
        return await real_run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    return hops


def shm_and_disk(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Path, Path]:
    """No TMPDIR; the temporary directory is `disk`, and `memory` stands for /dev/shm
    (in memory, with room)."""
    memory = tmp_path / "shm"
    memory.mkdir()
    disk = tmp_path / "disk"
    disk.mkdir()
    monkeypatch.delenv("TMPDIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(disk))
    monkeypatch.setattr(_scratch, "_SHARED_MEMORY", memory)
    monkeypatch.setattr(_scratch, "_in_memory", lambda path: path == memory)
    monkeypatch.setattr(_scratch, "_has_room", lambda path: True)
    return memory, disk


def full_disk(monkeypatch: pytest.MonkeyPatch, under: Path | None = None) -> None:
    """Writing the assignments fails with ENOSPC (under `under` only, if given)."""
    real_write = _scratch.write_assignments

    def write(path: Path, assignments: Any) -> None:
        if under is None or under in path.parents:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_write(path, assignments)

    monkeypatch.setattr(_scratch, "write_assignments", write)


async def remove_while_the_first_folder_is_made(
    scratch: ScratchFolder, monkeypatch: pytest.MonkeyPatch
) -> list[object]:
    """`remove()` (the worker's aclose) while the first `prepare` makes the folder (0.3 s,
    in its thread); what that `prepare` returned or raised."""
    real_make = _scratch._make_first_folder
    started = threading.Event()

    def slow_make() -> tuple[Path, bool]:
        started.set()
        time.sleep(0.3)
        return real_make()

    monkeypatch.setattr(_scratch, "_make_first_folder", slow_make)
    outcomes: list[object] = []

    async def first_evaluation() -> None:
        try:
            outcomes.append(await scratch.prepare({}))
        except BrokenWorker as exc:
            outcomes.append(exc)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(first_evaluation)
            await anyio.to_thread.run_sync(started.wait)
            await scratch.remove()
    return outcomes


async def test_only_a_small_regular_result_is_read_on_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command decides what is at the result path: a big file (its unlink alone
    takes milliseconds), a symlink to anywhere. Those take the thread, even in memory."""
    in_memory_at(monkeypatch, tmp_path)
    scratch = ScratchFolder()
    await use(scratch)  # the folder is made, in memory
    hops = count_thread_hops(monkeypatch)

    assignments, result = await scratch.prepare({})
    result.write_text('{"value": 1}')
    assert await scratch.collect(assignments, result, 1024) == (b'{"value": 1}', False)
    assert hops == []

    assignments, result = await scratch.prepare({})
    big = _scratch.INLINE_READ_MAX_BYTES + 1
    result.write_bytes(b" " * big)
    assert await scratch.collect(assignments, result, 10) == (b" " * 10, True)
    assert len(hops) == 1

    assignments, result = await scratch.prepare({})
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text('{"value": 2}')
    result.symlink_to(elsewhere)
    assert await scratch.collect(assignments, result, 1024) == (b'{"value": 2}', False)
    assert len(hops) == 2
    assert elsewhere.exists()  # the link is removed, not what it points to
    await scratch.remove()


@pytest.mark.parametrize("memory", [True, False], ids=["in-memory", "on-disk"])
async def test_a_fifo_at_the_result_path_is_no_result_and_blocks_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, memory: bool
) -> None:
    """Opening a FIFO for reading waits for a writer; one that never comes must not
    hang the evaluation (on disk) or the event loop (in memory)."""
    use_temp_dir(monkeypatch, tmp_path)
    monkeypatch.setattr(_scratch, "_in_memory", lambda path: memory)
    scratch = ScratchFolder()
    assignments, result = await scratch.prepare({})
    os.mkfifo(result)
    with anyio.fail_after(5):
        assert await scratch.collect(assignments, result, 1024) is None
    assert not result.exists() and not assignments.exists()
    await scratch.remove()


async def test_a_full_memory_folder_moves_to_the_temp_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A /dev/shm that fills up (Docker gives 64 MB, data loaders use it) must not break
    every evaluation: the worker moves on to the temporary directory on disk."""
    memory, disk = shm_and_disk(monkeypatch, tmp_path)
    full_disk(monkeypatch, under=memory)
    scratch = ScratchFolder()
    assignments, result = await scratch.prepare({"x": 1})
    assert assignments.parent.parent == disk
    assert assignments.read_text() == '{"x": 1}'
    assert not scratch.in_memory
    again, _ = await scratch.prepare({"x": 2})
    assert again.parent == assignments.parent
    await scratch.collect(assignments, result, 1024)
    await scratch.remove()
    assert os.listdir(memory) == [] and os.listdir(disk) == []


async def test_a_full_disk_is_a_broken_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_temp_dir(monkeypatch, tmp_path)
    monkeypatch.setattr(_scratch, "_in_memory", lambda path: False)
    full_disk(monkeypatch)
    scratch = ScratchFolder()
    with pytest.raises(BrokenWorker, match="No space left"):
        await scratch.prepare({})
    await scratch.remove()


def test_shared_memory_without_room_is_not_chosen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TMPDIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(_scratch, "_SHARED_MEMORY", tmp_path / "shm")
    (tmp_path / "shm").mkdir()
    monkeypatch.setattr(_scratch, "_in_memory", lambda path: path.name == "shm")
    assert _scratch._choose_parent() == (tmp_path / "shm", True)
    monkeypatch.setattr(_scratch, "SHARED_MEMORY_MIN_FREE_BYTES", 2**62)
    assert _scratch._choose_parent() == (tmp_path, False)


async def test_remove_waits_for_a_folder_being_made_and_closes_the_door(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`aclose` while the first evaluation makes the folder: none is left behind."""
    use_temp_dir(monkeypatch, tmp_path)
    scratch = ScratchFolder()
    await remove_while_the_first_folder_is_made(scratch, monkeypatch)
    assert os.listdir(tmp_path) == []
    with pytest.raises(BrokenWorker, match="removed"):
        await scratch.prepare({})


async def test_a_folder_nobody_removed_goes_with_the_garbage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_temp_dir(monkeypatch, tmp_path)
    scratch = ScratchFolder()
    folder = await use(scratch)
    del scratch
    gc.collect()
    assert not folder.exists()


def test_a_mount_point_that_is_not_utf8(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_bytes(
        b"22 1 253:1 / / rw shared:1 - ext4 /dev/vda rw\n"
        b"23 22 0:21 / /mnt/caf\xe9 rw shared:2 - tmpfs tmpfs rw\n"
    )
    odd = Path(os.fsdecode(b"/mnt/caf\xe9/run"))
    assert file_system_type(odd, mountinfo) == "tmpfs"
    assert file_system_type(Path("/mnt/other"), mountinfo) == "ext4"


async def test_memory_full_after_remove_makes_no_new_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`aclose` queued while the first evaluation made its folder in memory, which then
    turns out full: moving on to disk would make a folder nobody removes."""
    _, disk = shm_and_disk(monkeypatch, tmp_path)
    full_disk(monkeypatch)
    outcomes = await remove_while_the_first_folder_is_made(ScratchFolder(), monkeypatch)
    assert len(outcomes) == 1 and isinstance(outcomes[0], BrokenWorker)
    assert os.listdir(disk) == []
