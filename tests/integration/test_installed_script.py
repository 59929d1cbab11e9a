"""The installed `orchestrator` console script, run as a user runs it: from their own folder,
with their own objective module, and an install that puts no `examples` on their path."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.integration.terminal import SCRIPT, run_installed, user_env

pytestmark = pytest.mark.slow

TIMEOUT_S = 120


@pytest.mark.skipif(not SCRIPT.exists(), reason="the console script is not installed")
@pytest.mark.parametrize("kind", ["async", "process"])
def test_console_script_imports_the_users_module_from_the_working_directory(
    tmp_path: Path, kind: str
) -> None:
    """1. A folder holds the user's `mymodule.py` and a config naming `mymodule:objective`.
    2. The installed script runs from that folder (its own `sys.path[0]` is `bin/`).
    3. The config check and the worker (the pool's children too) import the module from
       the working directory, and the run reaches its budget."""
    (tmp_path / "mymodule.py").write_text(
        textwrap.dedent(
            """
            def objective(assignments):
                return (assignments["x"] - 0.3) ** 2
            """
        )
    )
    config = {
        "experiment": {
            "name": "installed script",
            "type": "random",
            "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
            "observation_budget": 3,
        },
        "workers": {"kind": kind, "count": 1, "function": "mymodule:objective", "timeout": 60},
        "run": {"dir": "runs", "name": "installed"},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    done = run_installed(["run", "config.yaml", "--log-format", "json"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "run ended: budget_reached" in done.stdout
    assert "3/3 observations (3 completed, 0 failed" in done.stdout
    assert (tmp_path / "runs" / "installed").is_dir()


def test_the_install_puts_no_examples_or_service_on_the_path(tmp_path: Path) -> None:
    """Outside the checkout, the installed packages are importable and `examples` (and the
    old `service`) are not: a user's own modules of those names are never shadowed."""
    code = (
        "import importlib.util as u, json;"
        "print(json.dumps({n: u.find_spec(n) is not None "
        "for n in ('examples', 'service', 'orchestrator', 'workers', 'sigopt_service')}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=user_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=True,
    )
    assert done.stdout.strip() == (
        '{"examples": false, "service": false, "orchestrator": true, "workers": true, '
        '"sigopt_service": true}'
    )
