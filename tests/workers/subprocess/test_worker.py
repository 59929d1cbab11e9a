"""SubprocessWorker with a run folder: argv templates, environment, files, metric parsing,
failures."""

from __future__ import annotations

import json
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from tests.workers.subprocess.support import (
    ECHO_ARGV,
    HUGE_STDOUT,
    evaluate,
    evaluation,
    failed,
    script,
    value_of,
)
from workers.base import AssignmentValue
from workers.errors import BrokenWorker
from workers.subprocess import SubprocessWorker


class TestArgvTemplate:
    """Placeholders fill argv elements one by one and never reach a shell."""

    async def test_placeholders_format_specs_and_escapes(self, tmp_path: Path) -> None:
        """{name}, {name:spec}, {suggestion_id} and {{ }} render inside single elements."""
        cmd = [
            sys.executable,
            script(tmp_path, ECHO_ARGV),
            "--lr",
            "{lr}",
            "--lr2={lr:.2e}",
            "{suggestion_id}",
            "{{literal}}",
            "{opt}-{layers}",
        ]
        worker = SubprocessWorker(cmd)
        ev = evaluation(tmp_path, "s42", lr=0.001, opt="adam", layers=3)
        assert value_of(await evaluate(worker, ev)) == 1.0
        argv = json.loads((ev.workdir / "argv.json").read_text())  # type: ignore[operator]
        assert argv == ["--lr", "0.001", "--lr2=1.00e-03", "s42", "{literal}", "adam-3"]

    @pytest.mark.parametrize(
        "hostile", ["; rm -rf ~", "$(reboot)", "`id` && echo x | cat", "a b\nc"]
    )
    async def test_hostile_value_is_one_plain_argument(self, tmp_path: Path, hostile: str) -> None:
        """A categorical value full of shell syntax arrives verbatim as exactly one argv element."""
        worker = SubprocessWorker([sys.executable, script(tmp_path, ECHO_ARGV), "{opt}", "x={opt}"])
        ev = evaluation(tmp_path, opt=hostile)
        assert value_of(await evaluate(worker, ev)) == 1.0
        argv = json.loads((ev.workdir / "argv.json").read_text())  # type: ignore[operator]
        assert argv == [hostile, f"x={hostile}"]

    async def test_shell_mode_quotes_values(self, tmp_path: Path) -> None:
        """With shell=True each value is shlex-quoted, so it is data to the shell too."""
        hostile = "'; touch pwned; echo '$(reboot)"
        worker = SubprocessWorker(
            ["printf %s {opt} > arg.txt && echo '{{\"value\": 2}}'"], shell=True, cwd=tmp_path
        )
        outcome = await evaluate(worker, evaluation(tmp_path, opt=hostile))
        assert value_of(outcome) == 2.0
        assert (tmp_path / "arg.txt").read_text() == hostile
        assert not (tmp_path / "pwned").exists()

    async def test_placeholder_without_a_value_fails_the_evaluation(self, tmp_path: Path) -> None:
        """A placeholder the suggestion has no value for (a parameter a conditional leaves
        out; the config check refuses names of no parameter) fails it, naming it."""
        worker = SubprocessWorker([sys.executable, "-c", "pass", "{missing}"])
        outcome = failed(await evaluate(worker, evaluation(tmp_path, x=1)), "inactive_parameter")
        assert "{missing}" in str(outcome.details["message"])

    def test_malformed_template_is_rejected_at_construction(self) -> None:
        """Unbalanced braces fail when the worker is built, not at the first evaluation."""
        with pytest.raises(BrokenWorker, match="not a valid template"):
            SubprocessWorker([sys.executable, "--lr={lr"])

    def test_command_must_be_a_list(self) -> None:
        """A single command string is refused: it would have to be split, which we never do."""
        with pytest.raises(TypeError):
            SubprocessWorker("python train.py")


