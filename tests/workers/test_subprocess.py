"""SubprocessWorker: argv templates, environment, files, metric parsing, failures, killing."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.support.processes import is_gone, wait_gone
from workers.base import AssignmentValue, Completed, Evaluation, Failed, Outcome
from workers.errors import BrokenWorker
from workers.subprocess import PIPE_DRAIN_TIMEOUT_S, SubprocessWorker

DEADLINE_S = 20


def script(tmp_path: Path, code: str, name: str = "script.py") -> str:
    """Write a Python script and return its path, for `[sys.executable, path, ...]`."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(code))
    return str(path)


def evaluation(tmp_path: Path, eval_id: str = "1", **assignments: AssignmentValue) -> Evaluation:
    workdir = tmp_path / f"eval-{eval_id}"
    workdir.mkdir(exist_ok=True)
    return Evaluation(id=eval_id, assignments=assignments, workdir=workdir)


async def evaluate(worker: SubprocessWorker, ev: Evaluation) -> Outcome:
    with anyio.fail_after(DEADLINE_S):
        return await worker.evaluate(ev)


def value_of(outcome: Outcome) -> float:
    assert isinstance(outcome, Completed), outcome
    (metric,) = outcome.values
    return metric.value


def failed(outcome: Outcome, reason: str) -> Failed:
    assert isinstance(outcome, Failed), outcome
    assert outcome.reason == reason, outcome
    return outcome


async def cancel_when_ready(worker: SubprocessWorker, ev: Evaluation, ready: Path) -> float:
    """Evaluate under `fail_after`, whose deadline is moved to now once `ready` exists
    (so the command is surely running); return how long the cancellation took."""
    tripped_at = 0.0
    with pytest.raises(TimeoutError):
        with anyio.fail_after(DEADLINE_S) as scope:

            async def trip() -> None:
                nonlocal tripped_at
                # Polling: the signal comes from another process, not an Event.
                while not await anyio.Path(ready).exists():  # noqa: ASYNC110
                    await anyio.sleep(0.02)
                tripped_at = time.monotonic()
                scope.deadline = anyio.current_time()

            async with anyio.create_task_group() as tg:
                tg.start_soon(trip)
                await worker.evaluate(ev)
    return time.monotonic() - tripped_at


ECHO_ARGV = """
    import json, os, sys
    from pathlib import Path
    out = Path(os.environ["SIGOPT_RESULT_FILE"]).with_name("argv.json")
    out.write_text(json.dumps(sys.argv[1:]))
    print(json.dumps({"value": 1}))
"""


class TestArgvTemplate:
    """Placeholders fill argv elements one by one and never reach a shell."""

    async def test_placeholders_format_specs_and_escapes(self, tmp_path: Path) -> None:
        """{name}, {name:spec}, {suggestion_id} and {{ }} render inside single elements."""
        cmd = [
            sys.executable,
            script(tmp_path, ECHO_ARGV),
            "--lr",
            "{lr}",
            "--lr2={lr:.2e}",
            "{suggestion_id}",
            "{{literal}}",
            "{opt}-{layers}",
        ]
        worker = SubprocessWorker(cmd)
        ev = evaluation(tmp_path, "s42", lr=0.001, opt="adam", layers=3)
        assert value_of(await evaluate(worker, ev)) == 1.0
        argv = json.loads((ev.workdir / "argv.json").read_text())  # type: ignore[operator]
        assert argv == ["--lr", "0.001", "--lr2=1.00e-03", "s42", "{literal}", "adam-3"]

    @pytest.mark.parametrize(
        "hostile", ["; rm -rf ~", "$(reboot)", "`id` && echo x | cat", "a b\nc"]
    )
    async def test_hostile_value_is_one_plain_argument(self, tmp_path: Path, hostile: str) -> None:
        """A categorical value full of shell syntax arrives verbatim as exactly one argv element."""
        worker = SubprocessWorker([sys.executable, script(tmp_path, ECHO_ARGV), "{opt}", "x={opt}"])
        ev = evaluation(tmp_path, opt=hostile)
        assert value_of(await evaluate(worker, ev)) == 1.0
        argv = json.loads((ev.workdir / "argv.json").read_text())  # type: ignore[operator]
        assert argv == [hostile, f"x={hostile}"]

    async def test_shell_mode_quotes_values(self, tmp_path: Path) -> None:
        """With shell=True each value is shlex-quoted, so it is data to the shell too."""
        hostile = "'; touch pwned; echo '$(reboot)"
        worker = SubprocessWorker(
            ["printf %s {opt} > arg.txt && echo '{{\"value\": 2}}'"], shell=True, cwd=tmp_path
        )
        outcome = await evaluate(worker, evaluation(tmp_path, opt=hostile))
        assert value_of(outcome) == 2.0
        assert (tmp_path / "arg.txt").read_text() == hostile
        assert not (tmp_path / "pwned").exists()

    async def test_unknown_placeholder_is_a_broken_worker(self, tmp_path: Path) -> None:
        """A placeholder naming no parameter is a configuration error naming the placeholder."""
        worker = SubprocessWorker([sys.executable, "-c", "pass", "{missing}"])
        with pytest.raises(BrokenWorker, match=r"\{missing\}"):
            await evaluate(worker, evaluation(tmp_path, x=1))

    def test_malformed_template_is_rejected_at_construction(self) -> None:
        """Unbalanced braces fail when the worker is built, not at the first evaluation."""
        with pytest.raises(BrokenWorker, match="not a valid template"):
            SubprocessWorker([sys.executable, "--lr={lr"])

    def test_command_must_be_a_list(self) -> None:
        """A single command string is refused: it would have to be split, which we never do."""
        with pytest.raises(TypeError):
            SubprocessWorker("python train.py")


