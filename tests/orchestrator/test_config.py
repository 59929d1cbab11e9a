"""The run's configuration: every shipped config loads, and every bad one fails with one
`ConfigError` naming the offending key and the file, before anything reaches a service.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config import load_config, parse_config
from orchestrator.errors import ConfigError
from tests.orchestrator.config_cases import (
    BAD_CONFIGS,
    WORKERS,
    workers_with,
)

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


class TestShippedConfigs:
    """Every file in configs/ loads, passes the runnable checks and describes a sane run."""

    @pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
    def test_loads(self, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """The config validates (including the service's experiment checks) and is runnable."""
        monkeypatch.chdir(REPO)  # commands such as examples/train_svm.py are repo-relative
        config = load_config(path)
        assert config.source == path
        assert config.workers.count >= 1
        if config.experiment.id is None:
            assert config.experiment.name
            assert config.experiment.parameters
            assert config.experiment.observation_budget is not None
            assert config.experiment.observation_budget >= 1
        else:
            assert config.experiment.id.isdigit()
        assert config.run_name() == (config.run.name or path.stem)

    def test_there_are_configs(self) -> None:
        """The glob finds the shipped examples, so the test above is not vacuous."""
        assert len(CONFIGS) >= 4


class TestBadConfigs:
    """Each bad config ends in one `ConfigError` whose key names the offending key and whose
    text names the file."""

    @pytest.mark.parametrize(
        ("text", "key", "fragment"),
        [pytest.param(text, key, fragment, id=case) for case, text, key, fragment in BAD_CONFIGS],
    )
    def test_rejected(
        self, tmp_path: Path, text: str | None, key: str | None, fragment: str
    ) -> None:
        """The error's key and message are the expected ones, and str() names the file."""
        path = tmp_path / "bad.yaml"
        if text is not None:
            path.write_text(text.replace("{tmp}", str(tmp_path)))
        with pytest.raises(ConfigError) as caught:
            load_config(path)
        error = caught.value
        assert (error.key, fragment in error.message) == (key, True), repr(error)
        assert error.file == path
        assert str(path) in str(error)
        if key is not None:
            assert str(error).startswith(f"{key}: ")

    def test_enough_cases(self) -> None:
        """The table covers at least 40 distinct bad configs."""
        assert len({case for case, *_ in BAD_CONFIGS}) == len(BAD_CONFIGS) >= 40

    def test_integer_experiment_id_is_accepted(self, tmp_path: Path) -> None:
        """YAML reads `id: 12` as an int; it is the same experiment as the string '12'."""
        path = tmp_path / "by_id.yaml"
        path.write_text("experiment:\n  id: 12\n" + WORKERS)
        assert load_config(path).experiment.id == "12"

    def test_command_found_on_the_path_the_command_gets(self, tmp_path: Path) -> None:
        """`workers.env.PATH` is where the command will be looked up, so the check too."""
        tool = tmp_path / "bin" / "mytool-xq"
        tool.parent.mkdir()
        tool.write_text("#!/bin/sh\necho '{\"value\": 1}'\n")
        tool.chmod(0o755)
        path = tmp_path / "own_path.yaml"
        path.write_text(
            workers_with(
                f"  kind: subprocess\n  count: 2\n  command: [mytool-xq]\n"
                f"  env:\n    PATH: {tool.parent}\n"
            )
        )
        assert load_config(path).workers.command == ["mytool-xq"]

    def test_parse_config_without_file(self) -> None:
        """Validating data that came from no file still names the key; str() has no file."""
        with pytest.raises(ConfigError) as caught:
            parse_config(
                {
                    "experiment": {"id": "1"},
                    "workers": {"kind": "async", "count": 0, "function": "a:b"},
                }
            )
        assert caught.value.key == "workers.count"
        assert "(in " not in str(caught.value)
