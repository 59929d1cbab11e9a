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
- files in the evaluation's workdir (a temporary folder, deleted afterwards, when the
  evaluation has none): `assignments.json` (written before start), `stdout.log`,
  `stderr.log` (kept), `result.json` (written by the command, optional; a stale one is
  removed before start).
- the metric: `result.json` if it exists, else the last stdout line that parses as a JSON
  object; any shape `outcome_from_result` accepts. Only the last `max_output_bytes` of
  stdout are read: memory stays bounded whatever the command prints (disk does not).

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
import re
import shlex
import shutil
import signal
import string
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import anyio
import anyio.to_thread
import structlog
from anyio.abc import Process

from workers.base import AssignmentValue, Evaluation, Failed, Outcome, outcome_from_result
from workers.errors import BrokenWorker

__all__ = ["SubprocessWorker"]

log = structlog.get_logger()

ASSIGNMENTS_FILE = "assignments.json"
RESULT_FILE = "result.json"
#: Written while an evaluation's process group runs: "<pgid> <leader start time>".
GROUP_FILE = "process_group"
STDOUT_FILE = "stdout.log"
STDERR_FILE = "stderr.log"
STDERR_TAIL_CHARS = 2000
#: After SIGKILL a process dies at once unless stuck in the kernel (D state, NFS);
#: we stop waiting for the reap after this long rather than hang shutdown.
REAP_TIMEOUT_S = 5.0

_ENV_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9]")
_FORMATTER = string.Formatter()


def param_env_name(name: str) -> str:
    """`SIGOPT_PARAM_<NAME>`: upper-cased, every non-alphanumeric replaced by `_`."""
    return "SIGOPT_PARAM_" + _ENV_NAME_UNSAFE.sub("_", name).upper()


@dataclass(frozen=True)
class _Field:
    name: str
    spec: str
    conversion: str | None


_Template = tuple[tuple[str | _Field, ...], ...]


def _parse_template(command: Sequence[str]) -> _Template:
    """Split each argv element into literals and fields, once, at construction.

    Field names are looked up as whole keys: `{a.b}` names parameter "a.b", not an
    attribute, so no value can reach into Python objects.
    """
    parsed = []
    for element in command:
        parts: list[str | _Field] = []
        try:
            for literal, name, spec, conversion in _FORMATTER.parse(element):
                if literal:
                    parts.append(literal)
                if name is None:
                    continue
                if not name:
                    raise BrokenWorker(
                        f"command element {element!r}: empty placeholder '{{}}'; name a "
                        "parameter, or write '{{{{' and '}}}}' for literal braces"
                    )
                if spec and ("{" in spec or "}" in spec):
                    raise BrokenWorker(f"command element {element!r}: nested placeholders")
                parts.append(_Field(name, spec or "", conversion))
        except ValueError as exc:  # unbalanced braces
            raise BrokenWorker(
                f"command element {element!r} is not a valid template: {exc}"
            ) from exc
        parsed.append(tuple(parts))
    return tuple(parsed)


def _render_field(field: _Field, values: Mapping[str, AssignmentValue | str]) -> str:
    if field.name not in values:
        known = ", ".join(sorted(values))
        raise BrokenWorker(
            f"command placeholder {{{field.name}}} names no parameter (known: {known})"
        )
    value: Any = values[field.name]
    if field.conversion is not None:
        value = _FORMATTER.convert_field(value, field.conversion)
    try:
        return format(value, field.spec)
    except (ValueError, TypeError) as exc:
        raise BrokenWorker(
            f"command placeholder {{{field.name}:{field.spec}}} cannot format {value!r}: {exc}"
        ) from exc


def _render(
    template: _Template, values: Mapping[str, AssignmentValue | str], *, shell: bool
) -> list[str]:
    argv = []
    for parts in template:
        rendered = []
        for part in parts:
            if isinstance(part, str):
                rendered.append(part)
            else:
                text = _render_field(part, values)
                rendered.append(shlex.quote(text) if shell else text)
        argv.append("".join(rendered))
    return ["/bin/sh", "-c", argv[0]] if shell else argv


def _check_executable(executable: str, env: Mapping[str, str], cwd: Path | None) -> None:
    """Fail at construction when the program cannot run, as the OS would look it up."""
    if os.sep in executable:
        path = Path(executable)
        if not path.is_absolute():
            path = (cwd or Path.cwd()) / path
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise BrokenWorker(f"command {executable!r} not found or not executable ({path})")
    elif shutil.which(executable, path=env.get("PATH", os.defpath)) is None:
        raise BrokenWorker(f"command {executable!r} not found on PATH")