class TestMissingExecutable:
    """A command that cannot start is a BrokenWorker naming it."""

    def test_not_on_path(self) -> None:
        """An executable missing from PATH fails at construction."""
        with pytest.raises(BrokenWorker, match="no-such-command-xyz"):
            SubprocessWorker(["no-such-command-xyz", "{x}"])

    def test_relative_path_not_executable(self, tmp_path: Path) -> None:
        """A relative path is resolved against cwd and must be an executable file."""
        (tmp_path / "train.sh").write_text("#!/bin/sh\n")  # not chmod +x
        with pytest.raises(BrokenWorker, match=r"train\.sh"):
            SubprocessWorker(["./train.sh"], cwd=tmp_path)

    async def test_script_without_shebang_is_a_broken_worker(self, tmp_path: Path) -> None:
        """An executable file the kernel cannot run (no shebang) is a BrokenWorker."""
        path = tmp_path / "train"
        path.write_text("echo hi\n")
        path.chmod(0o755)
        worker = SubprocessWorker([str(path)])
        with pytest.raises(BrokenWorker, match="cannot start command"):
            await evaluate(worker, evaluation(tmp_path))

    async def test_placeholder_executable_missing_at_evaluate(self, tmp_path: Path) -> None:
        """An executable chosen by a placeholder is checked when it is started."""
        worker = SubprocessWorker(["{program}"])
        with pytest.raises(BrokenWorker, match="no-such-program-xyz"):
            await evaluate(worker, evaluation(tmp_path, program="no-such-program-xyz"))


ECHO_ENV = """
    import json, os
    from pathlib import Path
    env = {k: v for k, v in os.environ.items() if k.startswith(("SIGOPT_", "MY_"))}
    env["HAS_PATH"] = "PATH" in os.environ
    env["assignments_file_content"] = Path(os.environ["SIGOPT_ASSIGNMENTS_FILE"]).read_text()
    env["cwd"] = os.getcwd()
    Path(os.environ["SIGOPT_RESULT_FILE"]).with_name("env.json").write_text(json.dumps(env))
    print(json.dumps({"value": 1}))
"""


