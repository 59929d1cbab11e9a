"""`{name|default}` placeholders (issue 15, item 2): a parameter a conditional leaves out of
a suggestion fails that evaluation, naming it, unless the template gives its default."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.workers.subprocess.support import (
    ECHO_ARGV,
    evaluate,
    evaluation,
    failed,
    script,
    value_of,
)
from workers.errors import BrokenWorker
from workers.subprocess import SubprocessWorker
from workers.subprocess._argv import check_placeholders, parse_template, render


def argv_of(ev_dir: Path | None) -> list[str]:
    assert ev_dir is not None
    return list(json.loads((ev_dir / "argv.json").read_text()))


class TestDefaults:
    """The default stands in only where the suggestion has no value for the parameter."""

    async def test_value_when_active_default_when_not(self, tmp_path: Path) -> None:
        cmd = [sys.executable, script(tmp_path, ECHO_ARGV), "--depth={depth|none}", "{arch}"]
        worker = SubprocessWorker(cmd)
        active = evaluation(tmp_path, "1", arch="tree", depth=7)
        inactive = evaluation(tmp_path, "2", arch="mlp")
        assert value_of(await evaluate(worker, active)) == 1.0
        assert value_of(await evaluate(worker, inactive)) == 1.0
        assert argv_of(active.workdir) == ["--depth=7", "tree"]
        assert argv_of(inactive.workdir) == ["--depth=none", "mlp"]

    def test_spec_applies_to_the_value_only(self) -> None:
        template = parse_template(["{lr|off:.2f}", "{w|}", "x{w|-}y"])
        assert render(template, {"lr": 0.12345, "w": 3}, shell=False) == ["0.12", "3", "x3y"]
        assert render(template, {}, shell=False) == ["off", "", "x-y"]

    def test_shell_mode_quotes_the_default(self) -> None:
        template = parse_template(["echo {depth|a b}"])
        assert render(template, {}, shell=True) == ["/bin/sh", "-c", "echo 'a b'"]

    def test_config_check_accepts_a_default(self) -> None:
        """The config-time check (placeholders name parameters) reads the name before `|`."""
        check_placeholders(parse_template(["--d={depth|none}"]), ["depth"])
        with pytest.raises(BrokenWorker, match=r"\{dpth\} names no parameter"):
            check_placeholders(parse_template(["--d={dpth|none}"]), ["depth"])

    def test_a_default_needs_a_name(self) -> None:
        with pytest.raises(BrokenWorker, match="names no parameter before its default"):
            parse_template(["{|none}"])


class TestInactiveWithoutDefault:
    """No default: the evaluation fails (the parameters' fault, not the worker's), and the
    failure says which placeholder and how to give a default; nothing is run."""

    async def test_fails_naming_the_parameter(self, tmp_path: Path) -> None:
        marker = tmp_path / "ran"
        cmd = [sys.executable, "-c", f"open({str(marker)!r}, 'w')", "{depth}", "{width}"]
        outcome = failed(
            await evaluate(SubprocessWorker(cmd), evaluation(tmp_path, arch="mlp", width=3)),
            "inactive_parameter",
        )
        message = str(outcome.details["message"])
        assert "{depth}" in message and "{width}" not in message
        assert "{depth|none}" in message
        assert not marker.exists()
