"""Run each evaluation as a command in its own process group; read the metric it reports.

```python
worker = SubprocessWorker([sys.executable, "train.py", "--lr", "{lr}", "--optimizer", "{opt}"])
outcome = await worker.evaluate(Evaluation(id="7", assignments={"lr": 0.01, "opt": "adam"},
                                           workdir=Path("runs/7")))
```

The contract with the command (also in the README):

- argv: each element of `command` is formatted on its own with `{name}` (a parameter),
  `{name:.3g}` (with a format spec) or `{suggestion_id}`; `{{`/`}}` are literal braces.
  A value fills part of exactly one argv element and is never split or interpreted by a
  shell, so `"; rm -rf ~"` arrives as one harmless argument. With `shell=True`, `command`
  is one string run by `/bin/sh -c` and every value is `shlex.quote`d first.
- environment: the orchestrator's environment, then the worker's `env`, then
  `SIGOPT_SUGGESTION_ID`, `SIGOPT_ASSIGNMENTS` (JSON object), `SIGOPT_ASSIGNMENTS_FILE`,
  `SIGOPT_RESULT_FILE` and one `SIGOPT_PARAM_<NAME>` per parameter (upper-cased,
  non-alphanumerics replaced by `_`).
- files in the evaluation's workdir: `assignments.json` (written before start),
  `stdout.log`, `stderr.log` (kept), `result.json` (written by the command, optional; a
  stale one is removed before start). An evaluation without a workdir (a library run
  with no run folder) keeps no files: stdout and stderr are read through pipes, keeping
  only their tails, and the two JSON files live in a private folder of the worker under
  unique names, removed after the evaluation (the folder itself on `aclose`). That saves
  a folder and three files per evaluation: ~1 ms of CPU, which for a command that runs
  for 20 ms was the whole gap to plain `asyncio` subprocess calls. The folder is in
  memory where possible, so those two files cost no thread hop (`subprocess_scratch.py`),
  and the command's exit is awaited on a pidfd, not a thread (`subprocess_spawn.py`).
- the metric: `result.json` if it exists, else the last stdout line that parses as a JSON
  object; any shape `outcome_from_result` accepts (`subprocess_output.py`). Only the last
  `max_output_bytes` of stdout are kept: memory stays bounded whatever the command prints
  (with a workdir, disk does not).

Failures are `Failed` outcomes with `details["message"]` and, when the command wrote to
stderr, `details["stderr_tail"]`: `exit_code` (+ `exit_code`), `signal` (+ `signal`,
`signal_number`), `no_metric`, `invalid_result` (+ `source`), `objective_failed`
(the command reported `{"failed": true}`). A missing executable or a placeholder naming
no parameter raises `BrokenWorker`: every evaluation would fail the same way.

Cancellation (the caller's deadline, shutdown) is real: SIGTERM to the whole process
group, up to `kill_grace_s` for the command to exit, then SIGKILL to the group, then reap;
this cleanup is shielded from the cancellation and bounded in time, and the cancellation
is re-raised. The group is also SIGKILLed after a normal exit, so processes the command
left in the background never outlive its evaluation.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import anyio
import anyio.to_thread
import structlog

from workers.base import AssignmentValue, ClosesOnExit, Evaluation, Outcome
from workers.errors import BrokenWorker
from workers.subprocess_argv import param_env_name, parse_template, render
from workers.subprocess_orphans import groups_naming
from workers.subprocess_output import (
    RESULT_ENV,
    RESULT_FILE,
    STDERR_TAIL_BYTES,
    StreamTail,
    outcome_from_output,
    read_result,
    read_tail,
)
from workers.subprocess_scratch import (
    ASSIGNMENTS_FILE,
    ScratchFolder,
    private_file,
    write_assignments,
)
from workers.subprocess_spawn import Child, spawn

__all__ = ["SubprocessWorker"]

log = structlog.get_logger()

#: Written while an evaluation's process group runs: "<pgid> <leader start time>"; before
#: the start, `STARTING_RECORD`.
GROUP_FILE = "process_group"
STARTING_RECORD = "starting"
STDOUT_FILE = "stdout.log"
STDERR_FILE = "stderr.log"
#: After SIGKILL a process dies at once unless stuck in the kernel (D state, NFS);
#: we stop waiting for the reap after this long rather than hang shutdown.
REAP_TIMEOUT_S = 5.0
#: Once the process group is gone its pipes close; a process that left the group (its own
#: `setsid`) may still hold them, and is not waited for longer than this.
PIPE_DRAIN_TIMEOUT_S = 2.0


def check_executable(executable: str, env: Mapping[str, str], cwd: Path | None) -> None:
    """`BrokenWorker` unless the program can run, looked up as the OS will for the
    command: in `env`'s PATH, or relative to `cwd`. Also the config's start-up check."""
    if os.sep in executable:
        path = Path(executable)
        if not path.is_absolute():
            path = (cwd or Path.cwd()) / path
        if not path.is_file():
            raise BrokenWorker(f"command {executable!r} does not exist (looked for {str(path)!r})")
        if not os.access(path, os.X_OK):
            raise BrokenWorker(f"command {executable!r} is not executable (chmod +x?)")
    elif shutil.which(executable, path=env.get("PATH", os.defpath)) is None:
        raise BrokenWorker(f"command {executable!r} is not an executable on PATH")


@dataclass(frozen=True)
class _Files:
    workdir: Path
    stdout: IO[bytes]
    stderr: IO[bytes]

    def close(self) -> None:
        self.stdout.close()
        self.stderr.close()


def _prepare_workdir(workdir: Path, assignments: Mapping[str, AssignmentValue]) -> _Files:
    # Absolute: the command may run in another cwd, and gets these paths in its env.
    workdir = workdir.absolute()
    # The owner's alone, whatever the umask: outputs may hold data or secrets of the run.
    workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_assignments(workdir / ASSIGNMENTS_FILE, assignments)
    # Before the start: a run killed before the group is recorded leaves this for its
    # restart, which then finds the group by its environment (`subprocess_orphans`).
    (workdir / GROUP_FILE).write_text(f"{STARTING_RECORD}\n")
    # A result left by an earlier attempt in the same folder must not pass for this one's.
    (workdir / RESULT_FILE).unlink(missing_ok=True)
    stdout = private_file(workdir / STDOUT_FILE)
    try:
        stderr = private_file(workdir / STDERR_FILE)
    except BaseException:
        stdout.close()
        raise
    return _Files(workdir, stdout, stderr)


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22; the command name (field 2) may hold spaces, so split after its ')'.
    return stat.rpartition(")")[2].split()[19]


def _record_group(workdir: Path, pgid: int) -> None:
    """Leave the group's id in the evaluation folder until the group is gone, so a run
    restarted after a kill -9 of the coordinator can kill what that run left behind."""
    (workdir / GROUP_FILE).write_text(f"{pgid} {_start_time(pgid) or '-'}\n")


class _Pipes:
    """stdout and stderr pipes for a command: the write ends go to the child and are
    closed here once it started, the read ends are non-blocking and closed on exit."""

    def __init__(self) -> None:
        self._fds: list[int] = []
        try:
            self.stdout_read, self.stdout_write = self._pipe()
            self.stderr_read, self.stderr_write = self._pipe()
        except OSError as exc:  # out of descriptors
            self._close(*list(self._fds))
            raise BrokenWorker(f"cannot make pipes for the command: {exc}") from exc

    def _pipe(self) -> tuple[int, int]:
        read, write = os.pipe()
        self._fds += [read, write]
        os.set_blocking(read, False)
        return read, write

    def close_write_ends(self) -> None:
        self._close(self.stdout_write, self.stderr_write)

    def _close(self, *fds: int) -> None:
        for fd in fds:
            if fd in self._fds:
                self._fds.remove(fd)
                os.close(fd)

    def __enter__(self) -> _Pipes:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._close(*list(self._fds))


def _outcome_from_folder(returncode: int, workdir: Path, max_output_bytes: int) -> Outcome:
    """Blocking (small reads of the folder's files): run in a thread. The group has
    exited, so its record goes too."""
    (workdir / GROUP_FILE).unlink(missing_ok=True)
    result_file = workdir / RESULT_FILE
    return outcome_from_output(
        returncode,
        result_file=read_result(result_file, max_output_bytes),
        stdout_tail=read_tail(workdir / STDOUT_FILE, max_output_bytes),
        stderr_tail=read_tail(workdir / STDERR_FILE, STDERR_TAIL_BYTES)[0],
        max_output_bytes=max_output_bytes,
    )


def kill_leftover_groups(root: Path) -> int:
    """SIGKILL the process groups that evaluations under `root` left running (a
    coordinator killed with -9 could not); returns how many were killed.

    A recorded group counts only if its leader's start time still matches, so a pid
    reused by an unrelated process is never touched. An evaluation whose record still
    says it was starting had its group found by its environment (`subprocess_orphans`).
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
                and _start_time(pgid) == started
                and _signal_group(pgid, signal.SIGKILL)
            ):
                killed.add(pgid)
                log.warning(
                    "leftover_process_group_killed", pgid=pgid, evaluation=record.parent.name
                )
        record.unlink(missing_ok=True)
    for pgid in groups_naming(starting) - killed:
        if _signal_group(pgid, signal.SIGKILL):
            killed.add(pgid)
            log.warning("leftover_process_group_killed", pgid=pgid, found_by="environment")
    return len(killed)