class TestEnvironmentAndFiles:
    """Assignments reach the command as env vars and files; output is kept per evaluation."""

    async def test_env_vars_and_assignments_file(self, tmp_path: Path) -> None:
        """SIGOPT_* vars, the worker's env on top of the inherited one, and assignments.json."""
        worker = SubprocessWorker(
            [sys.executable, script(tmp_path, ECHO_ENV)], env={"MY_VAR": "on"}, cwd=tmp_path
        )
        assignments: dict[str, AssignmentValue] = {"learning-rate": 0.5, "opt": "sgd", "n": 4}
        ev = evaluation(tmp_path, "77", **assignments)
        assert value_of(await evaluate(worker, ev)) == 1.0
        assert ev.workdir is not None
        env: dict[str, Any] = json.loads((ev.workdir / "env.json").read_text())
        assert env["SIGOPT_PARAM_LEARNING_RATE"] == "0.5"
        assert env["SIGOPT_PARAM_OPT"] == "sgd"
        assert env["SIGOPT_PARAM_N"] == "4"
        assert env["SIGOPT_SUGGESTION_ID"] == "77"
        assert json.loads(env["SIGOPT_ASSIGNMENTS"]) == assignments
        assert json.loads(env["assignments_file_content"]) == assignments
        assert env["SIGOPT_ASSIGNMENTS_FILE"] == str(ev.workdir / "assignments.json")
        assert env["SIGOPT_RESULT_FILE"] == str(ev.workdir / "result.json")
        assert env["MY_VAR"] == "on"
        assert env["HAS_PATH"] is True
        assert env["cwd"] == str(tmp_path)
        assert (ev.workdir / "stdout.log").read_text().strip() == '{"value": 1}'
        assert (ev.workdir / "stderr.log").exists()


class TestMetricParsing:
    """The metric comes from result.json, else from the last JSON object line of stdout."""

    async def test_result_file_is_preferred_over_stdout(self, tmp_path: Path) -> None:
        """When both exist, result.json wins."""
        code = """
            import os
            open(os.environ["SIGOPT_RESULT_FILE"], "w").write('{"value": 1}')
            print('{"value": 2}')
        """
        worker = SubprocessWorker([sys.executable, script(tmp_path, code)])
        assert value_of(await evaluate(worker, evaluation(tmp_path))) == 1.0

    async def test_stale_result_file_is_ignored(self, tmp_path: Path) -> None:
        """A result.json left by an earlier attempt in the same workdir is removed first."""
        ev = evaluation(tmp_path)
        assert ev.workdir is not None
        (ev.workdir / "result.json").write_text('{"value": 99}')
        worker = SubprocessWorker([sys.executable, "-c", "print('{{\"value\": 5}}')"])
        assert value_of(await evaluate(worker, ev)) == 5.0

    async def test_last_json_object_line_of_stdout_wins(self, tmp_path: Path) -> None:
        """Earlier JSON lines and later non-object lines do not count."""
        code = """
            print('{"value": 1}')
            print("epoch 3 done")
            print('  {"value": 2}  ')
            print("[1, 2, 3]")
            print("42")
            print("{not json")
        """
        worker = SubprocessWorker([sys.executable, script(tmp_path, code)])
        assert value_of(await evaluate(worker, evaluation(tmp_path))) == 2.0

    async def test_huge_output_is_parsed_from_its_tail(self, tmp_path: Path) -> None:
        """50 MB of stdout ends in the metric, parsed with memory bounded by max_output_bytes."""
        code = """
            import sys
            print('{"value": 1}')
            line = b"x" * 1023 + b"\\n"
            for _ in range(50 * 1024):
                sys.stdout.buffer.write(line)
            print('{"value": 7}')
        """
        worker = SubprocessWorker([sys.executable, script(tmp_path, code)])
        ev = evaluation(tmp_path)
        tracemalloc.start()
        try:
            outcome = await evaluate(worker, ev)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert value_of(outcome) == 7.0
        assert ev.workdir is not None
        assert (ev.workdir / "stdout.log").stat().st_size > 50 * 1024 * 1024
        assert peak < 4 * 1024 * 1024

    async def test_nothing_parseable_is_no_metric(self, tmp_path: Path) -> None:
        """Exit 0 without result.json or a JSON object line is Failed(no_metric)."""
        code = "import sys; print('done'); print('warn', file=sys.stderr)"
        worker = SubprocessWorker([sys.executable, "-c", code])
        outcome = failed(await evaluate(worker, evaluation(tmp_path)), "no_metric")
        assert outcome.details["stderr_tail"] == "warn\n"

    async def test_invalid_json_result_file(self, tmp_path: Path) -> None:
        """A result.json that is not JSON is Failed(invalid_result) naming the file."""
        code = "import os; open(os.environ['SIGOPT_RESULT_FILE'], 'w').write('{{not json')"
        worker = SubprocessWorker([sys.executable, "-c", code])
        outcome = failed(await evaluate(worker, evaluation(tmp_path)), "invalid_result")
        assert outcome.details["source"] == "result.json"
        assert "invalid JSON" in str(outcome.details["message"])

    async def test_wrong_type_is_invalid_result(self, tmp_path: Path) -> None:
        """A metric that is not a number is Failed(invalid_result)."""
        worker = SubprocessWorker([sys.executable, "-c", 'print(\'{{"value": "high"}}\')'])
        outcome = failed(await evaluate(worker, evaluation(tmp_path)), "invalid_result")
        assert outcome.details["source"] == "stdout"

    async def test_reported_failure(self, tmp_path: Path) -> None:
        """{"failed": true} from the command is Failed(objective_failed) with its reason."""
        line = '{{"failed": true, "reason": "diverged"}}'
        worker = SubprocessWorker([sys.executable, "-c", f"print('{line}')"])
        outcome = failed(await evaluate(worker, evaluation(tmp_path)), "objective_failed")
        assert outcome.details["message"] == "diverged"


