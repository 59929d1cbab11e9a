"""ScratchFolder: where a worker keeps the JSON files of evaluations without a workdir,
and whether its file operations may run on the event loop (a file system in memory)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import anyio
import pytest

from workers import subprocess_scratch
from workers.subprocess_scratch import ScratchFolder, file_system_type

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


async def use(scratch: ScratchFolder) -> Path:
    """One evaluation's worth of work; returns the folder."""
    assignments, result = await scratch.new_files()
    await scratch.write_assignments(assignments, {"x": 1.5})
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
    monkeypatch.setattr(subprocess_scratch, "_in_memory", lambda path: False)
    scratch = ScratchFolder()
    folder = await use(scratch)
    assert folder.parent == tmp_path
    assert not scratch.in_memory
    await scratch.remove()
    assert not folder.exists()


async def test_a_tmpdir_in_memory_is_used_on_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_temp_dir(monkeypatch, tmp_path)
    monkeypatch.setattr(subprocess_scratch, "_in_memory", lambda path: path == tmp_path)
    scratch = ScratchFolder()
    folder = await use(scratch)
    assert folder.parent == tmp_path
    assert scratch.in_memory

    def no_thread(*args: object, **kwargs: object) -> None:
        raise AssertionError("a file system in memory needs no thread hop")

    monkeypatch.setattr(anyio.to_thread, "run_sync", no_thread)
    await use(scratch)


@pytest.mark.skipif(file_system_type(Path("/dev/shm")) != "tmpfs", reason="needs /dev/shm on tmpfs")
async def test_without_tmpdir_a_disk_temp_dir_gives_way_to_dev_shm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TMPDIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", None)
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))
    monkeypatch.setattr(subprocess_scratch, "_in_memory", lambda path: path == Path("/dev/shm"))
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
    assignments, result = await scratch.new_files()
    await scratch.write_assignments(assignments, {})
    assert await scratch.collect(assignments, result, 1024) is None
    assert not assignments.exists()
    await scratch.remove()


async def test_a_shared_memory_folder_that_refuses_falls_back_to_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    not_a_folder = tmp_path / "shm"
    not_a_folder.write_text("")
    not_a_folder.chmod(0o700)
    monkeypatch.delenv("TMPDIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(disk))  # what gettempdir() answers
    monkeypatch.setattr(subprocess_scratch, "_SHARED_MEMORY", not_a_folder)
    monkeypatch.setattr(subprocess_scratch, "_in_memory", lambda path: path == not_a_folder)
    scratch = ScratchFolder()
    folder = await use(scratch)
    assert folder.parent == disk
    assert not scratch.in_memory
    await scratch.remove()


async def test_a_large_read_takes_a_thread_even_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_temp_dir(monkeypatch, tmp_path)
    monkeypatch.setattr(subprocess_scratch, "_in_memory", lambda path: path == tmp_path)
    scratch = ScratchFolder()
    await use(scratch)  # the folder is made, in memory
    assignments, result = await scratch.new_files()
    result.write_bytes(b"x" * 10 + b'\n{"value": 1}')
    hops: list[object] = []
    real_run_sync = anyio.to_thread.run_sync

    async def counting(func: object, *args: object, **kwargs: object) -> object:
        hops.append(func)
        return await real_run_sync(func, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    big = subprocess_scratch.INLINE_READ_MAX_BYTES + 1
    assert await scratch.collect(assignments, result, big) == (b"x" * 10 + b'\n{"value": 1}', False)
    assert len(hops) == 1
    assert await scratch.collect(assignments, result, 1024) is None  # small: no hop
    assert len(hops) == 1
    await scratch.remove()
