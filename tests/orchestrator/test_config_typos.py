"""A misspelled key inside the experiment definition (a parameter, its bounds, a metric, a
categorical value) is named as the unknown key it is, with the key it stands for, by
`orchestrator run`: not as the key it makes "missing"."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.cli import main
from tests.orchestrator.config_cases import WORKERS


def config_with(parameter: str, metric: str = "{name: loss, objective: minimize}") -> str:
    return (
        f"experiment:\n  name: e\n  parameters:\n    - {parameter}\n"
        f"  metrics: [{metric}]\n  observation_budget: 3\n" + WORKERS
    )


class TestTyposAtAnyDepth:
    """`orchestrator run` exits 2 naming the misspelled key and its near miss."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (
                config_with("{nmae: x1, type: double, bounds: {min: -5, max: 5}}"),
                "experiment.parameters[0].nmae: unknown key (did you mean `name`?)",
            ),
            (
                config_with("{name: x1, tpye: double, bounds: {min: -5, max: 5}}"),
                "experiment.parameters[0].tpye: unknown key (did you mean `type`?)",
            ),
            (
                config_with("{name: x1, type: double, bounds: {mn: -5, max: 5}}"),
                "experiment.parameters[0].bounds.mn: unknown key (did you mean `min`?)",
            ),
            (
                config_with("{name: c, type: categorical, categorical_values: [{nme: a}, b]}"),
                "experiment.parameters[0].categorical_values[0].nme: unknown key "
                "(did you mean `name`?)",
            ),
            (
                config_with(
                    "{name: x1, type: double, bounds: {min: -5, max: 5}}",
                    "{nme: loss, objective: minimize}",
                ),
                "experiment.metrics[0].nme: unknown key (did you mean `name`?)",
            ),
        ],
        ids=["parameter-name", "parameter-type", "bounds-min", "categorical-name", "metric-name"],
    )
    def test_names_the_misspelled_key(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
        text: str,
        expected: str,
    ) -> None:
        monkeypatch.chdir(tmp_path)  # where the run folder would go
        path = tmp_path / "t.yaml"
        path.write_text(text)
        code = main(["run", str(path)])
        out = " ".join(capsys.readouterr().out.split())
        assert code == 2
        assert f"config error: {expected} (in {path})" in out
        assert "required key is missing" not in out
        assert not (tmp_path / "runs").exists(), "nothing was started"