class TestExitFailures:
    """A command that exits badly is a Failed outcome saying how, with stderr's tail."""

    async def test_non_zero_exit_code(self, tmp_path: Path) -> None:
        """Exit 3 is Failed(exit_code) with the code and the end of stderr."""
        code = (
            "import sys; print('{{\"value\": 1}}');"
            " sys.stderr.write('x' * 5000 + 'boom'); sys.exit(3)"
        )
        worker = SubprocessWorker([sys.executable, "-c", code])
        outcome = failed(await evaluate(worker, evaluation(tmp_path)), "exit_code")
        assert outcome.details["exit_code"] == 3
        tail = str(outcome.details["stderr_tail"])
        assert tail.endswith("boom")
        assert len(tail) == 2000

    async def test_killed_by_signal(self, tmp_path: Path) -> None:
        """A command killed by a signal is Failed(signal) naming it."""
        code = (
            "import os, signal, sys; sys.stderr.write('dying'); sys.stderr.flush();"
            " os.kill(os.getpid(), signal.SIGKILL)"
        )
        worker = SubprocessWorker([sys.executable, "-c", code])
        outcome = failed(await evaluate(worker, evaluation(tmp_path)), "signal")
        assert outcome.details["signal"] == "SIGKILL"
        assert outcome.details["signal_number"] == 9
        assert outcome.details["stderr_tail"] == "dying"


SPAWNS_GRANDCHILD = """
    import os, signal, subprocess, sys, time
    from pathlib import Path
    grandchild = subprocess.Popen([sys.executable, "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(100)"])
    time.sleep(0.2)  # let the grandchild install its handler
    workdir = Path(os.environ["SIGOPT_RESULT_FILE"]).parent
    (workdir / "pids.tmp").write_text(f"{os.getpid()} {grandchild.pid}")
    (workdir / "pids.tmp").rename(workdir / "pids")
    if sys.argv[1] == "hang":
        time.sleep(100)
    print('{"value": 1}')
"""


