"""Command-line overrides of the config, its retry defaults, and the settings its workers get."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.client import RetryPolicy
from orchestrator.config import OrchestratorConfig, load_config
from orchestrator.errors import ConfigError
from orchestrator.factory import build_worker
from orchestrator.runner import retry_policy
from tests.orchestrator.config_cases import (
    VALID,
    WORKERS,
    workers_with,
)


class TestOverrides:
    """`--workers`, `--api-url` and `--experiment-id` win over the file."""

    @pytest.fixture
    def path(self, tmp_path: Path) -> Path:
        path = tmp_path / "run.yaml"
        path.write_text(VALID + "service:\n  url: http://file.example:1\n")
        return path

    def test_without_overrides_the_file_wins(self, path: Path) -> None:
        """Nothing on the command line: the file's values stand."""
        config = load_config(path)
        assert (config.workers.count, config.service.url) == (4, "http://file.example:1")
        assert config.experiment.name == "Branin"

    def test_overrides_win(self, path: Path) -> None:
        """Each override replaces the file's value; --experiment-id replaces the definition."""
        config = load_config(path, workers=9, api_url="http://flag.example:2", experiment_id="42")
        assert isinstance(config, OrchestratorConfig)
        assert config.workers.count == 9
        assert config.workers.function == "examples.objectives:branin_async"
        assert config.service.url == "http://flag.example:2"
        assert config.experiment.id == "42"
        assert config.experiment.name is None and config.experiment.parameters is None

    def test_override_fills_a_missing_section(self, tmp_path: Path) -> None:
        """--experiment-id is enough when the file has no experiment at all."""
        path = tmp_path / "no_experiment.yaml"
        path.write_text(WORKERS)
        assert load_config(path, experiment_id="7").experiment.id == "7"

    @pytest.mark.parametrize(
        ("kwargs", "key", "flag"),
        [
            ({"workers": 0}, "workers.count", "--workers"),
            ({"api_url": "file.example"}, "service.url", "--api-url"),
            ({"experiment_id": "abc"}, "experiment.id", "--experiment-id"),
        ],
    )
    def test_bad_override_names_the_flag(
        self, path: Path, kwargs: dict[str, object], key: str, flag: str
    ) -> None:
        """A bad value from the command line is reported under its key and names the flag."""
        with pytest.raises(ConfigError) as caught:
            load_config(path, **kwargs)  # type: ignore[arg-type]
        assert caught.value.key == key
        assert f"(set by {flag})" in caught.value.message


def test_retry_defaults_are_the_client_library_defaults(tmp_path: Path) -> None:
    """A config without a `retry` section retries as `ServiceClient` does by default."""
    path = tmp_path / "config.yaml"
    path.write_text(VALID)
    config = load_config(path, check=False)
    assert retry_policy(config) == RetryPolicy()
    assert RetryPolicy().max_total_s == 120.0  # documented in docs/configuration.md


class TestWorkerKindOfTheConfig:
    """The `workers` section hands its kind plain settings; the kind checks and builds."""

    def test_settings_carry_the_section_and_the_kill_grace(self, tmp_path: Path) -> None:
        """`worker_settings()` holds the section's values and `timeouts.kill_grace_s`."""
        path = tmp_path / "config.yaml"
        path.write_text(
            workers_with(
                "  kind: subprocess\n  count: 3\n  command: [python, -V]\n"
                "  env: {SEED: '1'}\n  shell: false\n"
            )
            + "timeouts:\n  kill_grace_s: 0.5\n"
        )
        config = load_config(path, check=False)
        settings = config.worker_settings()
        assert (settings.count, list(settings.command or []), dict(settings.env)) == (
            3,
            ["python", "-V"],
            {"SEED": "1"},
        )
        assert (settings.function, settings.shell, settings.kill_grace_s) == (None, False, 0.5)
        assert config.workers.worker_kind().name == "subprocess"
        assert config.workers.worker_kind().needs_run_folder

    def test_a_worker_that_cannot_be_built_names_the_setting(self, tmp_path: Path) -> None:
        """Unchecked (`check=False`), a missing executable surfaces when the worker is built,
        as a ConfigError under `workers.command`."""
        path = tmp_path / "config.yaml"
        path.write_text(workers_with("  kind: subprocess\n  count: 1\n  command: [no-such-xq]\n"))
        with pytest.raises(ConfigError, match="not an executable on PATH") as caught:
            build_worker(load_config(path, check=False))
        assert caught.value.key == "workers.command"