class TestMissingExecutable:
    """A command that cannot start is a BrokenWorker naming it."""

    def test_not_on_path(self) -> None:
        """An executable missing from PATH fails at construction."""
        with pytest.raises(BrokenWorker, match="no-such-command-xyz"):
            SubprocessWorker(["no-such-command-xyz", "{x}"])

    def test_relative_path_not_executable(self, tmp_path: Path) -> None:
        """A relative path is resolved against cwd and must be an executable file."""
        (tmp_path / "train.sh").write_text("#!/bin/sh\n")  # not chmod +x
        with pytest.raises(BrokenWorker, match=r"train\.sh"):
            SubprocessWorker(["./train.sh"], cwd=tmp_path)

    async def test_script_without_shebang_is_a_broken_worker(self, tmp_path: Path) -> None:
        """An executable file the kernel cannot run (no shebang) is a BrokenWorker."""
        path = tmp_path / "train"
        path.write_text("echo hi\n")
        path.chmod(0o755)
        worker = SubprocessWorker([str(path)])
        with pytest.raises(BrokenWorker, match="cannot start command"):
            await evaluate(worker, evaluation(tmp_path))

    async def test_placeholder_executable_missing_at_evaluate(self, tmp_path: Path) -> None:
        """An executable chosen by a placeholder is checked when it is started."""
        worker = SubprocessWorker(["{program}"])
        with pytest.raises(BrokenWorker, match="no-such-program-xyz"):
            await evaluate(worker, evaluation(tmp_path, program="no-such-program-xyz"))


ECHO_ENV = """
    import json, os
    from pathlib import Path
    env = {k: v for k, v in os.environ.items() if k.startswith(("SIGOPT_", "MY_"))}
    env["HAS_PATH"] = "PATH" in os.environ
    env["assignments_file_content"] = Path(os.environ["SIGOPT_ASSIGNMENTS_FILE"]).read_text()
    env["cwd"] = os.getcwd()
    Path(os.environ["SIGOPT_RESULT_FILE"]).with_name("env.json").write_text(json.dumps(env))
    print(json.dumps({"value": 1}))
"""


class TestEnvironmentAndFiles:
    """Assignments reach the command as env vars and files; output is kept per evaluation."""

    async def test_env_vars_and_assignments_file(self, tmp_path: Path) -> None:
        """SIGOPT_* vars, the worker's env on top of the inherited one, and assignments.json."""
        worker = SubprocessWorker(
            [sys.executable, script(tmp_path, ECHO_ENV)], env={"MY_VAR": "on"}, cwd=tmp_path
        )
        assignments: dict[str, AssignmentValue] = {"learning-rate": 0.5, "opt": "sgd", "n": 4}
        ev = evaluation(tmp_path, "77", **assignments)
        assert value_of(await evaluate(worker, ev)) == 1.0
        assert ev.workdir is not None
        env: dict[str, Any] = json.loads((ev.workdir / "env.json").read_text())
        assert env["SIGOPT_PARAM_LEARNING_RATE"] == "0.5"
        assert env["SIGOPT_PARAM_OPT"] == "sgd"
        assert env["SIGOPT_PARAM_N"] == "4"
        assert env["SIGOPT_SUGGESTION_ID"] == "77"
        assert json.loads(env["SIGOPT_ASSIGNMENTS"]) == assignments
        assert json.loads(env["assignments_file_content"]) == assignments
        assert env["SIGOPT_ASSIGNMENTS_FILE"] == str(ev.workdir / "assignments.json")
        assert env["SIGOPT_RESULT_FILE"] == str(ev.workdir / "result.json")
        assert env["MY_VAR"] == "on"
        assert env["HAS_PATH"] is True
        assert env["cwd"] == str(tmp_path)
        assert (ev.workdir / "stdout.log").read_text().strip() == '{"value": 1}'
        assert (ev.workdir / "stderr.log").exists()


