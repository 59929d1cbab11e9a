"""What the newcomer tests share: the installed `orchestrator` script, a user's environment,
and a command on a pseudo-terminal of its own (`OnTerminal`), where Ctrl-C is the byte
0x03 typed at it, as in a terminal window, not a signal the test sends to a pid."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

#: Beside the interpreter: the console script of this install (the venv's `bin`).
SCRIPT = Path(sys.executable).parent / "orchestrator"
#: What rich draws on a terminal besides text: colours, cursor moves, line erases.
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r")


def user_env() -> dict[str, str]:
    """The environment of a user's shell: nothing that puts the repo on `sys.path`, and no
    venv active (its `bin` off `PATH`): the commands must find what they need themselves."""
    venv_bin = str(SCRIPT.parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != venv_bin)
    drop = {"PYTHONPATH", "VIRTUAL_ENV", "COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR"}
    return {**{k: v for k, v in os.environ.items() if k not in drop}, "PATH": path}


def run_installed(
    argv: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The installed script with `argv`, run in `cwd` in a user's environment (or `env`),
    its output captured."""
    return subprocess.run(
        [str(SCRIPT), *argv],
        cwd=cwd,
        env=user_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def plain(text: str) -> str:
    """Terminal output without its escape sequences."""
    return ANSI.sub("", text)


class OnTerminal:
    """`argv` run in `cwd` on a new pseudo-terminal (120 x 40) that is its controlling
    terminal, as a shell in a terminal window runs it; what it draws is read on a thread."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.argv = argv
        pid, self._master = pty.fork()
        if pid == 0:  # the child: the pty is its stdin, stdout, stderr and terminal
            try:
                fcntl.ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
                os.chdir(cwd)
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid = pid
        self._chunks: list[bytes] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.returncode: int | None = None

    def __repr__(self) -> str:
        return f"<OnTerminal pid={self.pid} argv={self.argv} returncode={self.returncode}>"

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 65536)
            except OSError:  # EIO: the last process holding the terminal is gone
                return
            if not chunk:
                return
            with self._lock:
                self._chunks.append(chunk)

    def output(self) -> str:
        """Everything it drew so far, escape sequences removed."""
        with self._lock:
            raw = b"".join(self._chunks)
        return plain(raw.decode("utf-8", "replace"))

    def type_ctrl_c(self) -> None:
        """Ctrl-C at the keyboard: the terminal sends SIGINT to its foreground group."""
        os.write(self._master, b"\x03")

    def wait(self, timeout_s: float) -> int:
        """Its exit code; past `timeout_s` it is killed (with its group) and this fails."""
        deadline = time.monotonic() + timeout_s
        while self.returncode is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.returncode = os.waitstatus_to_exitcode(status)
            elif time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"{self!r} still running after {timeout_s}s:\n{self.output()}")
            else:
                time.sleep(0.05)
        self._reader.join(timeout=5)
        os.close(self._master)
        return self.returncode

    def kill(self) -> None:
        """SIGKILL its process group (the one it leads), then reap it."""
        if self.returncode is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
                _, status = os.waitpid(self.pid, 0)
                self.returncode = os.waitstatus_to_exitcode(status)
            except (ProcessLookupError, ChildProcessError):  # gone already
                pass