def _signal_group(pgid: int, sig: signal.Signals) -> bool:
    """Signal a process group; False if it has no process left."""
    try:
        os.killpg(pgid, sig)
    # ESRCH: the group is gone. EPERM: only zombies are left (macOS reports that).
    except (ProcessLookupError, PermissionError):
        return False
    return True


class SubprocessWorker(ClosesOnExit):
    """Runs `command` once per evaluation; see the module docstring for the contract.

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
        self._base_env = {**os.environ, **(env or {})}
        self._cwd = cwd
        self._kill_grace_s = kill_grace_s
        self._shell = shell
        self._max_output_bytes = max_output_bytes
        self._running: set[Child] = set()
        self._closed = False
        # The private folder of evaluations without a workdir: made on first use.
        self._scratch = ScratchFolder()
        executable = self._template[0]
        if not shell and all(isinstance(part, str) for part in executable):
            check_executable(self._command[0], self._base_env, cwd)

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

        Cancelling kills the whole process group (see the module docstring). Raises
        `BrokenWorker` for a missing executable, an unknown placeholder, or when the
        worker is closed.
        """
        if self._closed:
            raise BrokenWorker(f"{self!r} is closed")
        values: dict[str, AssignmentValue | str] = {
            **evaluation.assignments,
            "suggestion_id": evaluation.id,
        }
        argv = render(self._template, values, shell=self._shell)
        if evaluation.workdir is not None:
            return await self._run_in_folder(argv, evaluation, evaluation.workdir)
        return await self._run_piped(argv, evaluation)

    async def _run_in_folder(
        self, argv: list[str], evaluation: Evaluation, workdir: Path
    ) -> Outcome:
        """stdout and stderr to files in `workdir`, kept for the user."""
        try:
            files = await anyio.to_thread.run_sync(
                _prepare_workdir, workdir, evaluation.assignments
            )
        except OSError as exc:  # full disk, no permission: not the parameters' fault
            raise BrokenWorker(f"cannot prepare workdir {workdir}: {exc}") from exc
        workdir = files.workdir
        env = self._env_for(
            evaluation, assignments=workdir / ASSIGNMENTS_FILE, result=workdir / RESULT_FILE
        )
        try:
            process = await self._start(argv, env, stdout=files.stdout, stderr=files.stderr)
        finally:
            files.close()  # the child has its own descriptors
        await self._register(process, evaluation.id)
        # Shielded (a short write): a cancellation arriving meanwhile is taken by `_wait`,
        # which terminates the group, instead of leaving the command running.
        with anyio.CancelScope(shield=True):
            try:
                await anyio.to_thread.run_sync(_record_group, workdir, process.pid)
            except OSError as exc:
                # Only a restart after a kill -9 of the run needs the record; the command
                # itself must still be waited for (and killed on a timeout) below.
                log.warning("process_group_not_recorded", pid=process.pid, error=str(exc))
        returncode = await self._wait(process, evaluation.id)
        self._check_open(evaluation)
        return await anyio.to_thread.run_sync(
            _outcome_from_folder, returncode, workdir, self._max_output_bytes
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
            with _Pipes() as pipes:
                try:
                    process = await self._start(
                        argv, env, stdout=pipes.stdout_write, stderr=pipes.stderr_write
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
    ) -> Child:
        """Start `argv` as the leader of a new session (so of its own process group)."""
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
        """The exit status; the group is SIGKILLed afterwards, and on any exception
        (a cancellation) terminated first, then the exception re-raised."""
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
        # belong to this evaluation too.
        _signal_group(pgid, signal.SIGKILL)
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
        env = dict(self._base_env)
        for name, value in evaluation.assignments.items():
            env[param_env_name(name)] = str(value)
        env["SIGOPT_SUGGESTION_ID"] = evaluation.id
        env["SIGOPT_ASSIGNMENTS"] = json.dumps(dict(evaluation.assignments))
        env["SIGOPT_ASSIGNMENTS_FILE"] = str(assignments)
        env[RESULT_ENV] = str(result)
        return env

    async def _terminate(self, process: Child, *, suggestion_id: str) -> None:
        """SIGTERM the group, give it `kill_grace_s`, SIGKILL the group, reap.

        Bounded by `kill_grace_s + REAP_TIMEOUT_S` in total; callers shield it.
        """
        pgid = process.pid
        with anyio.move_on_after(self._kill_grace_s + REAP_TIMEOUT_S) as bound:
            if _signal_group(pgid, signal.SIGTERM):
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
            _signal_group(pgid, signal.SIGKILL)
            await process.wait()
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