class TestMetricParsing:
    """The metric comes from result.json, else from the last JSON object line of stdout."""

    async def test_result_file_is_preferred_over_stdout(self, tmp_path: Path) -> None:
        """When both exist, result.json wins."""
        code = """
            import os
            open(os.environ["SIGOPT_RESULT_FILE"], "w").write('{"value": 1}')
            print('{"value": 2}')
        """
        worker = SubprocessWorker([sys.executable, script(tmp_path, code)])
        assert value_of(await evaluate(worker, evaluation(tmp_path))) == 1.0

    async def test_stale_result_file_is_ignored(self, tmp_path: Path) -> None:
        """A result.json left by an earlier attempt in the same workdir is removed first."""
        ev = evaluation(tmp_path)
        assert ev.workdir is not None
        (ev.workdir / "result.json").write_text('{"value": 99}')
        worker = SubprocessWorker([sys.executable, "-c", "print('{{\"value\": 5}}')"])
        assert value_of(await evaluate(worker, ev)) == 5.0

    async def test_last_json_object_line_of_stdout_wins(self, tmp_path: Path) -> None:
        """Earlier JSON lines and later non-object lines do not count."""
        code = """
            print('{"value": 1}')
            print("epoch 3 done")
            print('  {"value": 2}  ')
            print("[1, 2, 3]")
            print("42")
            print("{not json")
        """
        worker = SubprocessWorker([sys.executable, script(tmp_path, code)])
        assert value_of(await evaluate(worker, evaluation(tmp_path))) == 2.0

    async def test_huge_output_is_parsed_from_its_tail(self, tmp_path: Path) -> None:
        """50 MB of stdout ends in the metric, parsed with memory bounded by max_output_bytes."""
        worker = SubprocessWorker([sys.executable, script(tmp_path, HUGE_STDOUT)])
        ev = evaluation(tmp_path)
        tracemalloc.start()
        try:
            outcome = await evaluate(worker, ev)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert value_of(outcome) == 7.0
        assert ev.workdir is not None
        assert (ev.workdir / "stdout.log").stat().st_size > 50 * 1024 * 1024
        assert peak < 4 * 1024 * 1024

    async def test_nothing_parseable_is_no_metric(self, tmp_path: Path) -> None:
        """Exit 0 without result.json or a JSON object line is Failed(no_metric)."""
        code = "import sys; print('done'); print('warn', file=sys.stderr)"
        worker = SubprocessWorker([sys.executable, "-c", code])
        outcome = failed(await evaluate(worker, evaluation(tmp_path)), "no_metric")
        assert outcome.details["stderr_tail"] == "warn\n"

    async def test_invalid_json_result_file(self, tmp_path: Path) -> None:
        """A result.json that is not JSON is Failed(invalid_result) naming the file."""
        code = "import os; open(os.environ['SIGOPT_RESULT_FILE'], 'w').write('{{not json')"
        worker = SubprocessWorker([sys.executable, "-c", code])
        outcome = failed(await evaluate(worker, evaluation(tmp_path)), "invalid_result")
        assert outcome.details["source"] == "result.json"
        assert "invalid JSON" in str(outcome.details["message"])

    async def test_wrong_type_is_invalid_result(self, tmp_path: Path) -> None:
        """A metric that is not a number is Failed(invalid_result)."""
        worker = SubprocessWorker([sys.executable, "-c", 'print(\'{{"value": "high"}}\')'])
        outcome = failed(await evaluate(worker, evaluation(tmp_path)), "invalid_result")
        assert outcome.details["source"] == "stdout"

    async def test_reported_failure(self, tmp_path: Path) -> None:
        """{"failed": true} from the command is Failed(objective_failed) with its reason."""
        line = '{{"failed": true, "reason": "diverged"}}'
        worker = SubprocessWorker([sys.executable, "-c", f"print('{line}')"])
        outcome = failed(await evaluate(worker, evaluation(tmp_path)), "objective_failed")
        assert outcome.details["message"] == "diverged"


class TestExitFailures:
    """A command that exits badly is a Failed outcome saying how, with stderr's tail."""

    async def test_non_zero_exit_code(self, tmp_path: Path) -> None:
        """Exit 3 is Failed(exit_code) with the code and the end of stderr."""
        code = (
            "import sys; print('{{\"value\": 1}}');"
            " sys.stderr.write('x' * 5000 + 'boom'); sys.exit(3)"
        )
        worker = SubprocessWorker([sys.executable, "-c", code])
        outcome = failed(await evaluate(worker, evaluation(tmp_path)), "exit_code")
        assert outcome.details["exit_code"] == 3
        tail = str(outcome.details["stderr_tail"])
        assert tail.endswith("boom")
        assert len(tail) == 2000

    async def test_killed_by_signal(self, tmp_path: Path) -> None:
        """A command killed by a signal is Failed(signal) naming it."""
        code = (
            "import os, signal, sys; sys.stderr.write('dying'); sys.stderr.flush();"
            " os.kill(os.getpid(), signal.SIGKILL)"
        )
        worker = SubprocessWorker([sys.executable, "-c", code])
        outcome = failed(await evaluate(worker, evaluation(tmp_path)), "signal")
        assert outcome.details["signal"] == "SIGKILL"
        assert outcome.details["signal_number"] == 9
        assert outcome.details["stderr_tail"] == "dying"
