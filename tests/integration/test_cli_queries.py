"""`status`, `best`, `suggestions` and `observations` as a user types them after a run:
the experiment from the run folder, readable tables, failures with their reasons."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from orchestrator.cli import build_parser, main

pytestmark = pytest.mark.slow

BUDGET = 10


def write_config(folder: Path) -> Path:
    """An async objective that fails (RuntimeError) when `kind` is `raise`; breaker off."""
    config = {
        "experiment": {
            "name": "queries",
            "type": "random",
            "parameters": [
                {"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}},
                {"name": "kind", "type": "categorical", "categorical_values": ["ok", "raise"]},
            ],
            "metrics": [{"name": "score", "objective": "maximize"}],
            "observation_budget": BUDGET,
        },
        "workers": {
            "kind": "async",
            "count": 2,
            "function": "tests.orchestrator.objectives:by_kind_scored",
        },
        "failures": {"max_consecutive": None, "max_fraction": None},
        "run": {"dir": str(folder / "runs"), "name": "q"},
    }
    path = folder / "queries.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The config of a finished run with completed and failed observations."""
    config = write_config(tmp_path_factory.mktemp("queries"))
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", "run", str(config), "--log-format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return config


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


class TestExperimentFromTheRunFolder:
    """With --config and no EXPERIMENT, the experiment is the one the run folder drives."""

    @pytest.mark.parametrize("command", ["status", "best", "suggestions", "observations"])
    def test_no_id_needed(
        self, finished: Path, command: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, out = cli(capsys, command, "--config", str(finished), "--json")
        assert code == 0
        data = json.loads(out)
        if command == "status":
            assert data["id"] == "1" and data["observation_count"] == BUDGET
        elif command == "observations":
            assert data["experiment"] == "1" and data["observation_count"] == BUDGET
        elif command == "best":
            assert len(data) == 1 and 0 <= data[0]["value"] <= 1
        else:
            assert data == []

    def test_no_run_yet_is_a_clear_error(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        config = write_config(tmp_path)
        code, out = cli(capsys, "status", "--config", str(config))
        assert code == 2
        assert (
            f"no run of {config} yet: run `orchestrator run {config}` first, or give the "
            "experiment id" in out
        )
        assert not (tmp_path / "runs").exists(), "no embedded service was started"

    def test_neither_id_nor_config(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, out = cli(capsys, "best", "--api-url", "http://127.0.0.1:9")
        assert code == 2 and "give the experiment id" in out


class TestReadableOutput:
    """Tables: one column per parameter and per metric; no raw JSON; no empty tables."""

    def test_best_is_a_table_of_columns(
        self, finished: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, out = cli(capsys, "best", "--config", str(finished))
        assert code == 0
        header = next(line for line in out.splitlines() if " id " in line)
        columns = [c.strip() for c in header.strip("┃ ").split("┃")]
        assert columns[0] == "id" and set(columns[1:3]) == {"x", "kind"} and columns[3] == "score"
        assert "{" not in out and '"' not in out

    def test_no_open_suggestions(self, finished: Path, capsys: pytest.CaptureFixture[str]) -> None:
        code, out = cli(capsys, "suggestions", "--config", str(finished))
        assert code == 0
        assert out.strip() == "no open suggestions for experiment 1"

    def test_status_shows_best_and_failures(
        self, finished: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        _, raw = cli(capsys, "observations", "--config", str(finished), "--json")
        observed = json.loads(raw)
        _, raw = cli(capsys, "best", "--config", str(finished), "--json")
        best = json.loads(raw)[0]["value"]
        code, raw = cli(capsys, "status", "--config", str(finished), "--json")
        status = json.loads(raw)
        assert code == 0
        assert status["failed_observations"] == observed["failed"] > 0
        assert status["best_values"] == {"score": best}
        assert set(status) == {
            "id", "name", "state", "observation_count", "observation_budget",
            "open_suggestions", "best_values", "failed_observations",
        }  # fmt: skip
        code, out = cli(capsys, "status", "--config", str(finished))
        assert code == 0
        assert f"score={best:.6g}" in out
        assert f"failed observations │ {observed['failed']}" in out


class TestObservations:
    """`observations` lists newest first, values or failure reason and message, a summary."""

    def test_all_newest_first_with_summary(
        self, finished: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, raw = cli(capsys, "observations", "--config", str(finished), "--json")
        data = json.loads(raw)
        ids = [int(o["id"]) for o in data["observations"]]
        assert code == 0 and ids == sorted(ids, reverse=True) and len(ids) == BUDGET
        failed = [o for o in data["observations"] if o["failed"]]
        assert data["failed"] == len(failed) and data["completed"] == BUDGET - len(failed)
        assert data["failures_by_reason"] == {"exception": len(failed)}
        code, out = cli(capsys, "observations", "--config", str(finished))
        assert code == 0
        ok = len(ids) - len(failed)
        assert f"{BUDGET} observations: {ok} completed, {len(failed)} failed (exception " in out
        assert "exception: objective exploded" in out
        assert "exception_type: RuntimeError" in out

    def test_failed_only_and_limit(
        self, finished: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, raw = cli(
            capsys, "observations", "--config", str(finished), "--failed", "--json", "--limit", "2"
        )
        data = json.loads(raw)
        assert code == 0 and len(data["observations"]) == 2
        assert all(o["failed"] for o in data["observations"])
        assert all(
            o["metadata"]["failure_message"] == "objective exploded" for o in data["observations"]
        )
        assert data["observation_count"] == BUDGET  # the summary still counts them all
        code, out = cli(capsys, "observations", "1", "--config", str(finished), "--failed")
        cells = [line.split("│") for line in out.splitlines() if line.startswith("│ ")]
        kinds = [c.strip() for row in cells for c in row[3:5]]
        assert code == 0
        assert kinds.count("raise") == data["failed"] and "ok" not in kinds

    def test_limit_must_be_positive(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as exited:
            main(["observations", "1", "--limit", "0"])
        assert exited.value.code == 2
        assert "expected 1 or more" in capsys.readouterr().err


class TestHelp:
    """Every positional argument and option of every command says what it is for."""

    def test_every_argument_has_help(self) -> None:
        parser = build_parser()
        commands = next(
            a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
        ).choices
        assert {"run", "status", "best", "suggestions", "observations", "init"} <= set(commands)
        missing = [
            f"{name} {action.dest}"
            for name, sub in commands.items()
            for action in sub._actions
            if action.help is None and not isinstance(action, argparse._HelpAction)
        ]
        assert missing == []

    def test_init_grammar(self) -> None:
        args = build_parser().parse_args(["init"])
        assert (args.kind, args.directory, args.force) == ("subprocess", Path("."), False)
        args = build_parser().parse_args(["init", "here", "--kind", "async", "--force"])
        assert (args.kind, args.directory, args.force) == ("async", Path("here"), True)
