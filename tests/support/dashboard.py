"""A small run for the tests of `orchestrator dashboard` (CLI and browser): its config,
the CLI as a subprocess, and a dashboard process whose lines are read as they come."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).parents[2]
#: Grid: every (kind, x) once, so exactly half the evaluations fail.
BUDGET = 6
EXPLORE = "Explore your experiment: "


def write_config(folder: Path, **service: str) -> Path:
    """`folder/d.yaml`: a grid of `BUDGET` points on an async worker, run folder
    `folder/runs/d`; `service` keys go to its `service` section."""
    config: dict[str, Any] = {
        "experiment": {
            "name": "dashboard",
            "type": "grid",
            "parameters": [
                {"name": "x", "type": "double", "grid": [0.25, 0.5, 0.75]},
                {"name": "kind", "type": "categorical", "categorical_values": ["ok", "raise"]},
            ],
            "metrics": [{"name": "score", "objective": "maximize"}],
            "observation_budget": BUDGET,
        },
        "workers": {
            "kind": "async",
            "count": 2,
            "function": "tests.orchestrator.objectives:by_kind_scored",
            "cwd": str(REPO),  # where `tests` is found, whatever the working directory
        },
        "failures": {"max_consecutive": None, "max_fraction": None},
        "run": {"dir": str(folder / "runs"), "name": "d"},
    }
    if service:
        config["service"] = service
    path = folder / "d.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def orchestrator(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *(str(a) for a in argv)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "80"},
        check=False,
    )


class DashboardProcess:
    """`orchestrator dashboard ARGV` in its own session; its stdout lines as they come."""

    def __init__(self, *argv: str | Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", "dashboard", *(str(a) for a in argv)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        self.stderr.extend(self.proc.stderr)

    def until_serving(self, timeout_s: float = 30) -> list[str]:
        """Its lines up to `Serving ...`, which it prints once the service answers."""
        seen: list[str] = []
        while not (seen and seen[-1].startswith("Serving ")):
            try:
                seen.append(self.lines.get(timeout=timeout_s))
            except queue.Empty:
                raise AssertionError(f"no `Serving` line: {seen} {self.stderr}") from None
        return seen

    def stop(self, signum: int) -> int:
        self.proc.send_signal(signum)
        return self.proc.wait(timeout=20)

    def rest(self) -> list[str]:
        out = []
        while not self.lines.empty():
            out.append(self.lines.get())
        return out

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def urls(lines: list[str]) -> tuple[str, str]:
    """The base URL and the experiment id of the `Explore` line."""
    explore = next(line for line in lines if line.startswith(EXPLORE)).removeprefix(EXPLORE)
    found = re.fullmatch(r"(http://127\.0\.0\.1:\d+)/experiment/(\d+)/analysis", explore)
    assert found is not None, lines
    return found.group(1), found.group(2)
