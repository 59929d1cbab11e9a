"""`SubprocessWorker`: one evaluation is one command in its own process group, from its
start to its reaped exit; the contract with the command is in the package docstring.

The worker holds the life cycle (start, wait, kill on cancel or close) and which files
an evaluation gets: its folder's (`_run_in_folder`) or, with no folder, pipes and the
scratch folder's (`_run_piped`). The parts live beside it: argv and environment
(`_argv`), start and reap (`_spawn`), the metric (`_output`), the files (`_scratch`), and
the record a crashed run's restart needs (`_recovery`).
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

import anyio
import anyio.to_thread
import structlog

from workers.base import AssignmentValue, ClosesOnExit, Evaluation, Failed, Outcome
from workers.errors import BrokenWorker
from workers.resources import ids_text
from workers.subprocess._argv import (
    check_executable,
    command_env,
    fixed_values,
    inactive_message,
    inactive_placeholders,
    parse_template,
    render,
    resolve_fixed,
)
from workers.subprocess._output import (
    RESULT_FILE,
    STDERR_TAIL_BYTES,
    StreamTail,
    outcome_from_folder,
    outcome_from_output,
)
from workers.subprocess._recovery import forget_group, record_group, signal_group
from workers.subprocess._scratch import ASSIGNMENTS_FILE, ScratchFolder, prepare_workdir
from workers.subprocess._spawn import Child, Pipes, group_ended, spawn

__all__ = ["PIPE_DRAIN_TIMEOUT_S", "REAP_TIMEOUT_S", "SubprocessWorker"]

log = structlog.get_logger()

#: After SIGKILL a process dies at once unless stuck in the kernel (D state, NFS);
#: we stop waiting for the reap (and the rest of its group) after this long rather than
#: hang shutdown.
REAP_TIMEOUT_S = 5.0
#: Once the process group is gone its pipes close; a process that left the group (its own
#: `setsid`) may still hold them, and is not waited for longer than this.
PIPE_DRAIN_TIMEOUT_S = 2.0


def _finish_in_folder(returncode: int, workdir: Path, max_output_bytes: int) -> Outcome:
    """Blocking (small reads of the folder's files): run in a thread. The group has
    exited, so its record goes too."""
    forget_group(workdir)
    return outcome_from_folder(returncode, workdir, max_output_bytes)


class SubprocessWorker(ClosesOnExit):
    """Runs `command` once per evaluation; see the package docstring for the contract.

    Raises `BrokenWorker` at construction when the executable cannot be found (unless
    it is itself a placeholder) or the template is malformed. `kill_grace_s` is how long
    a cancelled command gets between SIGTERM and SIGKILL. `env` is added on top of the
    orchestrator's environment. Evaluations may run concurrently; the coordinator
    bounds how many.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        kill_grace_s: float = 5.0,
        shell: bool = False,
        max_output_bytes: int = 64 * 1024,
    ) -> None:
        if isinstance(command, str):
            raise TypeError("command must be a list of argv elements, not a string")
        if not command:
            raise ValueError("command must not be empty")
        if shell and len(command) != 1:
            raise ValueError("with shell=True, command must be a single string element")
        if kill_grace_s < 0:
            raise ValueError(f"kill_grace_s must be >= 0, got {kill_grace_s}")
        if max_output_bytes < 1:
            raise ValueError(f"max_output_bytes must be >= 1, got {max_output_bytes}")
        self._command = tuple(command)
        self._template = parse_template(self._command)
        self._user_env = dict(env or {})
        self._base_env = {**os.environ, **self._user_env}
        self._cwd = cwd
        self._kill_grace_s = kill_grace_s
        self._shell = shell
        self._max_output_bytes = max_output_bytes
        self._running: set[Child] = set()
        self._closed = False
        # The private folder of evaluations without a workdir: made on first use.
        self._scratch = ScratchFolder()
        # `{python}` and the like: known now, filled into every evaluation's argv.
        self._fixed = fixed_values()
        executable = None if shell else resolve_fixed(self._command[0])
        if executable is not None:
            check_executable(executable, self._base_env, cwd)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<SubprocessWorker {shlex.join(self._command)!r} running={len(self._running)} {state}>"
        )

    async def prepare(self, evaluation: Evaluation) -> None:
        """Nothing to prepare: starting the command is part of what its deadline measures
        (the command is the objective)."""

    async def evaluate(self, evaluation: Evaluation) -> Outcome:
        """Run the command once and turn its exit and output into an `Outcome`.

        Cancelling kills the whole process group (see the package docstring). Raises
        `BrokenWorker` for a missing executable, an unknown placeholder, or when the
        worker is closed.
        """
        if self._closed:
            raise BrokenWorker(f"{self!r} is closed")
        values: dict[str, AssignmentValue | str] = {
            **evaluation.assignments,
            "suggestion_id": evaluation.id,
            # Multitask only: without a task, `{task}` is missing (`inactive_message`).
            **({} if evaluation.task is None else {"task": evaluation.task.name}),
            "gpus": ids_text(evaluation.gpus),
            **self._fixed,
        }
        inactive = inactive_placeholders(self._template, values)
        if inactive:
            # A conditional parameter this suggestion leaves out: its fault, not the worker's.
            return Failed(
                reason="inactive_parameter", details={"message": inactive_message(inactive)}
            )
        argv = render(self._template, values, shell=self._shell)
        if evaluation.workdir is not None:
            return await self._run_in_folder(argv, evaluation, evaluation.workdir)
        return await self._run_piped(argv, evaluation)

    async def _run_in_folder(
        self, argv: list[str], evaluation: Evaluation, workdir: Path
    ) -> Outcome:
        """stdout and stderr to files in `workdir`, kept for the user."""
        try:
            files = await anyio.to_thread.run_sync(prepare_workdir, workdir, evaluation.assignments)
        except OSError as exc:  # full disk, no permission: not the parameters' fault
            raise BrokenWorker(f"cannot prepare workdir {workdir}: {exc}") from exc
        workdir = files.workdir
        env = self._env_for(
            evaluation, assignments=workdir / ASSIGNMENTS_FILE, result=workdir / RESULT_FILE
        )
        try:
            process = await self._start(
                argv, env, stdout=files.stdout, stderr=files.stderr, cpus=evaluation.cpus
            )
        finally:
            files.close()  # the child has its own descriptors
        await self._register(process, evaluation.id)
        # Shielded (a short write): a cancellation arriving meanwhile is taken by `_wait`,
        # which terminates the group, instead of leaving the command running.
        with anyio.CancelScope(shield=True):
            try:
                await anyio.to_thread.run_sync(record_group, workdir, process.pid)
            except OSError as exc:
                # Only a restart after a kill -9 of the run needs the record; the command
                # itself must still be waited for (and killed on a timeout) below.
                log.warning("process_group_not_recorded", pid=process.pid, error=str(exc))
        returncode = await self._wait(process, evaluation.id)
        self._check_open(evaluation)
        return await anyio.to_thread.run_sync(
            _finish_in_folder, returncode, workdir, self._max_output_bytes
        )

    async def _run_piped(self, argv: list[str], evaluation: Evaluation) -> Outcome:
        """No workdir: stdout and stderr through pipes (tails kept), the two JSON files in
        the worker's private folder under this evaluation's own names."""
        assignments, result = await self._scratch.prepare(evaluation.assignments)
        collected = False
        try:
            env = self._env_for(evaluation, assignments=assignments, result=result)
            stdout = StreamTail(self._max_output_bytes)
            stderr = StreamTail(STDERR_TAIL_BYTES)
            with Pipes() as pipes:
                try:
                    process = await self._start(
                        argv,
                        env,
                        stdout=pipes.stdout_write,
                        stderr=pipes.stderr_write,
                        cpus=evaluation.cpus,
                    )
                finally:
                    pipes.close_write_ends()  # the child has its own
                await self._register(process, evaluation.id)
                async with anyio.create_task_group() as tg:
                    tg.start_soon(stdout.drain, pipes.stdout_read)
                    tg.start_soon(stderr.drain, pipes.stderr_read)
                    returncode = await self._wait(process, evaluation.id)
                    # The command has finished in time: what it wrote decides its outcome,
                    # so the rest is shielded from the caller's deadline, and bounded. The
                    # group is gone, so the pipes close at once unless a process that left
                    # the group holds them.
                    tg.cancel_scope.shield = True
                    tg.cancel_scope.deadline = anyio.current_time() + PIPE_DRAIN_TIMEOUT_S
            self._check_open(evaluation)
            with anyio.CancelScope(shield=True):
                result_file = await self._scratch.collect(
                    assignments, result, self._max_output_bytes
                )
            collected = True
        finally:
            if not collected:
                # Shielded: this also runs on cancellation, which would otherwise leave
                # the files behind.
                with anyio.CancelScope(shield=True):
                    await self._scratch.collect(assignments, result, 0)
        return outcome_from_output(
            returncode,
            result_file=result_file,
            stdout_tail=stdout.value(),
            stderr_tail=stderr.value()[0],
            max_output_bytes=self._max_output_bytes,
        )

    async def _start(
        self,
        argv: list[str],
        env: dict[str, str],
        *,
        stdout: IO[bytes] | int,
        stderr: IO[bytes] | int,
        cpus: tuple[int, ...],
    ) -> Child:
        """Start `argv` as the leader of a new session (so of its own process group),
        pinned to the evaluation's `cpus` (if any) from its first instruction."""
        try:
            # Shielded: a cancellation landing inside open_process could leave a started
            # process we hold no handle to; once we have it, `_wait` owns it.
            with anyio.CancelScope(shield=True):
                process = await spawn(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=stdout,
                    stderr=stderr,
                    cwd=self._cwd,
                    env=env,
                    cpus=cpus,
                )
        # Not found, not executable, no shebang (ENOEXEC): every evaluation would fail alike.
        except OSError as exc:
            raise BrokenWorker(f"cannot start command {argv[0]!r}: {exc.strerror}") from exc
        log.debug("subprocess_started", pid=process.pid)
        return process

    async def _register(self, process: Child, suggestion_id: str) -> None:
        """Count a started command as running (`aclose` ends those). If `aclose` already
        ran while this evaluation was starting, it could not see this process: end it
        here, as `aclose` would have."""
        self._running.add(process)
        if self._closed:
            with anyio.CancelScope(shield=True):
                await self._terminate(process, suggestion_id=suggestion_id)
            self._running.discard(process)
            raise self._closed_during(suggestion_id)

    async def _wait(self, process: Child, suggestion_id: str) -> int:
        """The exit status; the group is SIGKILLed afterwards and waited for until its
        last process died, and on any exception (a cancellation) terminated first, then
        the exception re-raised."""
        # The child is a session leader: its pid is its process group id.
        pgid = process.pid
        try:
            returncode = await process.wait()
        except BaseException:
            # Cancelled (deadline, shutdown) or failing: the process group must not
            # outlive the evaluation. Shielded so the cleanup's awaits are not cancelled
            # by the very cancellation that triggered them; _terminate bounds itself.
            with anyio.CancelScope(shield=True):
                await self._terminate(process, suggestion_id=suggestion_id)
            raise
        finally:
            self._running.discard(process)
        # Grandchildren left running in the background (`cmd &`, a forked server)
        # belong to this evaluation too, and may hold its GPUs until they have died.
        signal_group(pgid, signal.SIGKILL)
        with anyio.move_on_after(REAP_TIMEOUT_S, shield=True) as bound:
            await group_ended(pgid)
        if bound.cancelled_caught:
            log.warning("process_group_outlived_kill", pid=pgid, suggestion_id=suggestion_id)
        log.debug("subprocess_exited", pid=pgid, returncode=returncode)
        return returncode

    def _check_open(self, evaluation: Evaluation) -> None:
        if self._closed:
            raise self._closed_during(evaluation.id)

    def _closed_during(self, suggestion_id: str) -> BrokenWorker:
        return BrokenWorker(f"{self!r} was closed during evaluation {suggestion_id}")

    def _env_for(
        self, evaluation: Evaluation, *, assignments: Path, result: Path
    ) -> dict[str, str]:
        return command_env(
            self._base_env,
            evaluation,
            assignments=assignments,
            result=result,
            user_env=self._user_env,
        )

    async def _terminate(self, process: Child, *, suggestion_id: str) -> None:
        """SIGTERM the group, give it `kill_grace_s`, SIGKILL the group, reap the leader,
        wait for the rest of the group to die (`group_ended`).

        Bounded by `kill_grace_s + REAP_TIMEOUT_S` in total; callers shield it.
        """
        pgid = process.pid
        with anyio.move_on_after(self._kill_grace_s + REAP_TIMEOUT_S) as bound:
            if signal_group(pgid, signal.SIGTERM):
                with anyio.move_on_after(self._kill_grace_s) as grace:
                    await process.wait()
                if grace.cancelled_caught:
                    log.warning(
                        "subprocess_ignored_sigterm",
                        pid=pgid,
                        suggestion_id=suggestion_id,
                        kill_grace_s=self._kill_grace_s,
                    )
            # Always, even if the leader exited: its children may still be running.
            signal_group(pgid, signal.SIGKILL)
            await process.wait()
            await group_ended(pgid)
        if bound.cancelled_caught:
            log.warning("subprocess_not_reaped", pid=pgid, suggestion_id=suggestion_id)
        else:
            log.debug("subprocess_killed", pid=pgid, suggestion_id=suggestion_id)

    async def aclose(self) -> None:
        """Refuse further evaluations and kill what still runs. Idempotent.

        The caller normally cancels its evaluations first; any still running are then
        terminated like a cancelled one, and their `evaluate` raises `BrokenWorker`.
        """
        if self._closed:
            return
        self._closed = True
        running = list(self._running)  # decide, then act: the set shrinks as they exit
        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as tg:
                for process in running:
                    tg.start_soon(self._terminate_detached, process)
            await self._scratch.remove()

    async def _terminate_detached(self, process: Child) -> None:
        await self._terminate(process, suggestion_id="")
