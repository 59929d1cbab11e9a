"""Config texts for the config tests: a valid config, builders, and the BAD_CONFIGS table."""

from __future__ import annotations

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
        "'async', 'process', 'subprocess' or 'dask'",
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
        "must have the threshold field defined",  # SigOpt's wording (issue 18)
    ),
    (
        "only-stored-metrics",
        with_metrics("  metrics: [{name: a, strategy: store}]\n"),
        "experiment.metrics",
        "must have optimized or constraint metrics",  # SigOpt's wording (issue 18)
    ),
    (
        "unnamed-metric-of-several",
        with_metrics("  metrics: [{name: a}, {objective: minimize}]\n"),
        "experiment.metrics",
        "do not support unnamed metrics",  # SigOpt's wording (issue 18)
    ),
    # --- other sections
    (
        "url-no-scheme",
        VALID + "service:\n  url: localhost:8080\n",
        "service.url",
        "must start with http:// or https://",
    ),
    (
        "experiment-key-typo",
        VALID.replace("observation_budget:", "observaton_budget:"),
        "experiment.observaton_budget",
        "unknown key (did you mean `observation_budget`?)",
    ),
    # --- checks an evaluation or the worker's build would otherwise make
    (
        "placeholder-typo",
        EXPERIMENT.replace("name: x2", "name: depth")
        + "workers:\n  kind: subprocess\n  count: 2\n  command: [echo, '{dept}']\n",
        "workers.command[1]",
        "placeholder {dept} names no parameter (did you mean `depth`?)",
    ),
    (
        "placeholder-python-is-a-parameter",
        EXPERIMENT.replace("name: x2", "name: python")
        + "workers:\n  kind: subprocess\n  count: 2\n  command: ['{python}', -V]\n",
        "workers.command[0]",
        "placeholder {python} is ambiguous",
    ),
    (
        "placeholder-empty",
        workers_with("  kind: subprocess\n  count: 2\n  command: [echo, 'a{}']\n"),
        "workers.command[1]",
        "empty placeholder",
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