def _read_tail(path: Path, max_bytes: int) -> tuple[bytes, bool]:
    """The last `max_bytes` of a file, and whether that cut something off."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - max_bytes))
            return f.read(max_bytes), size > max_bytes
    except FileNotFoundError:
        return b"", False


def _last_json_object(tail: bytes, truncated: bool) -> dict[str, Any] | None:
    lines = tail.splitlines()
    if truncated and lines:
        lines = lines[1:]  # the first line of a cut tail is a fragment
    for raw in reversed(lines):
        line = raw.strip()
        if not line.startswith(b"{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            return obj
    return None


@dataclass(frozen=True)
class _Files:
    workdir: Path
    stdout: IO[bytes]
    stderr: IO[bytes]

    def close(self) -> None:
        self.stdout.close()
        self.stderr.close()


def _private_file(path: Path) -> IO[bytes]:
    """Open for writing (truncated), mode 0o600 however the umask is set."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its old mode otherwise
    return os.fdopen(fd, "wb")


def _prepare_workdir(workdir: Path, assignments: Mapping[str, AssignmentValue]) -> _Files:
    # Absolute: the command may run in another cwd, and gets these paths in its env.
    workdir = workdir.absolute()
    # The owner's alone, whatever the umask: outputs may hold data or secrets of the run.
    workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _private_file(workdir / ASSIGNMENTS_FILE) as f:
        f.write(json.dumps(dict(assignments)).encode())
    # A result left by an earlier attempt in the same folder must not pass for this one's.
    (workdir / RESULT_FILE).unlink(missing_ok=True)
    stdout = _private_file(workdir / STDOUT_FILE)
    try:
        stderr = _private_file(workdir / STDERR_FILE)
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


def kill_leftover_groups(root: Path) -> int:
    """SIGKILL the process groups that evaluations under `root` recorded and that still
    run (a coordinator killed with -9 could not); returns how many were killed.

    A recorded group counts only if its leader's start time still matches, so a pid
    reused by an unrelated process is never touched.
    """
    killed = 0
    for record in root.glob(f"*/{GROUP_FILE}"):
        try:
            pgid_text, started = record.read_text().split()
            pgid = int(pgid_text)
        except (OSError, ValueError):
            continue
        if started != "-" and _start_time(pgid) == started and _signal_group(pgid, signal.SIGKILL):
            killed += 1
            log.warning("leftover_process_group_killed", pgid=pgid, evaluation=record.parent.name)
        record.unlink(missing_ok=True)
    return killed


def _signal_group(pgid: int, sig: signal.Signals) -> bool:
    """Signal a process group; False if it has no process left."""
    try:
        os.killpg(pgid, sig)
    # ESRCH: the group is gone. EPERM: only zombies are left (macOS reports that).
    except (ProcessLookupError, PermissionError):
        return False
    return True