class TestKilling:
    """Cancellation and normal exit leave no process of the evaluation behind."""

    async def test_cancel_kills_command_and_grandchild(self, tmp_path: Path) -> None:
        """1. The command starts a grandchild that ignores SIGTERM, then hangs.
        2. The caller's fail_after expires.
        3. Both are dead (SIGTERM, then SIGKILL to the group) and TimeoutError reaches the caller.
        """
        worker = SubprocessWorker(
            [sys.executable, script(tmp_path, SPAWNS_GRANDCHILD), "hang"], kill_grace_s=5.0
        )
        ev = evaluation(tmp_path)
        assert ev.workdir is not None
        took = await cancel_when_ready(worker, ev, ev.workdir / "pids")
        pids = [int(p) for p in (ev.workdir / "pids").read_text().split()]
        await wait_gone(*pids)
        # The leader obeyed SIGTERM, so nobody waited out the grace period.
        assert took < 3.0
        assert "running=0" in repr(worker)

    async def test_background_grandchild_killed_after_normal_exit(self, tmp_path: Path) -> None:
        """A grandchild left running by a command that exited 0 is killed with its group."""
        worker = SubprocessWorker([sys.executable, script(tmp_path, SPAWNS_GRANDCHILD), "exit"])
        ev = evaluation(tmp_path)
        assert value_of(await evaluate(worker, ev)) == 1.0
        assert ev.workdir is not None
        pids = [int(p) for p in (ev.workdir / "pids").read_text().split()]
        await wait_gone(*pids)

    async def test_sigterm_ignored_means_sigkill_after_grace(self, tmp_path: Path) -> None:
        """A command ignoring SIGTERM is SIGKILLed once kill_grace_s has passed."""
        code = """
            import os, signal, time
            from pathlib import Path
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            ready = Path(os.environ["SIGOPT_RESULT_FILE"]).with_name("ready")
            ready.write_text(str(os.getpid()))
            time.sleep(100)
        """
        worker = SubprocessWorker([sys.executable, script(tmp_path, code)], kill_grace_s=0.5)
        ev = evaluation(tmp_path)
        assert ev.workdir is not None
        took = await cancel_when_ready(worker, ev, ev.workdir / "ready")
        assert 0.5 <= took < 3.0
        await wait_gone(int((ev.workdir / "ready").read_text()))

    async def test_aclose_kills_running_evaluation(self, tmp_path: Path) -> None:
        """Closing the worker mid-evaluation kills the command; its evaluate raises BrokenWorker."""
        code = """
            import os, time
            from pathlib import Path
            Path(os.environ["SIGOPT_RESULT_FILE"]).with_name("ready").write_text(str(os.getpid()))
            time.sleep(100)
        """
        worker = SubprocessWorker([sys.executable, script(tmp_path, code)], kill_grace_s=1.0)
        ev = evaluation(tmp_path)
        assert ev.workdir is not None
        ready = ev.workdir / "ready"
        with anyio.fail_after(DEADLINE_S):
            async with anyio.create_task_group() as tg:

                async def close_when_ready() -> None:
                    while not await anyio.Path(ready).exists():  # noqa: ASYNC110
                        await anyio.sleep(0.02)
                    await worker.aclose()

                tg.start_soon(close_when_ready)
                with pytest.raises(BrokenWorker, match="closed during evaluation"):
                    await worker.evaluate(ev)
        await wait_gone(int(ready.read_text()))


class TestCloseWhileStarting:
    """`aclose` while an evaluation is still starting (writing its files, spawning) does
    not leave the command running: the evaluation ends it as soon as it has a process."""

    @pytest.mark.parametrize("with_workdir", [True, False])
    async def test_the_command_is_ended(self, tmp_path: Path, with_workdir: bool) -> None:
        worker = SubprocessWorker([sys.executable, "-c", "import time; time.sleep(30)"])
        ev = evaluation(tmp_path) if with_workdir else bare()
        start = time.monotonic()
        with anyio.fail_after(DEADLINE_S):
            async with anyio.create_task_group() as tg:

                async def close_at_once() -> None:
                    await worker.aclose()  # runs while evaluate waits on its first step

                tg.start_soon(close_at_once)
                with pytest.raises(BrokenWorker):
                    await worker.evaluate(ev)
        assert time.monotonic() - start < 10
        assert "running=0" in repr(worker)


class TestLeftoverGroups:
    """Groups recorded by evaluations of a crashed run are killed; reused pids are not."""

    def test_only_matching_live_groups_are_killed(self, tmp_path: Path) -> None:
        import signal as _signal
        import subprocess as _subprocess

        from workers.subprocess import GROUP_FILE, _start_time, kill_leftover_groups

        child = _subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
        )
        try:
            live = tmp_path / "1-1"
            live.mkdir()
            (live / GROUP_FILE).write_text(f"{child.pid} {_start_time(child.pid)}\n")
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
        from workers.subprocess import GROUP_FILE, STARTING_RECORD, _prepare_workdir

        files = _prepare_workdir(tmp_path / "5-1", {"x": 1})
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

        from workers.subprocess import GROUP_FILE, STARTING_RECORD, kill_leftover_groups
        from workers.subprocess_output import RESULT_FILE

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


