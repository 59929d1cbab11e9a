"""Every command README shows runs exactly as shown.

The commands are the lines of README's fenced `sh` blocks, run in order in one shell
session (the working directory and the environment carry from one to the next, as in a
terminal), in a temporary folder standing for the checkout: it holds only `.venv`, a link
to this test's venv, so each command must find what it needs the way README says.
Excluded: `make run` and `make test`, which are what CI runs (`make test` is this suite).
Long-running commands (`orchestrator serve`) are started, asked a request, and stopped.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from orchestrator.config import load_config
from orchestrator.templates import CONFIG_NAME, template_text
from tests.integration.terminal import user_env

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
#: What CI runs itself: set-up and the whole suite, this test included.
EXCLUDED = ("make run", "make test")
#: Commands that serve until stopped: started, asked, stopped.
LONG_RUNNING = ("orchestrator serve",)
TIMEOUT_S = 120


def fenced_blocks(language: str, text: str | None = None) -> list[str]:
    text = README.read_text() if text is None else text
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def shell_commands(text: str | None = None) -> list[str]:
    """Each non-blank, non-comment line of the `sh` blocks, in order."""
    lines = [line.strip() for block in fenced_blocks("sh", text) for line in block.splitlines()]
    commands = [line for line in lines if line and not line.startswith("#")]
    assert not [c for c in commands if c.endswith("\\")], "continued lines are not supported"
    return commands


class Session:
    """One shell session: each command runs in its own `bash -c`, starting from the
    working directory and environment the previous one left."""

    def __init__(self, home: Path) -> None:
        self.cwd = home
        self.env = {**user_env(), "HOME": str(home)}
        self._state = home.parent / "session-state"
        self._state.mkdir()

    def script(self, command: str) -> str:
        return (
            f"cd {shlex.quote(str(self.cwd))} || exit 97\n"
            f"{command}\n"
            "status=$?\n"
            f"pwd > {shlex.quote(str(self._state / 'cwd'))}\n"
            f"env -0 > {shlex.quote(str(self._state / 'env'))}\n"
            "exit $status\n"
        )

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["bash", "-c", self.script(command)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
        self.cwd = Path((self._state / "cwd").read_text().strip())
        pairs = (self._state / "env").read_text().split("\0")
        self.env = dict(pair.split("=", 1) for pair in pairs if "=" in pair)
        return done

    def serve(self, command: str) -> None:
        """Start `command`, wait until its port answers an API request, stop it (Ctrl-C)."""
        port = re.search(r"--port[ =](\d+)", command)
        url = f"http://127.0.0.1:{port[1] if port else 8080}/v1/experiments"
        with pytest.raises(OSError):  # nothing else may answer there, or the check lies
            urllib.request.urlopen(url, timeout=2)
        server = subprocess.Popen(
            ["bash", "-c", f"cd {shlex.quote(str(self.cwd))} && exec {command}"],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                assert server.poll() is None, f"{command!r} exited:\n{server.communicate()[0]}"
                try:
                    with urllib.request.urlopen(url, timeout=2) as answer:
                        assert answer.status == 200
                        break
                except OSError:
                    assert time.monotonic() < deadline, f"{command!r} never answered {url}"
                    time.sleep(0.1)
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)
        finally:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


def test_readme_shows_the_newcomer_path() -> None:
    """The commands below are README's: set-up, `init`, a run, the results, a service."""
    commands = shell_commands()
    for expected in ("make run", "orchestrator init", "orchestrator run tune.yaml"):
        assert any(c.startswith(expected) for c in commands), expected
    assert any(c.startswith(LONG_RUNNING) for c in commands)


@pytest.mark.slow
def test_every_command_readme_shows_runs_as_shown(tmp_path: Path) -> None:
    """1. A folder with `.venv` (this venv) stands for a checkout after `make run`.
    2. Every `sh` line of README runs there in order, as typed, and exits 0."""
    assert sys.prefix != sys.base_prefix, "run the tests from the project's venv"
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    session = Session(checkout)
    ran = []
    for command in shell_commands():
        if command.startswith(EXCLUDED):
            continue
        if command.startswith(LONG_RUNNING):
            session.serve(command)
        else:
            done = session.run(command)
            assert done.returncode == 0, (
                f"{command!r} in {session.cwd}:\n{done.stdout}{done.stderr}"
            )
        ran.append(command)
    assert len(ran) >= 8, ran


def test_readme_config_is_what_init_writes_and_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README's config (its `yaml` block with an experiment) is the subprocess template
    without comments, and it loads as a config."""
    (block,) = [b for b in fenced_blocks("yaml") if b.startswith("experiment:")]
    shown = yaml.safe_load(block)
    written = yaml.safe_load(template_text("subprocess", CONFIG_NAME))
    assert shown == {key: written[key] for key in shown}
    (tmp_path / CONFIG_NAME).write_text(block)
    (tmp_path / "train.py").write_text(template_text("subprocess", "train.py"))
    monkeypatch.chdir(tmp_path)
    config = load_config(Path(CONFIG_NAME))
    assert config.experiment.observation_budget == written["experiment"]["observation_budget"]


def test_commands_are_read_as_a_user_reads_them() -> None:
    """Comments and blank lines are no commands; only `sh` blocks count."""
    text = "```sh\n# a comment\nfoo --x  # why\n\nbar\n```\n```python\nbaz\n```\n"
    assert shell_commands(text) == ["foo --x  # why", "bar"]
