"""The subprocess kind as the orchestrator sees it: its checks, how it is built, and its
recovery after a crash (killing the process groups a dead run left behind)."""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from pathlib import Path

from workers.base import InvalidSetting, Worker, WorkerKind, WorkerSettings
from workers.errors import BrokenWorker
from workers.subprocess._argv import (
    GPUS_PLACEHOLDER,
    check_executable,
    check_placeholders,
    parse_template,
    resolve_fixed,
)
from workers.subprocess._recovery import kill_leftover_groups
from workers.subprocess._worker import SubprocessWorker

__all__ = ["SUBPROCESS_KIND"]

_PYTHON = re.compile(r"python[\d.]*(\.exe)?")


def _check_settings(settings: WorkerSettings) -> None:
    command = settings.command
    if not command:
        raise InvalidSetting(
            "command",
            "kind `subprocess` needs `command`, an argv list such as "
            '["{python}", "train.py", "--lr", "{lr}"]',
        )
    if settings.function is not None:
        raise InvalidSetting(
            "function", "is for kinds `async` and `process`; kind `subprocess` runs `command`"
        )
    if settings.shell and len(command) != 1:
        raise InvalidSetting(
            "command",
            f"with `shell: true`, `command` must be one string, got {len(command)} argv elements",
        )
    for i, arg in enumerate(command):
        if not arg:
            raise InvalidSetting(f"command[{i}]", "must not be empty")
        # A malformed template (`{}`, unbalanced braces) would break the worker's build.
        try:
            parse_template([arg])
        except BrokenWorker as exc:
            raise InvalidSetting(f"command[{i}]", str(exc)) from exc


def _check_parameters(settings: WorkerSettings, parameters: Collection[str]) -> None:
    """Every placeholder names a parameter or a reserved placeholder (`RESERVED`), and
    none is ambiguous: what every evaluation would otherwise fail on. `{gpus}` needs
    GPUs to share out (`gpus`), or it would always be empty."""
    for i, arg in enumerate(settings.command or ()):
        template = parse_template([arg])
        try:
            check_placeholders(template, parameters)
        except BrokenWorker as exc:
            raise InvalidSetting(f"command[{i}]", str(exc)) from exc
        names = {part.name for part in template[0] if not isinstance(part, str)}
        if GPUS_PLACEHOLDER in names and GPUS_PLACEHOLDER not in parameters and not settings.gpus:
            raise InvalidSetting(
                f"command[{i}]",
                f"placeholder {{{GPUS_PLACEHOLDER}}} needs `gpus`: the GPU ids to share out",
            )


def _check_runnable(settings: WorkerSettings) -> None:
    """The executable runs (as looked up with the environment the command will get,
    not the orchestrator's alone), and `python script.py` names a script that exists."""
    command = settings.command
    if not command or settings.shell:
        return
    program = resolve_fixed(command[0])
    if program is None:  # a parameter names the program: known per evaluation only
        return
    try:
        check_executable(program, {**os.environ, **settings.env}, settings.cwd)
    except BrokenWorker as exc:
        raise InvalidSetting("command[0]", str(exc)) from exc
    # `python train.py ...`: a missing script would fail every evaluation; say so now.
    if len(command) > 1 and _PYTHON.fullmatch(Path(program).name):
        base = settings.cwd or Path.cwd()
        script = command[1]
        if script.endswith(".py") and "{" not in script and not (base / script).is_file():
            raise InvalidSetting(
                "command[1]",
                f"script {script!r} does not exist (looked for {str(base / script)!r})",
            )


def _build(settings: WorkerSettings) -> Worker:
    assert settings.command is not None  # `_check_settings` passed
    return SubprocessWorker(
        settings.command,
        env=settings.env,
        cwd=settings.cwd,
        kill_grace_s=settings.kill_grace_s,
        shell=settings.shell,
    )


SUBPROCESS_KIND = WorkerKind(
    name="subprocess",
    target_field="command",
    check_settings=_check_settings,
    check_runnable=_check_runnable,
    build=_build,
    check_parameters=_check_parameters,
    # A command's output, result and process-group record go to its own folder.
    needs_run_folder=True,
    recover=kill_leftover_groups,
    # `Evaluation.env` goes into the command's environment (a `sigopt` run to log to).
    takes_environment=True,
)