def bare(eval_id: str = "1", **assignments: AssignmentValue) -> Evaluation:
    """An evaluation without a workdir (a library run with no run folder)."""
    return Evaluation(id=eval_id, assignments=assignments)


def scratch_files(worker: SubprocessWorker) -> list[str]:
    folder = worker._scratch.path
    return sorted(p.name for p in folder.iterdir()) if folder is not None else []


class TestWithoutWorkdir:
    """No workdir: output through pipes (tails only), JSON files in the worker's private
    folder under per-evaluation names, nothing left behind."""

    async def test_files_are_private_unique_and_removed(self, tmp_path: Path) -> None:
        code = """
            import json, os, sys
            from pathlib import Path
            seen = {k: os.environ[k] for k in ("SIGOPT_ASSIGNMENTS_FILE", "SIGOPT_RESULT_FILE")}
            seen["assignments"] = json.loads(Path(seen["SIGOPT_ASSIGNMENTS_FILE"]).read_text())
            Path(sys.argv[1] + os.environ["SIGOPT_SUGGESTION_ID"]).write_text(json.dumps(seen))
            Path(os.environ["SIGOPT_RESULT_FILE"]).write_text('{"value": 3}')
            print('{"value": 4}')
        """
        record = str(tmp_path / "seen-")
        worker = SubprocessWorker([sys.executable, script(tmp_path, code), record])
        with anyio.fail_after(DEADLINE_S):
            async with anyio.create_task_group() as tg:
                for i in range(3):
                    tg.start_soon(worker.evaluate, bare(str(i), x=i))
            # The result file wins over stdout, as with a workdir.
            assert value_of(await worker.evaluate(bare("9", x=9))) == 3.0
        seen = [json.loads((tmp_path / f"seen-{i}").read_text()) for i in (0, 1, 2, 9)]
        assert [s["assignments"] for s in seen] == [{"x": 0}, {"x": 1}, {"x": 2}, {"x": 9}]
        paths = {s[k] for s in seen for k in ("SIGOPT_ASSIGNMENTS_FILE", "SIGOPT_RESULT_FILE")}
        assert len(paths) == 8  # one name per evaluation, even when they overlap
        folder = worker._scratch.path
        assert folder is not None and {str(Path(p).parent) for p in paths} == {str(folder)}
        assert folder.stat().st_mode & 0o777 == 0o700
        assert scratch_files(worker) == []  # each evaluation removed its files
        await worker.aclose()
        assert not folder.exists()

    async def test_huge_stdout_is_parsed_from_a_bounded_tail(self, tmp_path: Path) -> None:
        """50 MB through the pipe: the metric from its last line, memory bounded."""
        code = """
            import sys
            print('{"value": 1}')
            line = b"x" * 1023 + b"\\n"
            for _ in range(50 * 1024):
                sys.stdout.buffer.write(line)
            print('{"value": 7}')
        """
        worker = SubprocessWorker([sys.executable, script(tmp_path, code)])
        tracemalloc.start()
        try:
            outcome = await evaluate(worker, bare())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            await worker.aclose()
        assert value_of(outcome) == 7.0
        assert peak < 4 * 1024 * 1024

    async def test_failures_carry_the_stderr_tail(self, tmp_path: Path) -> None:
        code = "import sys; sys.stderr.write('x' * 9000 + 'boom'); sys.exit(3)"
        worker = SubprocessWorker([sys.executable, "-c", code])
        outcome = failed(await evaluate(worker, bare()), "exit_code")
        tail = str(outcome.details["stderr_tail"])
        assert tail.endswith("boom") and len(tail) == 2000
        worker_quiet = SubprocessWorker([sys.executable, "-c", "print('done')"])
        assert (
            "stderr_tail" not in failed(await evaluate(worker_quiet, bare()), "no_metric").details
        )
        await worker.aclose()
        await worker_quiet.aclose()

    async def test_cancel_kills_the_group_and_removes_the_files(self, tmp_path: Path) -> None:
        ready = tmp_path / "pids"
        code = f"""
            import subprocess, sys, time, os
            from pathlib import Path
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(100)"])
            Path({str(ready)!r} + ".tmp").write_text(f"{{os.getpid()}} {{child.pid}}")
            Path({str(ready)!r} + ".tmp").rename({str(ready)!r})
            time.sleep(100)
        """
        worker = SubprocessWorker([sys.executable, script(tmp_path, code)], kill_grace_s=1.0)
        took = await cancel_when_ready(worker, bare(), ready)
        assert took < 3.0
        await wait_gone(*(int(p) for p in ready.read_text().split()))
        assert scratch_files(worker) == []
        await worker.aclose()

    async def test_a_process_that_left_the_group_cannot_hold_the_evaluation(
        self, tmp_path: Path
    ) -> None:
        """The command prints its metric and exits at once, but a grandchild in its own
        session keeps stdout open. Reading stops PIPE_DRAIN_TIMEOUT_S after the group is
        gone, and the outcome is the metric even under a deadline shorter than that."""
        pid_file = tmp_path / "escaped"
        code = f"""
            import subprocess, sys
            from pathlib import Path
            escaped = subprocess.Popen(
                [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
            )
            Path({str(pid_file)!r}).write_text(str(escaped.pid))
            print('{{"value": 2}}', flush=True)
        """
        worker = SubprocessWorker([sys.executable, script(tmp_path, code)])
        try:
            start = time.monotonic()
            with anyio.fail_after(PIPE_DRAIN_TIMEOUT_S / 2 + 0.5):
                outcome = await worker.evaluate(bare())
            assert value_of(outcome) == 2.0
            assert time.monotonic() - start < PIPE_DRAIN_TIMEOUT_S + 5
        finally:
            await worker.aclose()
            if pid_file.exists():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid_file.read_text()), 9)

    async def test_no_descriptor_is_left_open(self, tmp_path: Path) -> None:
        """Pipes of finished, failed and cancelled evaluations are all closed."""
        worker = SubprocessWorker([sys.executable, "-c", "import sys; print('{{\"value\": 1}}')"])
        failing = SubprocessWorker([sys.executable, "-c", "import sys; sys.exit(2)"])
        hanging = SubprocessWorker([sys.executable, "-c", "import time; time.sleep(60)"])
        await evaluate(worker, bare())  # the scratch folder and any lazy state exist now
        before = len(os.listdir("/proc/self/fd"))
        with anyio.fail_after(DEADLINE_S):
            async with anyio.create_task_group() as tg:
                for i in range(8):
                    tg.start_soon(worker.evaluate, bare(str(i)))
                    tg.start_soon(failing.evaluate, bare(str(i)))
            for i in range(3):
                with anyio.move_on_after(0.3):
                    await hanging.evaluate(bare(str(i)))
        for w in (worker, failing, hanging):
            await w.aclose()
        # No growth: descriptors other tests left may be closed meanwhile, so not ==.
        assert len(os.listdir("/proc/self/fd")) <= before