class SubprocessWorker:
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
        self._template = _parse_template(self._command)
        self._base_env = {**os.environ, **(env or {})}
        self._cwd = cwd
        self._kill_grace_s = kill_grace_s
        self._shell = shell
        self._max_output_bytes = max_output_bytes
        self._running: set[Process] = set()
        self._closed = False
        executable = self._template[0]
        if not shell and all(isinstance(part, str) for part in executable):
            _check_executable(self._command[0], self._base_env, cwd)

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
        argv = _render(self._template, values, shell=self._shell)
        if evaluation.workdir is not None:
            return await self._run(argv, evaluation, evaluation.workdir)
        tmp = tempfile.mkdtemp(prefix=f"sigopt-eval-{evaluation.id}-")
        try:
            return await self._run(argv, evaluation, Path(tmp))
        finally:
            # Shielded: this finally also runs on cancellation, where an unshielded
            # await would raise at once and leak the folder.
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(shutil.rmtree, tmp, True)

    async def _run(self, argv: list[str], evaluation: Evaluation, workdir: Path) -> Outcome:
        try:
            files = await anyio.to_thread.run_sync(
                _prepare_workdir, workdir, evaluation.assignments
            )
        except OSError as exc:  # full disk, no permission: not the parameters' fault
            raise BrokenWorker(f"cannot prepare workdir {workdir}: {exc}") from exc
        workdir = files.workdir
        env = self._env_for(evaluation, workdir)
        try:
            # Shielded: a cancellation landing inside open_process could leave a started
            # process we hold no handle to; once we have it, the cleanup below owns it.
            with anyio.CancelScope(shield=True):
                process = await anyio.open_process(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=files.stdout,
                    stderr=files.stderr,
                    cwd=self._cwd,
                    env=env,
                    start_new_session=True,
                )
        # Not found, not executable, no shebang (ENOEXEC): every evaluation would fail alike.
        except OSError as exc:
            raise BrokenWorker(f"cannot start command {argv[0]!r}: {exc.strerror}") from exc
        finally:
            files.close()  # the child has its own descriptors
        # The child is a session leader: its pid is its process group id.
        pgid = process.pid
        self._running.add(process)
        if evaluation.workdir is not None:
            await anyio.to_thread.run_sync(_record_group, workdir, pgid)
        log.debug("subprocess_started", pid=pgid, suggestion_id=evaluation.id)
        try:
            returncode = await process.wait()
        except BaseException:
            # Cancelled (deadline, shutdown) or failing: the process group must not
            # outlive the evaluation. Shielded so the cleanup's awaits are not cancelled
            # by the very cancellation that triggered them; _terminate bounds itself.
            with anyio.CancelScope(shield=True):
                await self._terminate(process, suggestion_id=evaluation.id)
            raise
        finally:
            self._running.discard(process)
        # Grandchildren left running in the background (`cmd &`, a forked server)
        # belong to this evaluation too.
        _signal_group(pgid, signal.SIGKILL)
        (workdir / GROUP_FILE).unlink(missing_ok=True)
        log.debug("subprocess_exited", pid=pgid, returncode=returncode)
        if self._closed:
            raise BrokenWorker(f"{self!r} was closed during evaluation {evaluation.id}")
        return await anyio.to_thread.run_sync(self._outcome, returncode, workdir)

    def _env_for(self, evaluation: Evaluation, workdir: Path) -> dict[str, str]:
        env = dict(self._base_env)
        for name, value in evaluation.assignments.items():
            env[param_env_name(name)] = str(value)
        env["SIGOPT_SUGGESTION_ID"] = evaluation.id
        env["SIGOPT_ASSIGNMENTS"] = json.dumps(dict(evaluation.assignments))
        env["SIGOPT_ASSIGNMENTS_FILE"] = str(workdir / ASSIGNMENTS_FILE)
        env["SIGOPT_RESULT_FILE"] = str(workdir / RESULT_FILE)
        return env

    async def _terminate(self, process: Process, *, suggestion_id: str) -> None:
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

    def _outcome(self, returncode: int, workdir: Path) -> Outcome:
        """Blocking (small file reads): run in a thread."""
        stderr_tail = _read_tail(workdir / STDERR_FILE, STDERR_TAIL_CHARS * 4)[0]
        extra: dict[str, str | int | float] = {}
        if stderr_tail:
            text = stderr_tail.decode("utf-8", errors="replace")
            extra["stderr_tail"] = text[-STDERR_TAIL_CHARS:]
        outcome = self._outcome_from_files(returncode, workdir)
        if isinstance(outcome, Failed) and extra:
            return Failed(reason=outcome.reason, details={**outcome.details, **extra})
        return outcome

    def _outcome_from_files(self, returncode: int, workdir: Path) -> Outcome:
        if returncode < 0:
            sig = -returncode
            try:
                sig_name = signal.Signals(sig).name
            except ValueError:
                sig_name = f"SIG{sig}"
            return Failed(
                reason="signal",
                details={
                    "signal": sig_name,
                    "signal_number": sig,
                    "message": f"command was killed by {sig_name}",
                },
            )
        if returncode > 0:
            return Failed(
                reason="exit_code",
                details={
                    "exit_code": returncode,
                    "message": f"command exited with code {returncode}",
                },
            )
        result_file = workdir / RESULT_FILE
        if result_file.exists():
            return self._outcome_from_result_file(result_file)
        tail, truncated = _read_tail(workdir / STDOUT_FILE, self._max_output_bytes)
        obj = _last_json_object(tail, truncated)
        if obj is None:
            return Failed(
                reason="no_metric",
                details={
                    "message": f"command exited 0 but wrote no {RESULT_FILE} and no JSON "
                    "object line to stdout",
                },
            )
        return _with_source(outcome_from_result(obj), "stdout")

    def _outcome_from_result_file(self, path: Path) -> Outcome:
        raw, truncated = _read_tail(path, self._max_output_bytes)
        if truncated:
            return Failed(
                reason="invalid_result",
                details={
                    "source": RESULT_FILE,
                    "message": f"{RESULT_FILE} is larger than {self._max_output_bytes} bytes",
                },
            )
        try:
            result = json.loads(raw)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            return Failed(
                reason="invalid_result",
                details={"source": RESULT_FILE, "message": f"invalid JSON: {exc}"[:500]},
            )
        return _with_source(outcome_from_result(result), RESULT_FILE)

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

    async def _terminate_detached(self, process: Process) -> None:
        await self._terminate(process, suggestion_id="")

    async def __aenter__(self) -> SubprocessWorker:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _with_source(outcome: Outcome, source: str) -> Outcome:
    if isinstance(outcome, Failed) and outcome.reason == "invalid_result":
        return Failed(reason=outcome.reason, details={**outcome.details, "source": source})
    return outcome
