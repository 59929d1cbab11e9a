"""What the command gets: its argv (a template parsed once, rendered per evaluation), its
environment, and the check that its executable can run at all.

Each argv element is formatted on its own; a value fills part of exactly one element and is
never split or interpreted by a shell (with `shell=True` every value is `shlex.quote`d).

Besides the parameters, four placeholders are the orchestrator's own (`RESERVED`):
`{suggestion_id}`, `{gpus}` (the GPU ids the evaluation holds, `0,1`; empty when it holds
none), `{task}` (a multitask experiment's task name, `SIGOPT_TASK` in the environment with
its cost in `SIGOPT_TASK_COST`) and `{python}`, the interpreter running the orchestrator
(`sys.executable`), so `["{python}", "train.py"]` runs with the packages the orchestrator
was installed with, whatever `python` is first on PATH. A parameter may not be named like
a reserved placeholder that the command uses: which one was meant is ambiguous, so
`check_placeholders` refuses it.

A parameter with `conditions` is left out of the suggestions whose conditionals make it
inactive. Its placeholder then fails that evaluation (`inactive_placeholders` names it),
unless the template gives the text to use instead after a `|`: `{depth|none}` is the
depth when the suggestion has one and `none` when it does not (`{depth|}`: empty). The
default is used as written; a format spec (`{lr|0.1:.3f}`) applies to the value only.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shlex
import shutil
import string
import sys
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workers.base import AssignmentValue, Evaluation
from workers.errors import BrokenWorker
from workers.resources import evaluation_env
from workers.subprocess._output import RESULT_ENV

__all__ = [
    "GPUS_PLACEHOLDER",
    "RESERVED",
    "TASK_PLACEHOLDER",
    "Template",
    "check_executable",
    "check_placeholders",
    "command_env",
    "fixed_values",
    "inactive_message",
    "inactive_placeholders",
    "param_env_name",
    "parse_template",
    "render",
    "resolve_fixed",
]

_ENV_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9]")
_FORMATTER = string.Formatter()

#: The placeholders that are no parameter: the suggestion's id, its GPUs, the interpreter.
RESERVED = ("suggestion_id", "gpus", "task", "python")
#: The placeholder of a multitask evaluation's task name.
TASK_PLACEHOLDER = "task"
#: The placeholder of the evaluation's GPU ids, which needs `workers.gpus`.
GPUS_PLACEHOLDER = "gpus"


def fixed_values() -> dict[str, str]:
    """The values of the placeholders known before any evaluation (`{python}`; none in
    an embedding program whose interpreter does not know its own path)."""
    return {"python": sys.executable} if sys.executable else {}


def param_env_name(name: str) -> str:
    """`SIGOPT_PARAM_<NAME>`: upper-cased, every non-alphanumeric replaced by `_`."""
    return "SIGOPT_PARAM_" + _ENV_NAME_UNSAFE.sub("_", name).upper()


def command_env(
    base: Mapping[str, str],
    evaluation: Evaluation,
    *,
    assignments: Path,
    result: Path,
    user_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """`base` (the orchestrator's environment and the worker's `env`, `user_env`), then
    the evaluation's: its GPUs and thread counts (`evaluation_env`: the thread counts
    unless `user_env` sets them), `SIGOPT_SUGGESTION_ID`, `SIGOPT_TASK` and
    `SIGOPT_TASK_COST` (multitask), `SIGOPT_ASSIGNMENTS` (JSON),
    the paths of its two JSON files, one `SIGOPT_PARAM_<NAME>` per parameter, and last
    the evaluation's own `env` (the `sigopt` client's run: `SIGOPT_CONTEXT` and friends)."""
    env = dict(base)
    env.update(evaluation_env(evaluation.gpus, evaluation.cpus, user_env or {}))
    for name, value in evaluation.assignments.items():
        env[param_env_name(name)] = str(value)
    env["SIGOPT_SUGGESTION_ID"] = evaluation.id
    if evaluation.task is not None:
        env["SIGOPT_TASK"] = evaluation.task.name
        env["SIGOPT_TASK_COST"] = repr(evaluation.task.cost)
    env["SIGOPT_ASSIGNMENTS"] = json.dumps(dict(evaluation.assignments))
    env["SIGOPT_ASSIGNMENTS_FILE"] = str(assignments)
    env[RESULT_ENV] = str(result)
    # Last: the evaluation's own (its SigOpt training run), which nothing may shadow.
    env.update(evaluation.env)
    return env


def check_executable(executable: str, env: Mapping[str, str], cwd: Path | None) -> None:
    """`BrokenWorker` unless the program can run, looked up as the OS will for the
    command: in `env`'s PATH, or relative to `cwd`. Also the config's start-up check."""
    if os.sep in executable:
        path = Path(executable)
        if not path.is_absolute():
            path = (cwd or Path.cwd()) / path
        if not path.is_file():
            raise BrokenWorker(f"command {executable!r} does not exist (looked for {str(path)!r})")
        if not os.access(path, os.X_OK):
            raise BrokenWorker(f"command {executable!r} is not executable (chmod +x?)")
    elif shutil.which(executable, path=env.get("PATH", os.defpath)) is None:
        raise BrokenWorker(f"command {executable!r} is not an executable on PATH")


@dataclass(frozen=True)
class _Field:
    name: str
    spec: str
    conversion: str | None
    #: The text after `|` in `{name|default}`: used when the evaluation has no `name`.
    default: str | None = None


Template = tuple[tuple[str | _Field, ...], ...]


def parse_template(command: Sequence[str]) -> Template:
    """Split each argv element into literals and fields, once, at construction.

    Field names are looked up as whole keys: `{a.b}` names parameter "a.b", not an
    attribute, so no value can reach into Python objects.
    """
    parsed = []
    for element in command:
        parts: list[str | _Field] = []
        try:
            for literal, name, spec, conversion in _FORMATTER.parse(element):
                if literal:
                    parts.append(literal)
                if name is None:
                    continue
                if not name:
                    raise BrokenWorker(
                        f"command element {element!r}: empty placeholder '{{}}'; name a "
                        "parameter, or write '{{{{' and '}}}}' for literal braces"
                    )
                if spec and ("{" in spec or "}" in spec):
                    raise BrokenWorker(f"command element {element!r}: nested placeholders")
                name, bar, default = name.partition("|")
                if not name:
                    raise BrokenWorker(
                        f"command element {element!r}: placeholder '{{|{default}}}' names no "
                        "parameter before its default"
                    )
                parts.append(_Field(name, spec or "", conversion, default if bar else None))
        except ValueError as exc:  # unbalanced braces
            raise BrokenWorker(
                f"command element {element!r} is not a valid template: {exc}"
            ) from exc
        parsed.append(tuple(parts))
    return tuple(parsed)


def _unknown_placeholder(name: str, known: Collection[str]) -> BrokenWorker:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    hint = f" (did you mean `{close[0]}`?)" if close else ""
    return BrokenWorker(
        f"command placeholder {{{name}}} names no parameter{hint} "
        f"(known: {', '.join(sorted(known))})"
    )


def check_placeholders(template: Template, parameters: Collection[str]) -> None:
    """`BrokenWorker` (with the message an evaluation would raise) for a placeholder that
    names no parameter and no reserved placeholder, or a parameter named like a reserved
    placeholder the command uses. Made before the run starts, so no evaluation finds it."""
    known = {*parameters, *RESERVED}
    for parts in template:
        for part in parts:
            if isinstance(part, str):
                continue
            if part.name not in known:
                raise _unknown_placeholder(part.name, known)
            if part.name in RESERVED and part.name in parameters:
                raise BrokenWorker(
                    f"command placeholder {{{part.name}}} is ambiguous: it is the "
                    f"orchestrator's own and also a parameter's name; rename the parameter"
                )


def inactive_placeholders(
    template: Template, values: Mapping[str, AssignmentValue | str]
) -> list[str]:
    """The placeholders without a default whose name `values` lack: parameters inactive in
    this evaluation's suggestion. The worker fails such an evaluation, naming them; it
    cannot tell them from a name of no parameter, which is why `check_placeholders`
    refuses those before a run starts (the orchestrator calls it on every config)."""
    missing = []
    for parts in template:
        for part in parts:
            if isinstance(part, _Field) and part.default is None and part.name not in values:
                missing.append(part.name)
    return list(dict.fromkeys(missing))


def inactive_message(names: Sequence[str]) -> str:
    """Why an evaluation with these `inactive_placeholders` did not run."""
    if TASK_PLACEHOLDER in names:
        return (
            "command placeholder {task} has no value: the experiment is not multitask "
            "(no `experiment.tasks`); give the text to use instead, e.g. {task|full}"
        )
    listed = ", ".join(f"{{{n}}}" for n in names)
    return (
        f"command placeholder {listed} has no value in this suggestion: a parameter "
        f"inactive in it (its conditions are not met), unless it names no parameter at "
        f"all; give the text to use when inactive in the template, e.g. {{{names[0]}|none}}"
    )


def _render_field(field: _Field, values: Mapping[str, AssignmentValue | str]) -> str:
    if field.name not in values and field.default is not None:
        return field.default
    if field.name not in values:
        raise _unknown_placeholder(field.name, values)
    value: Any = values[field.name]
    if field.conversion is not None:
        value = _FORMATTER.convert_field(value, field.conversion)
    try:
        return format(value, field.spec)
    except (ValueError, TypeError) as exc:
        raise BrokenWorker(
            f"command placeholder {{{field.name}:{field.spec}}} cannot format {value!r}: {exc}"
        ) from exc


def render(
    template: Template, values: Mapping[str, AssignmentValue | str], *, shell: bool
) -> list[str]:
    """One evaluation's argv; with `shell`, `/bin/sh -c` and the one quoted string."""
    argv = []
    for parts in template:
        rendered = []
        for part in parts:
            if isinstance(part, str):
                rendered.append(part)
            else:
                text = _render_field(part, values)
                rendered.append(shlex.quote(text) if shell else text)
        argv.append("".join(rendered))
    return ["/bin/sh", "-c", argv[0]] if shell else argv


def resolve_fixed(element: str) -> str | None:
    """`element` rendered when it holds no placeholder but fixed ones, for checks made
    before any evaluation (`"{python}"` -> `/path/to/.venv/bin/python`); None when it
    names a parameter (known only per evaluation). Raises `BrokenWorker` for a malformed
    template."""
    fixed = fixed_values()
    parts = parse_template([element])[0]
    if all(isinstance(part, str) or part.name in fixed for part in parts):
        return render((parts,), fixed, shell=False)[0]
    return None
