"""The run's configuration: every shipped config loads, and every bad one fails with one
`ConfigError` naming the offending key and the file, before anything reaches a service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from orchestrator.cli import main
from orchestrator.client import RetryPolicy
from orchestrator.config import OrchestratorConfig, load_config, parse_config
from orchestrator.errors import ConfigError
from orchestrator.factory import build_worker
from orchestrator.runner import retry_policy

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))

EXPERIMENT = """\
experiment:
  name: Branin
  parameters:
    - {name: x1, type: double, bounds: {min: -5, max: 10}}
    - {name: x2, type: double, bounds: {min: 0, max: 15}}
  metrics:
    - {name: branin, objective: minimize}
  observation_budget: 20
"""
WORKERS = """\
workers:
  kind: async
  count: 4
  function: examples.objectives:branin_async
"""
VALID = EXPERIMENT + WORKERS


def experiment_with(parameters: str, extra: str = "") -> str:
    """A config whose experiment has these parameter lines (and extra experiment keys)."""
    return (
        f"experiment:\n  name: e\n  parameters:\n{parameters}"
        f"  observation_budget: 20\n{extra}" + WORKERS
    )


def with_metrics(metrics: str) -> str:
    return experiment_with("    - {name: x, type: double, bounds: {min: 0, max: 1}}\n", metrics)


def workers_with(body: str) -> str:
    """A config with the valid experiment and this `workers` section body."""
    return EXPERIMENT + "workers:\n" + body


# (case id, YAML text or None for "no file", expected key or None for a file-level
# problem, a fragment of the expected message). `{tmp}` stands for the test's tmp_path.
BAD_CONFIGS: list[tuple[str, str | None, str | None, str]] = [
    # --- wrong types
    ("count-not-int", VALID.replace("count: 4", "count: four"), "workers.count", "integer"),
    ("timeout-not-number", VALID + "  timeout: fast\n", "workers.timeout", "valid number"),
    ("env-value-int", VALID + "  env: {SEED: 1}\n", "workers.env.SEED", "quote it"),
    ("workers-null", EXPERIMENT + "workers:\n", "workers", "must be a mapping"),
    ("retry-not-mapping", VALID + "retry: [1, 2]\n", "retry", "must be a mapping"),
    # --- unknown keys at each level
    (
        "top-level-typo",
        EXPERIMENT + WORKERS.replace("workers:", "worker:"),
        "worker",
        "did you mean `workers`",
    ),
    ("workers-typo", VALID.replace("count:", "cuont:"), "workers.cuont", "did you mean `count`"),
    ("retry-unknown", VALID + "retry:\n  foo: 1\n", "retry.foo", "unknown key"),
    (
        "timeouts-typo",
        VALID + "timeouts:\n  drain: 5\n",
        "timeouts.drain",
        "did you mean `drain_s`",
    ),
    (
        "experiment-unknown",
        VALID.replace("  observation_budget: 20\n", "  observation_budget: 20\n  colour: red\n"),
        "experiment.colour",
        "unknown key",
    ),
    (
        "parameter-unknown",
        experiment_with(
            "    - {name: x, type: double, bounds: {min: 1, max: 2}, transform: log}\n"
        ),
        "experiment.parameters[0].transform",
        "did you mean `transformation`",
    ),
    ("source-key", VALID + "source: x.yaml\n", "source", "unknown key"),
    # --- missing sections and keys
    ("no-workers", EXPERIMENT, "workers", "required key is missing"),
    ("no-experiment", WORKERS, "experiment", "required key is missing"),
    ("no-kind", VALID.replace("  kind: async\n", ""), "workers.kind", "required key is missing"),
    ("empty-experiment", "experiment: {}\n" + WORKERS, "experiment", "give either `id`"),
    (
        "no-name",
        VALID.replace("  name: Branin\n", ""),
        "experiment.name",
        "required key is missing",
    ),
    ("no-parameters-key", experiment_with(""), "experiment.parameters", "required key is missing"),
    # --- workers values
    (
        "unknown-kind",
        VALID.replace("kind: async", "kind: thread"),
        "workers.kind",
        "'async', 'process' or 'subprocess'",
    ),
    (
        "count-zero",
        VALID.replace("count: 4", "count: 0"),
        "workers.count",
        "greater than or equal to 1",
    ),
    (
        "count-negative",
        VALID.replace("count: 4", "count: -3"),
        "workers.count",
        "greater than or equal to 1",
    ),
    ("timeout-zero", VALID + "  timeout: 0\n", "workers.timeout", "greater than 0"),
    ("timeout-negative", VALID + "  timeout: -5\n", "workers.timeout", "greater than 0"),
    (
        "subprocess-no-command",
        workers_with("  kind: subprocess\n  count: 2\n"),
        "workers.command",
        "needs `command`",
    ),
    (
        "subprocess-with-function",
        workers_with("  kind: subprocess\n  count: 2\n  command: [python, -V]\n  function: a:b\n"),
        "workers.function",
        "kind `subprocess` runs `command`",
    ),
    (
        "async-no-function",
        workers_with("  kind: async\n  count: 2\n"),
        "workers.function",
        "needs `function`",
    ),
    (
        "async-with-command",
        VALID + "  command: [python, -V]\n",
        "workers.command",
        "is for kind `subprocess`",
    ),
    (
        "function-no-colon",
        VALID.replace("examples.objectives:branin_async", "examples.objectives.branin_async"),
        "workers.function",
        "package.module:function",
    ),
    (
        "function-module-missing",
        VALID.replace("examples.objectives:", "examples.nope_mod:"),
        "workers.function",
        "cannot import module 'examples.nope_mod'",
    ),
    (
        "function-attribute-missing",
        VALID.replace(":branin_async", ":nope_fn"),
        "workers.function",
        "has no attribute 'nope_fn'",
    ),
    (
        "command-not-on-path",
        workers_with("  kind: subprocess\n  count: 2\n  command: [no-such-program-xq, '{x1}']\n"),
        "workers.command[0]",
        "is not an executable on PATH",
    ),
    (
        "relative-command-missing",
        workers_with("  kind: subprocess\n  count: 2\n  command: [./train.sh]\n  cwd: {tmp}\n"),
        "workers.command[0]",
        "'./train.sh' does not exist",
    ),
    (
        "python-script-missing",
        workers_with(
            "  kind: subprocess\n  count: 2\n  command: [python, missing.py, '{x1}']\n"
            "  cwd: {tmp}\n"
        ),
        "workers.command[1]",
        "script 'missing.py' does not exist",
    ),
    (
        "shell-several-argv",
        workers_with("  kind: subprocess\n  count: 2\n  command: [echo, hi]\n  shell: true\n"),
        "workers.command",
        "must be one string, got 2 argv elements",
    ),
    (
        "cwd-missing",
        workers_with(
            "  kind: subprocess\n  count: 2\n  command: [python, -V]\n  cwd: {tmp}/nowhere\n"
        ),
        "workers.cwd",
        "does not exist",
    ),
    # --- the experiment definition, checked by the service's own validation
    (
        "bounds-min-over-max",
        experiment_with("    - {name: x, type: double, bounds: {min: 3, max: 1}}\n"),
        "experiment.parameters[0].bounds",
        "min (3.0) must be less than max (1.0)",
    ),
    (
        "int-bounds-fractional",
        experiment_with(
            "    - {name: x, type: double, bounds: {min: 0, max: 1}}\n"
            "    - {name: n, type: int, bounds: {min: 0.5, max: 4}}\n"
        ),
        "experiment.parameters[1].bounds",
        "int bounds must be integers",
    ),
    (
        "log-min-zero",
        experiment_with(
            "    - {name: x, type: double, bounds: {min: 0, max: 1}, transformation: log}\n"
        ),
        "experiment.parameters[0].bounds",
        "log transformation needs min > 0",
    ),
    (
        "categorical-one-value",
        experiment_with(
            "    - {name: x, type: double, bounds: {min: 0, max: 1}}\n"
            "    - {name: k, type: categorical, categorical_values: [rbf]}\n"
        ),
        "experiment.parameters[1].categorical_values",
        "at least 2",
    ),
    (
        "no-bounds",
        experiment_with("    - {name: x, type: double}\n"),
        "experiment.parameters[0].bounds",
        "must have `bounds`",
    ),
    (
        "parameter-bad-type",
        experiment_with("    - {name: x, type: float, bounds: {min: 0, max: 1}}\n"),
        "experiment.parameters[0].type",
        "'double', 'int' or 'categorical'",
    ),
    (
        "duplicate-parameters",
        experiment_with(
            "    - {name: x, type: double, bounds: {min: 0, max: 1}}\n"
            "    - {name: x, type: double, bounds: {min: 0, max: 2}}\n"
        ),
        "experiment.parameters[1].name",
        "duplicate parameter name 'x'",
    ),
    (
        "no-parameters",
        experiment_with("    []\n"),
        "experiment.parameters",
        "at least one parameter",
    ),
    (
        "no-budget",
        VALID.replace("  observation_budget: 20\n", ""),
        "experiment.observation_budget",
        "required key is missing",
    ),
    (
        "budget-zero",
        VALID.replace("observation_budget: 20", "observation_budget: 0"),
        "experiment.observation_budget",
        "greater than or equal to 1",
    ),
    (
        "bandwidth-zero",
        VALID.replace(
            "  observation_budget: 20\n", "  observation_budget: 20\n  parallel_bandwidth: 0\n"
        ),
        "experiment.parallel_bandwidth",
        "greater than or equal to 1",
    ),
    (
        "id-and-definition",
        VALID.replace("  name: Branin\n", "  id: '12'\n  name: Branin\n"),
        "experiment.id",
        "not both",
    ),
    (
        "id-not-numeric",
        "experiment:\n  id: my-experiment\n" + WORKERS,
        "experiment.id",
        "numeric experiment id",
    ),
    (
        "metric-bad-objective",
        with_metrics("  metrics: [{name: a, objective: sideways}]\n"),
        "experiment.metrics[0].objective",
        "'maximize' or 'minimize'",
    ),
    (
        "metric-unknown-key",
        with_metrics("  metrics: [{name: a, objectiv: minimize}]\n"),
        "experiment.metrics[0].objectiv",
        "did you mean `objective`",
    ),
    (
        "three-optimized-metrics",
        with_metrics("  metrics: [a, b, c]\n"),
        "experiment.metrics",
        "at most 2 optimized metrics",
    ),
    (
        "constraint-no-threshold",
        with_metrics("  metrics: [{name: a}, {name: b, strategy: constraint}]\n"),
        "experiment.metrics[1].threshold",
        "must have a `threshold`",
    ),
    (
        "only-stored-metrics",
        with_metrics("  metrics: [{name: a, strategy: store}]\n"),
        "experiment.metrics",
        "at least one metric with strategy `optimize`",
    ),
    (
        "unnamed-metric-of-several",
        with_metrics("  metrics: [{name: a}, {objective: minimize}]\n"),
        "experiment.metrics",
        "must have a `name`",
    ),
    # --- other sections
    (
        "url-no-scheme",
        VALID + "service:\n  url: localhost:8080\n",
        "service.url",
        "must start with http:// or https://",
    ),
    (
        "url-ends-v1",
        VALID + "service:\n  url: http://127.0.0.1:8080/v1\n",
        "service.url",
        "must not end in /v1",
    ),
    (
        "max-fraction-over-1",
        VALID + "failures:\n  max_fraction: 1.5\n",
        "failures.max_fraction",
        "less than or equal to 1",
    ),
    (
        "retry-max-attempts-0",
        VALID + "retry:\n  max_attempts: 0\n",
        "retry.max_attempts",
        "greater than or equal to 1",
    ),
    (
        "logging-format",
        VALID + "logging:\n  format: xml\n",
        "logging.format",
        "'auto', 'json' or 'console'",
    ),
    ("run-name-slash", VALID + "run:\n  name: a/b\n", "run.name", "names the run folder"),
    # --- the file itself
    (
        "yaml-tab",
        VALID.replace("  count: 4", "\tcount: 4"),
        None,
        "invalid YAML at line 11, column 1: found character '\\t' that cannot start any token "
        "(indent with spaces, not tabs)",
    ),
    (
        "yaml-indentation",
        VALID.replace("  count: 4", "    count: 4"),
        None,
        "invalid YAML at line 11, column 10: mapping values are not allowed here "
        "(check the indentation",
    ),
    ("empty-file", "", None, "the file is empty"),
    ("comments-only", "# nothing here\n", None, "the file is empty"),
    ("list-not-mapping", "- workers\n- experiment\n", None, "not a list"),
    ("missing-file", None, None, "file not found"),
]


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


class TestCliConfigError:
    """`orchestrator run` with a bad config exits 2, names the key and the file, and sends
    nothing to the service."""

    @pytest.fixture
    async def counting_service(self) -> AsyncIterator[tuple[str, list[str]]]:
        """A stand-in service on loopback that records every request it gets."""
        seen: list[str] = []

        async def record(request: web.Request) -> web.Response:
            seen.append(f"{request.method} {request.path}")
            return web.json_response({}, status=500)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", record)
        async with TestServer(app, host="127.0.0.1", port=0) as server:
            yield str(server.make_url("")).rstrip("/"), seen

    async def test_stand_in_counts_requests(self, counting_service: tuple[str, list[str]]) -> None:
        """The stand-in does record requests, so the zero counts below mean something."""
        url, seen = counting_service
        async with ClientSession() as session, session.get(f"{url}/v1/experiments") as response:
            assert response.status == 500
        assert seen == ["GET /v1/experiments"]

    @pytest.mark.parametrize(
        ("broken", "key"),
        [
            (VALID.replace("count: 4", "count: four"), "workers.count"),
            (
                VALID.replace("{min: 0, max: 15}", "{min: 15, max: 0}"),
                "experiment.parameters[1].bounds",
            ),
            (VALID.replace(":branin_async", ":nope_fn"), "workers.function"),
        ],
        ids=["wrong-type", "bad-definition", "function-missing"],
    )
    async def test_exit_code_2(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
        counting_service: tuple[str, list[str]],
        broken: str,
        key: str,
    ) -> None:
        """Exit code 2, a "config error" line naming key and file, and zero requests."""
        url, seen = counting_service
        monkeypatch.setenv("COLUMNS", "1000")  # keep rich from wrapping the message
        path = tmp_path / "broken.yaml"
        path.write_text(broken + f"service:\n  url: {url}\n")
        assert main(["run", str(path)]) == 2
        out = " ".join(capsys.readouterr().out.split())
        assert f"config error: {key}: " in out
        assert f"(in {path})" in out
        assert seen == []

    async def test_flag_error_sends_nothing(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
        counting_service: tuple[str, list[str]],
    ) -> None:
        """A bad --workers is a config error too, reported under `workers.count`."""
        url, seen = counting_service
        monkeypatch.setenv("COLUMNS", "1000")
        path = tmp_path / "ok.yaml"
        path.write_text(VALID)
        assert main(["run", str(path), "--workers", "0", "--api-url", url]) == 2
        out = " ".join(capsys.readouterr().out.split())
        assert "config error: workers.count: " in out and "--workers" in out
        assert seen == []


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
