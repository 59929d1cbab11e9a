"""Crash recovery: the process groups a run killed with -9 left behind."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

import pytest

from tests.support.processes import is_gone


class TestLeftoverGroups:
    """Groups recorded by evaluations of a crashed run are killed; reused pids are not."""

    def test_only_matching_live_groups_are_killed(self, tmp_path: Path) -> None:
        import signal as _signal
        import subprocess as _subprocess

        from workers.subprocess._recovery import GROUP_FILE, kill_leftover_groups, start_time

        child = _subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
        )
        try:
            live = tmp_path / "1-1"
            live.mkdir()
            (live / GROUP_FILE).write_text(f"{child.pid} {start_time(child.pid)}\n")
            reused = tmp_path / "2-1"
            reused.mkdir()
            # Our own pid with a wrong start time: a pid reused by an unrelated process.
            (reused / GROUP_FILE).write_text(f"{os.getpid()} 1\n")
            assert kill_leftover_groups(tmp_path) == 1
            assert child.wait(timeout=5) == -_signal.SIGKILL
            assert not list(tmp_path.glob(f"*/{GROUP_FILE}"))
        finally:
            child.kill()
            child.wait()

    def test_a_folder_is_marked_starting_before_its_command_starts(self, tmp_path: Path) -> None:
        from workers.subprocess._recovery import GROUP_FILE, STARTING_RECORD
        from workers.subprocess._scratch import prepare_workdir

        files = prepare_workdir(tmp_path / "5-1", {"x": 1})
        files.close()
        assert (tmp_path / "5-1" / GROUP_FILE).read_text().strip() == STARTING_RECORD

    @pytest.mark.skipif(not Path("/proc").is_dir(), reason="found through /proc (Linux)")
    def test_a_group_started_but_not_recorded_is_found_by_its_environment(
        self, tmp_path: Path
    ) -> None:
        """A run killed between an evaluation's start and its record: the restart kills
        that group (its leader and what the leader started), found because their
        environment names the evaluation still marked as starting. Spared: a process an
        evaluation that ended normally left behind on purpose (no record), and one of a
        run whose folder merely starts with the same name."""
        import signal as _signal
        import subprocess as _subprocess

        from workers.subprocess import (
            GROUP_FILE,
            RESULT_FILE,
            STARTING_RECORD,
            kill_leftover_groups,
        )

        root = tmp_path / "run" / "evaluations"
        # The leader starts a child in its group, prints its pid, then both sleep.
        script = (
            "import subprocess, sys, time;"
            "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
            "print(c.pid, flush=True); time.sleep(60)"
        )
        started: list[_subprocess.Popen[str]] = []

        def start(folder: Path) -> int:
            """Start a group as an evaluation in `folder`; the pid of the leader's child."""
            env = {**os.environ, "SIGOPT_RESULT_FILE": str(folder / RESULT_FILE)}
            proc = _subprocess.Popen(
                [sys.executable, "-c", script],
                env=env,
                start_new_session=True,
                stdout=_subprocess.PIPE,
                text=True,
            )
            started.append(proc)
            assert proc.stdout is not None
            return int(proc.stdout.readline())

        try:
            unrecorded, finished = root / "3-1", root / "4-1"
            unrecorded.mkdir(parents=True)
            finished.mkdir()
            (unrecorded / GROUP_FILE).write_text(f"{STARTING_RECORD}\n")
            grandchild = start(unrecorded)
            start(finished)  # its folder has no record: it ended, its daemon stays
            start(tmp_path / "run" / "evaluations2" / "3-1")
            assert kill_leftover_groups(root) == 1
            ours, left_by_finished, other_run = started
            assert ours.wait(timeout=5) == -_signal.SIGKILL
            deadline = time.monotonic() + 5
            while not is_gone(grandchild) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert is_gone(grandchild)
            assert left_by_finished.poll() is None and other_run.poll() is None
            assert not (unrecorded / GROUP_FILE).exists()
        finally:
            for proc in started:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, _signal.SIGKILL)
                proc.wait()
