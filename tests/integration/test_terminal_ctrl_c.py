"""Ctrl-C and resume on a real terminal (issue 12, item 9): `orchestrator run` in tmux,
the screen read back as the user sees it. Needs the `tmux` program (CI installs it)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).parent / "scripts_eval.py"


class Terminal:
    """A tmux server of its own (its socket in the test's folder), one 120x50 window."""

    def __init__(self, socket: Path) -> None:
        self.folder, self.name = socket.parent, socket.stem
        self.starts = 0
        self.socket = socket

    def tmux(self, *args: str) -> str:
        # The server's environment is the starting client's: a terminal's size comes from
        # the terminal, not from COLUMNS / LINES that pytest's own environment may carry.
        drop = ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "TMUX")
        env = {k: v for k, v in os.environ.items() if k not in drop}
        done = subprocess.run(
            ["tmux", "-S", str(self.socket), *args],
            capture_output=True,
            text=True,
            timeout=10,
            env=env,
        )
        assert done.returncode == 0, f"tmux {args[0]}: exit {done.returncode}: {done.stderr}"
        return done.stdout

    def start(self, command: str) -> None:
        """Run `command` in a fresh window; `EXIT=<code>` is printed when it ends."""
        shell = f"cd {shlex.quote(str(REPO))} && {command}; echo EXIT=$?; sleep 600"
        if self.socket.exists():
            subprocess.run(["tmux", "-S", str(self.socket), "kill-server"], capture_output=True)
        # A fresh server on a fresh socket each time: a new client on the socket of a server
        # that is still exiting gets "server exited unexpectedly".
        self.starts += 1
        self.socket = self.folder / f"{self.name}-{self.starts}.sock"
        self.tmux("new-session", "-d", "-x", "120", "-y", "50", shell)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p")

    def ctrl_c(self) -> None:
        self.tmux("send-keys", "C-c")

    def wait_for(self, text: str, timeout_s: float = 60) -> str:
        deadline = time.monotonic() + timeout_s
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            assert time.monotonic() < deadline, f"no {text!r} on the screen:\n{screen}"
            time.sleep(0.1)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    term = Terminal(tmp_path / "tmux.sock")
    yield term
    subprocess.run(["tmux", "-S", str(term.socket), "kill-server"], capture_output=True)


def write_config(tmp_path: Path, sleep_s: float) -> Path:
    config = {
        "experiment": {
            "name": "ctrl-c",
            "type": "random",
            "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
            "observation_budget": 12,
        },
        "workers": {
            "kind": "subprocess",
            "count": 3,
            "command": [
                *(sys.executable, str(SCRIPT), "--x", "{x}", "--sleep", str(sleep_s)),
                *("--pids", str(tmp_path / "pids")),
            ],
        },
        "timeouts": {"drain_s": 60, "kill_grace_s": 1},
        "run": {"dir": str(tmp_path / "runs"), "name": "ctrlc"},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def panel_copies(screen: str) -> int:
    return sum(1 for line in screen.splitlines() if line.startswith("┌"))


class TestCtrlCOnScreen:
    """What a user sees: Ctrl-C, Ctrl-C again, then the same command to resume."""

    def test_stop_cancel_resume(self, tmp_path: Path, terminal: Terminal) -> None:
        """1. Three 60 s evaluations run under the live panel. Ctrl-C: the message sits
           above the one panel (no stray copy of its header), whose `time left` says
           `draining`.
        2. Ctrl-C again: a line says the running evaluations are cancelled and their
           suggestions stay open; the run exits 130 leaving 3 open.
        3. The same command (quick evaluations now) says `resumed: 3 adopted, 0 replayed`
           and its panel labels the experiment's count apart from this run's."""
        command = f"{shlex.quote(sys.executable)} -m orchestrator run"
        config = write_config(tmp_path, sleep_s=60)
        terminal.start(f"{command} {shlex.quote(str(config))}")
        terminal.wait_for("running (open)")
        pids = tmp_path / "pids"
        deadline = time.monotonic() + 60
        while not (pids.exists() and len(list(pids.iterdir())) >= 3):
            assert time.monotonic() < deadline, terminal.screen()
            time.sleep(0.1)

        terminal.ctrl_c()
        screen = terminal.wait_for("draining")
        lines = screen.splitlines()
        message = next(i for i, line in enumerate(lines) if "SIGINT: no new suggestions" in line)
        top = next(i for i, line in enumerate(lines) if line.startswith("┌"))
        assert panel_copies(screen) == 1, screen
        assert message < top, screen
        # Only the "on <url>" line and the panel's own title name the experiment.
        assert sum("experiment 1" in line for line in lines[:top]) == 2, screen
        time_left = next(line for line in lines if "time left" in line)
        assert "draining" in time_left, screen

        terminal.ctrl_c()
        screen = terminal.wait_for("EXIT=", timeout_s=30)
        assert "EXIT=130" in screen, screen
        assert "cancelling running evaluations; their suggestions stay open for resume" in screen, (
            screen
        )
        assert "left open for resume: 3 suggestion(s)" in screen, screen
        assert panel_copies(screen) == 1, screen

        config = write_config(tmp_path, sleep_s=0.05)
        terminal.start(f"{command} {shlex.quote(str(config))}")
        screen = terminal.wait_for("EXIT=", timeout_s=60)
        assert "EXIT=0" in screen, screen
        assert "resumed: 3 adopted, 0 replayed" in screen, screen
        row = next(line for line in screen.splitlines() if "experiment observations" in line)
        assert "12 / 12" in row, screen
        assert any("this run: completed" in line for line in screen.splitlines()), screen
