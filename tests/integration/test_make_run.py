"""`make run` as the README gives it: the quickstart's command needs nothing on PATH."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from orchestrator.config import load_config

REPO = Path(__file__).parents[2]


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_run_recipe_leaves_path_alone() -> None:
    """The recipe runs the venv's orchestrator with the PATH as it is: no override that
    a comment has to justify."""
    recipe = subprocess.run(
        ["make", "-n", "--no-print-directory", "run"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert ".venv/bin/orchestrator run configs/quickstart.yaml" in recipe
    assert "PATH=" not in recipe


def test_quickstart_runs_on_the_orchestrators_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no venv on PATH the quickstart's config passes its checks (the command must
    be found): its `{python}` is the interpreter running the orchestrator (the one with
    scikit-learn), not a `python` looked up on PATH."""
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.chdir(REPO)
    config = load_config(REPO / "configs/quickstart.yaml")  # check_runnable included
    assert config.workers.command is not None
    assert config.workers.command[0] == "{python}"
