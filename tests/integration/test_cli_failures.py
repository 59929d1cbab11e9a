"""`orchestrator run` ending on failures says why (issue 12, item 1): a real process,
real subprocess evaluations, the summary read from its stdout and the JSON logs from
its stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.progress import TIMES

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).parents[1] / "orchestrator" / "scripts" / "noisy_failure.py"


def write_config(tmp_path: Path, mode: str, **sections: Any) -> Path:
    config = {
        "experiment": {
            "name": "failures",
            "type": "random",
            "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
            "metrics": [{"name": "accuracy", "objective": "maximize"}],
            "observation_budget": 20,
        },
        "workers": {
            "kind": "subprocess",
            "count": 2,
            "command": [sys.executable, str(SCRIPT), mode, "{x}"],
        },
        "run": {"dir": str(tmp_path / "runs"), "name": "fails"},
        **sections,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", "run", str(config), "--log-format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def events(stderr: str, name: str) -> list[dict[str, Any]]:
    found = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            if event.get("event") == name:
                found.append(event)
    return found


class TestFailureSummary:
    """The end-of-run summary names the reasons, the last failure and its folder."""

    def test_breaker_trip_says_why(self, tmp_path: Path) -> None:
        """1. Every evaluation exits 1 with a traceback on stderr: the breaker trips (exit 3).
        2. The summary counts the failures by reason, quotes the last one's message and
           the end of its stderr, and names its evaluation folder, where `outcome.json`
           says the same; the JSON logs' `evaluation_failed` carry the message."""
        done = run(write_config(tmp_path, "crash"))
        assert done.returncode == 3, done.stdout + done.stderr[-3000:]
        out = done.stdout
        assert "failure_limit" in out and "the failure breaker stopped the run" in out
        assert f"failures this run: 10 {TIMES} exit_code" in out
        # The message gives the exit code: no line of its own repeats it.
        assert "command exited with code 1" in out and "  exit code 1" not in out
        assert "ModuleNotFoundError: No module named 'sklearn'" in out
        assert "[red]not markup[/red]" in out  # stderr shown as written
        folder_line = next(line for line in out.splitlines() if "evaluation folder:" in line)
        folder = Path(folder_line.split("evaluation folder:", 1)[1].strip())
        assert folder.parent == tmp_path / "runs" / "fails" / "evaluations"
        outcome = json.loads((folder / "outcome.json").read_text())
        assert outcome["status"] == "failed" and outcome["reason"] == "exit_code"
        assert outcome["exit_code"] == 1 and outcome["message"] == "command exited with code 1"
        assert "No module named 'sklearn'" in (folder / "stderr.log").read_text()
        assert "orchestrator observations 1 --failed --config" in out
        failed = events(done.stderr, "evaluation_failed")
        assert len(failed) == 10
        assert all(e["message"] == "command exited with code 1" for e in failed)

    def test_failures_shown_when_the_budget_is_reached(self, tmp_path: Path) -> None:
        """No breaker: the run reaches its budget (exit 0) and still says what failed."""
        config = write_config(
            tmp_path, "wrong_name", failures={"max_consecutive": None, "max_fraction": None}
        )
        done = run(config)
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]
        out = done.stdout
        assert "budget_reached" in out and "breaker" not in out
        assert f"failures this run: 20 {TIMES} metric_mismatch" in out
        assert "expected metrics ['accuracy'], got ['score']" in out
        assert "evaluation folder:" in out

    def test_nothing_said_without_failures(self, tmp_path: Path) -> None:
        """A run with no failure prints no failure report."""
        done = run(_ok(tmp_path))
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]
        assert "failures this run" not in done.stdout and "last failure" not in done.stdout


def _ok(tmp_path: Path) -> Path:
    """A config whose objective succeeds (its metric named as the command prints it)."""
    path = write_config(tmp_path, "ok")
    config = yaml.safe_load(path.read_text())
    config["experiment"]["metrics"] = [{"name": "value", "objective": "maximize"}]
    config["experiment"]["observation_budget"] = 4
    path.write_text(yaml.safe_dump(config))
    return path
