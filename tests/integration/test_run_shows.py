"""What `orchestrator run` and `orchestrator suggestions` show, as a user reads them (the
second fresh-clone try of issue 12): failure counts that do not read as exit codes, the
stdout and stderr of a command that printed no metric, a Python objective's traceback
labelled as one, the experiment's best on a resumed run, the experiment's update on the
console, and who holds each open suggestion.

Real processes: the run in pipes (`--log-format json`, or none) or on a pseudo-terminal
of its own (the live panel), the query through the same entry point.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.progress import TIMES
from tests.integration.terminal import SCRIPT, OnTerminal, user_env

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
#: A command that exits 0 without a metric, after writing to stdout and to stderr.
NO_METRIC = (
    "import sys; print('epoch 1 loss 0.31'); print('epoch 2 loss nan'); "
    "print('warning: learning rate too high', file=sys.stderr)"
)
NO_BREAKER = {"max_consecutive": None, "max_fraction": None}


def write(folder: Path, config: dict[str, Any]) -> Path:
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def async_config(folder: Path, budget: int, function: str) -> dict[str, Any]:
    return {
        "experiment": {
            "name": "shows",
            "type": "random",
            "parameters": [
                {"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}},
                {"name": "gamma", "type": "double", "bounds": {"min": 0.1, "max": 1.0}},
            ],
            "metrics": [{"name": "score", "objective": "maximize"}],
            "observation_budget": budget,
        },
        "workers": {"kind": "async", "count": 1, "function": f"tests.orchestrator.{function}"},
        "failures": NO_BREAKER,
        "run": {"dir": str(folder / "runs"), "name": "shows"},
    }


def in_pipes(config: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", "run", str(config), *flags],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "1000"},
    )


class TestNoMetricSummary:
    """A command that printed no metric: its stdout and stderr in the summary, labelled;
    counts that read as counts; exit status 0 in `outcome.json`."""

    def test_summary_and_outcome_file(self, tmp_path: Path) -> None:
        """1. Every evaluation exits 0 after printing lines with no JSON object (breaker off).
        2. The summary counts `3 TIMES no_metric`, shows the ends of stdout and of stderr under
           their labels, and no separate exit-code line (the message says `exited 0`).
        3. `outcome.json` has `exit_code` 0; the output stays in the logs, not in details."""
        config = write(
            tmp_path,
            {
                "experiment": {
                    "name": "no metric",
                    "type": "random",
                    "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
                    "observation_budget": 3,
                },
                "workers": {
                    "kind": "subprocess",
                    "count": 1,
                    "command": [sys.executable, "-c", NO_METRIC, "{x}"],
                },
                "failures": NO_BREAKER,
                "run": {"dir": str(tmp_path / "runs"), "name": "nm"},
            },
        )
        done = in_pipes(config, "--log-format", "json")
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]
        out = done.stdout
        assert f"failures this run: 3 {TIMES} no_metric" in out, out
        lines = out.splitlines()
        stdout_at = lines.index("  stdout, last 2 line(s):")
        assert lines[stdout_at + 1 : stdout_at + 3] == [
            "    epoch 1 loss 0.31",
            "    epoch 2 loss nan",
        ], out
        stderr_at = lines.index("  stderr, last 1 line(s):")
        assert lines[stderr_at + 1] == "    warning: learning rate too high", out
        assert "command exited 0 but wrote no result.json" in out
        assert "exit code" not in out, out
        folder = Path(next(ln for ln in lines if "evaluation folder:" in ln).split(": ", 1)[1])
        outcome = json.loads((folder / "outcome.json").read_text())
        assert outcome["reason"] == "no_metric" and outcome["exit_code"] == 0, outcome
        assert "stdout_tail" not in outcome["details"] and "stderr_tail" not in outcome["details"]


class TestResumedRunOnATerminal:
    """A finished run extended on a terminal, then again in log mode."""

    def test_best_update_and_traceback(self, tmp_path: Path) -> None:
        """1. A run of budget 4 whose objective returns 1.0 ends (in pipes).
        2. The budget raised to 6 and an objective that raises, on a terminal: a line says
           `experiment 1 updated: observation_budget 4 -> 6`; the panel's `experiment best`
           is 1 from the first draw on (not this run's `-`); its failed count reads
           `2 (2 TIMES exception)`; the summary labels the objective's traceback `traceback`.
        3. The budget raised to 7 with `--log-format json`: the same line on stdout, the
           `experiment_updated` event on stderr, and no JSON on stdout."""
        first = in_pipes(write(tmp_path, async_config(tmp_path, 4, "objectives:constant")))
        assert first.returncode == 0, first.stdout + first.stderr[-3000:]

        config = write(tmp_path, async_config(tmp_path, 6, "objectives:always_fails"))
        term = OnTerminal([str(SCRIPT), "run", str(config)], REPO, user_env())
        code = term.wait(timeout_s=120)
        screen = term.output()
        assert code == 0, screen
        assert "experiment 1 updated: observation_budget 4 -> 6" in screen, screen
        best_rows = [line for line in screen.splitlines() if "experiment best" in line]
        assert best_rows, screen
        assert all(re.search(r"experiment best\s*│\s*1\s*│", r) for r in best_rows), screen
        assert any("assignments" in line and "gamma=" in line for line in screen.splitlines())
        assert f"2 (2 {TIMES} exception)" in screen, screen
        assert f"failures this run: 2 {TIMES} exception" in screen, screen
        assert re.search(r"  traceback, last \d+ line\(s\):", screen), screen
        assert "ValueError: broken objective" in screen
        assert "stderr, last" not in screen, screen

        logged = in_pipes(
            write(tmp_path, async_config(tmp_path, 7, "objectives:always_fails")),
            "--log-format",
            "json",
        )
        assert logged.returncode == 0, logged.stdout + logged.stderr[-3000:]
        assert "experiment 1 updated: observation_budget 6 -> 7" in logged.stdout.splitlines()
        assert not any(line.startswith("{") for line in logged.stdout.splitlines())
        events = [json.loads(line) for line in logged.stderr.splitlines() if line.startswith("{")]
        (updated,) = [e for e in events if e["event"] == "experiment_updated"]
        assert updated["changes"] == {"observation_budget": [6, 7]}


class TestSuggestionsTable:
    """`orchestrator suggestions` names each open suggestion's run, host and slot."""

    def test_run_host_and_slot(self, tmp_path: Path) -> None:
        """1. A run of three 60 s evaluations is stopped twice (cancelled): three stay open.
        2. `orchestrator suggestions --config` shows, for each, the run's id (as in the run
           folder's `state.json`), this host and its worker slot."""
        config = write(
            tmp_path,
            {
                "experiment": {
                    "name": "open ones",
                    "type": "random",
                    "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
                    "observation_budget": 10,
                },
                "workers": {
                    "kind": "subprocess",
                    "count": 3,
                    "command": [
                        sys.executable,
                        "-c",
                        "import pathlib, sys, time; pathlib.Path(sys.argv[1]).touch(); "
                        "time.sleep(60)",
                        str(tmp_path / "started-{suggestion_id}"),
                    ],
                },
                "timeouts": {"drain_s": 30, "kill_grace_s": 1},
                "run": {"dir": str(tmp_path / "runs"), "name": "open"},
            },
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", "run", str(config), "--log-format", "json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("started-*"))) < 3:
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err[-3000:]

        shown = subprocess.run(
            [sys.executable, "-m", "orchestrator", "suggestions", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
        )
        assert shown.returncode == 0, shown.stdout + shown.stderr
        lines = shown.stdout.splitlines()
        header = next(line for line in lines if "run id" in line)
        assert re.search(r"id\s*┃\s*run id\s*┃\s*host\s*┃\s*worker slot\s*┃\s*x", header), header
        run_id = json.loads((tmp_path / "runs" / "open" / "state.json").read_text())["run_id"]
        rows = [line for line in lines if run_id in line]
        assert len(rows) == 3, shown.stdout
        assert all(socket.gethostname() in row for row in rows), shown.stdout
        slots = sorted(int(re.split(r"\s*│\s*", row)[4]) for row in rows)
        assert slots == [0, 1, 2], shown.stdout