class TestWhatTheCommandLeavesAtTheResultPath:
    """Anything but a regular file at SIGOPT_RESULT_FILE is no result (the metric then
    comes from stdout), never a broken worker; nothing is left behind, no fd leaks."""

    MAKERS = {
        "directory": "import os; os.mkdir(os.environ['SIGOPT_RESULT_FILE'])",
        "fifo": "import os; os.mkfifo(os.environ['SIGOPT_RESULT_FILE'])",
        "socket": (
            "import os, socket; s = socket.socket(socket.AF_UNIX); "
            "s.bind(os.environ['SIGOPT_RESULT_FILE'])"
        ),
        "symlink loop": ("import os; p = os.environ['SIGOPT_RESULT_FILE']; os.symlink(p, p)"),
    }

    @pytest.mark.parametrize("kind", list(MAKERS))
    async def test_no_result_and_nothing_left(self, tmp_path: Path, kind: str) -> None:
        code = self.MAKERS[kind] + "; print('{\"value\": 5}')"
        template = code.replace("{", "{{").replace("}", "}}")  # literal braces
        worker = SubprocessWorker([sys.executable, "-c", template])
        try:
            assert value_of(await evaluate(worker, bare("0"))) == 5.0  # warm-up
            fds_before = sorted(os.listdir("/proc/self/fd"))
            assert value_of(await evaluate(worker, bare("1"))) == 5.0
            assert scratch_files(worker) == []
            assert sorted(os.listdir("/proc/self/fd")) == fds_before
        finally:
            await worker.aclose()
