"""Output off a terminal and on one: no hard wrap at 80 columns and no ANSI codes into a
pipe; colour on a terminal; `NO_COLOR` and `FORCE_COLOR` win over the terminal test, for
the console (messages, tables) and the `--log-format console` log renderer alike.

Pipes are real pipes (`subprocess`), the terminal a real pseudo-terminal (`pty`).
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
#: An SGR sequence that sets a colour (foreground, background, bright, 256, truecolor,
#: default): bold or dim alone is no colour (https://no-color.org allows them).
COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-9]|4[0-9]|9[0-7]|10[0-7])(?:;[0-9;]*)?m")
ESC = "\x1b"


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES", "TTY_COMPATIBLE")
    }
    env["TERM"] = "xterm-256color"
    return {**env, **extra}


def bad_config(folder: Path) -> Path:
    """A config whose error message, with the file's path, is well over 80 characters."""
    path = folder / ("a-config-with-a-rather-long-name-" + "x" * 30 + ".yaml")
    path.write_text(
        yaml.safe_dump(
            {
                "experiment": {
                    "name": "bad",
                    "parameters": [
                        {"name": "x", "type": "double", "bounds": {"min": "abc", "max": 1}}
                    ],
                    "observation_budget": 2,
                },
                "workers": {
                    "kind": "async",
                    "count": 1,
                    "function": "tests.orchestrator.objectives:constant",
                },
            }
        )
    )
    return path


def good_config(folder: Path) -> Path:
    path = folder / "tiny.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "experiment": {
                    "name": "tiny",
                    "type": "random",
                    "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
                    "observation_budget": 2,
                },
                "workers": {
                    "kind": "async",
                    "count": 1,
                    "function": "tests.orchestrator.objectives:constant",
                },
                "run": {"dir": str(folder / "runs")},
            }
        )
    )
    return path


def orchestrator(*argv: str | Path) -> list[str]:
    return [sys.executable, "-m", "orchestrator", *(str(a) for a in argv)]


def in_pipes(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def on_terminal(argv: list[str], env: dict[str, str], columns: int = 200) -> tuple[int, str]:
    """Run `argv` with stdin, stdout and stderr on a fresh pseudo-terminal; all it wrote."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True
    )
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer closed the terminal
                break
            if not chunk:
                break
            out += chunk
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return code, out.decode(errors="replace")


class TestMessagesOffATerminal:
    """A message into a pipe is one line, however long, with no escape codes."""

    def test_config_error_is_one_line_in_a_pipe(self, tmp_path: Path) -> None:
        config = bad_config(tmp_path)
        done = in_pipes(orchestrator("run", config), clean_env())
        assert done.returncode == 2
        lines = done.stdout.splitlines()
        assert len(lines) == 1, done.stdout
        assert "Input should be a valid number" in lines[0] and str(config) in lines[0]
        assert len(lines[0]) > 100
        assert ESC not in done.stdout + done.stderr

    def test_markup_like_text_is_printed_as_is(self, tmp_path: Path) -> None:
        """A path such as `[run]/x.yaml` is text, not rich markup to swallow."""
        missing = tmp_path / "[run]" / "missing.yaml"
        for command in ("run", "status"):
            argv = (
                orchestrator(command, missing)
                if command == "run"
                else orchestrator(command, "--config", missing)
            )
            done = in_pipes(argv, clean_env())
            assert done.returncode == 2
            assert f"(in {missing})" in done.stdout, done.stdout

    def test_force_color_colours_a_pipe_without_wrapping(self, tmp_path: Path) -> None:
        config = bad_config(tmp_path)
        done = in_pipes(orchestrator("run", config), clean_env(FORCE_COLOR="1"))
        assert done.returncode == 2
        assert COLOUR.search(done.stdout), repr(done.stdout)
        assert len(done.stdout.splitlines()) == 1

    def test_table_is_not_wrapped_in_a_pipe(self, tmp_path: Path) -> None:
        """`observations` of a run whose failure messages are long: rows stay whole."""
        config = good_config(tmp_path)
        raw = yaml.safe_load(config.read_text())
        raw["workers"]["function"] = "tests.orchestrator.objectives:always_fails_at_length"
        raw["failures"] = {"max_consecutive": None, "max_fraction": None}
        config.write_text(yaml.safe_dump(raw))
        assert in_pipes(orchestrator("run", config, "--log-format", "json"), clean_env())
        done = in_pipes(orchestrator("observations", "--config", config), clean_env())
        assert done.returncode == 0, done.stdout + done.stderr
        assert "exception: " + "the objective failed, " * 6 in done.stdout
        assert ESC not in done.stdout


class TestOnATerminal:
    """On a terminal: colour, unless NO_COLOR; the live display's rules are unchanged."""

    def test_colour_on_a_terminal(self, tmp_path: Path) -> None:
        code, out = on_terminal(orchestrator("run", bad_config(tmp_path)), clean_env())
        assert code == 2
        assert COLOUR.search(out), repr(out)

    def test_no_color_on_a_terminal(self, tmp_path: Path) -> None:
        code, out = on_terminal(orchestrator("run", bad_config(tmp_path)), clean_env(NO_COLOR="1"))
        assert code == 2
        assert "config error:" in out
        assert not COLOUR.search(out), repr(out)


class TestConsoleLogs:
    """`--log-format console`: colour only on a terminal, or where FORCE_COLOR asks."""

    def test_no_escape_codes_in_a_pipe(self, tmp_path: Path) -> None:
        done = in_pipes(
            orchestrator("run", good_config(tmp_path), "--log-format", "console"), clean_env()
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "[info     ] run_started" in done.stderr
        assert ESC not in done.stderr and ESC not in done.stdout

    def test_force_color_in_a_pipe(self, tmp_path: Path) -> None:
        done = in_pipes(
            orchestrator("run", good_config(tmp_path), "--log-format", "console"),
            clean_env(FORCE_COLOR="1"),
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert COLOUR.search(done.stderr), done.stderr

    def test_terminal_and_no_color(self, tmp_path: Path) -> None:
        argv = orchestrator("run", good_config(tmp_path), "--log-format", "console")
        code, coloured = on_terminal(argv, clean_env())
        assert code == 0 and COLOUR.search(coloured), coloured
        code, plain = on_terminal(argv, clean_env(NO_COLOR="1"))
        assert code == 0 and "[info     ] run_started" in plain
        assert not COLOUR.search(plain), repr(plain)
