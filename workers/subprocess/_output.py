"""What a command's run says: its exit, its result file, the tails of its stdout and stderr,
turned into an `Outcome` (the metric contract of `SubprocessWorker`).

Only tails are ever held: the last `max_output_bytes` of stdout and of a result file, the
last few KB of stderr, so memory stays bounded whatever the command prints.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import structlog

from workers.base import Failed, Outcome, outcome_from_result

__all__ = [
    "RESULT_ENV",
    "RESULT_FILE",
    "STDERR_FILE",
    "STDERR_TAIL_BYTES",
    "STDOUT_FILE",
    "StreamTail",
    "outcome_from_folder",
    "outcome_from_output",
    "read_result",
    "read_tail",
]

log = structlog.get_logger()

RESULT_FILE = "result.json"
#: The command's output in its evaluation folder, kept for the user.
STDOUT_FILE = "stdout.log"
STDERR_FILE = "stderr.log"
#: The variable that gives the command the path of its result file.
RESULT_ENV = "SIGOPT_RESULT_FILE"
#: Characters of stdout and of stderr a failure's details keep (their ends).
TAIL_CHARS = 2000
#: Bytes of stderr kept: enough for `TAIL_CHARS` characters of UTF-8.
STDERR_TAIL_BYTES = TAIL_CHARS * 4
READ_CHUNK_BYTES = 64 * 1024


@dataclass
class StreamTail:
    """The last `limit` bytes read from a pipe, and whether anything before them was cut."""

    limit: int
    data: bytearray = field(default_factory=bytearray)
    truncated: bool = False

    async def drain(self, fd: int) -> None:
        """Read the non-blocking pipe `fd` to its end, keeping only the tail. The caller
        owns (and closes) `fd`: a pipe of ours, so closing it never depends on a process
        that may still hold the other end."""
        while True:
            try:
                chunk = os.read(fd, READ_CHUNK_BYTES)
            except BlockingIOError:
                await anyio.wait_readable(fd)
                continue
            if not chunk:
                return
            self.data += chunk
            if len(self.data) > self.limit:
                del self.data[: len(self.data) - self.limit]
                self.truncated = True

    def value(self) -> tuple[bytes, bool]:
        return bytes(self.data), self.truncated


#: Errors opening an output file that are ours, not the command's.
_OUR_TROUBLE = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM})


def read_result(path: Path, max_bytes: int) -> tuple[bytes, bool] | None:
    """The last `max_bytes` of a file the command wrote, and whether that cut something
    off; None when there is none, or when what it left there is no readable regular
    file (a FIFO, a socket, a directory, a symlink loop, a file it made unreadable): the
    command's doing, so no output, never an error of the worker. Opening a FIFO for
    reading would wait for a writer that never comes: O_NONBLOCK returns at once, and
    fstat tells what it is. Raises `OSError` only for our own trouble (out of
    descriptors or memory)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno in _OUR_TROUBLE:
            raise
        log.warning("output_file_unreadable", path=str(path), error=str(exc))
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # before open(): FileIO refuses a directory
            log.warning("output_file_not_regular", path=str(path))
            return None
        with open(fd, "rb", closefd=False) as f:
            f.seek(max(0, info.st_size - max_bytes))
            return f.read(max_bytes), info.st_size > max_bytes
    finally:
        os.close(fd)


def read_tail(path: Path, max_bytes: int) -> tuple[bytes, bool]:
    """`read_result` of a log the worker made (stdout.log, stderr.log): nothing there,
    or nothing readable, is an empty tail."""
    return read_result(path, max_bytes) or (b"", False)


def outcome_from_folder(returncode: int, workdir: Path, max_output_bytes: int) -> Outcome:
    """`outcome_from_output` of a command that wrote into its evaluation folder. Blocking
    (small reads of the folder's files): run it in a thread."""
    return outcome_from_output(
        returncode,
        result_file=read_result(workdir / RESULT_FILE, max_output_bytes),
        stdout_tail=read_tail(workdir / STDOUT_FILE, max_output_bytes),
        stderr_tail=read_tail(workdir / STDERR_FILE, STDERR_TAIL_BYTES)[0],
        max_output_bytes=max_output_bytes,
    )


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


def outcome_from_output(
    returncode: int,
    *,
    result_file: tuple[bytes, bool] | None,
    stdout_tail: tuple[bytes, bool],
    stderr_tail: bytes,
    max_output_bytes: int,
) -> Outcome:
    """The outcome of a finished command; `result_file` is None when it wrote none.

    Failures carry the ends of stdout and stderr as `details["stdout_tail"]` and
    `details["stderr_tail"]` when there was any, and the exit status as
    `details["exit_code"]` when the command exited (0 for `no_metric`, `invalid_result`,
    `objective_failed`); one killed by a signal has `signal` instead.
    """
    outcome = _outcome(returncode, result_file, stdout_tail, max_output_bytes)
    if not isinstance(outcome, Failed):
        return outcome
    details = dict(outcome.details)
    if returncode >= 0:
        details.setdefault("exit_code", returncode)
    for key, (tail, _) in (("stdout_tail", stdout_tail), ("stderr_tail", (stderr_tail, False))):
        if tail.strip():
            details[key] = tail.decode("utf-8", errors="replace")[-TAIL_CHARS:]
    return Failed(reason=outcome.reason, details=details)


def _outcome(
    returncode: int,
    result_file: tuple[bytes, bool] | None,
    stdout_tail: tuple[bytes, bool],
    max_output_bytes: int,
) -> Outcome:
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
    if result_file is not None:
        return _outcome_from_result_file(result_file, max_output_bytes)
    obj = _last_json_object(*stdout_tail)
    if obj is None:
        return Failed(
            reason="no_metric",
            details={
                "message": f"command exited 0 but wrote no {RESULT_FILE} and no JSON "
                "object line to stdout",
            },
        )
    return _with_source(outcome_from_result(obj), "stdout")


def _outcome_from_result_file(result_file: tuple[bytes, bool], max_output_bytes: int) -> Outcome:
    raw, truncated = result_file
    if truncated:
        return Failed(
            reason="invalid_result",
            details={
                "source": RESULT_FILE,
                "message": f"{RESULT_FILE} is larger than {max_output_bytes} bytes",
            },
        )
    try:
        result: Any = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        return Failed(
            reason="invalid_result",
            details={"source": RESULT_FILE, "message": f"invalid JSON: {exc}"[:500]},
        )
    return _with_source(outcome_from_result(result), RESULT_FILE)


def _with_source(outcome: Outcome, source: str) -> Outcome:
    if isinstance(outcome, Failed) and outcome.reason == "invalid_result":
        return Failed(reason=outcome.reason, details={**outcome.details, "source": source})
    return outcome
