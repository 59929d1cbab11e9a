"""Run a Python objective in the orchestrator's own process: awaited, or in a thread.

The objective takes the assignments as a plain `dict` and returns anything
`outcome_from_result` accepts (a number, `{"value": v}`, `{"values": [...]}`, a dict of
metric names, or `{"failed": true}`). An exception it raises becomes
`Failed(reason="exception")`; the orchestrator never sees it.

```python
worker = AsyncFunctionWorker("examples.objectives:branin_async")   # or a callable
outcome = await worker.evaluate(Evaluation(id="7", assignments={"x": 0.5}))
```

A `"module:function"` target is imported with the given search path (`import_path`: the
orchestrator gives `workers.cwd`, then the config file's folder), then the current working
directory, first on `sys.path`, as `python -m` and uvicorn's `--app-dir` default put the
working directory: the `orchestrator` console script's own `sys.path` holds none of them,
and a config naming `mymodule:objective` means the `mymodule.py` beside the config or the
user, not an installed one. A module found in none of them is an error naming the folders.

An `async def` objective runs on the event loop and is cancelled like any task. A plain
`def` runs in a worker thread: Python cannot kill a thread, so on cancel or timeout the
thread is abandoned: it runs to its end in the background and its result is dropped.
CPU-bound or possibly hanging objectives belong in `ProcessPoolWorker` or
`SubprocessWorker`, whose cancellation kills a process.

An objective that declares a parameter named `evaluation` gets the `Evaluation` as that
keyword: its id, attempt, and the GPUs and cores it holds (`gpus`, `cpus`). This process
is shared by every evaluation, so nothing is pinned or exported for it: the objective
picks its devices from `evaluation.gpus` itself (`torch.device(f"cuda:{gpus[0]}")`). A
timed-out plain-`def` objective keeps running in its thread after its GPUs went back to
the pool: what a thread uses cannot be taken back, another reason for the process kinds.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import anyio.to_thread
import structlog

from workers.base import (
    ClosesOnExit,
    Evaluation,
    Failed,
    InvalidSetting,
    Outcome,
    Worker,
    WorkerKind,
    WorkerSettings,
    outcome_from_result,
)
from workers.errors import BrokenWorker

__all__ = [
    "ASYNC_KIND",
    "AsyncFunctionWorker",
    "accepts_evaluation",
    "check_function_importable",
    "check_function_settings",
    "describe_exception",
    "import_target",
]

log = structlog.get_logger()

#: How much of a traceback goes into `Failed.details`: the end is where the error is.
TRACEBACK_TAIL_CHARS = 2000
MESSAGE_MAX_CHARS = 500


def search_path_first(search_path: Sequence[Path] = ()) -> list[str]:
    """Put `search_path`, then the current working directory, at the front of `sys.path`,
    in that order, unless they are there already; returns them (absolute, no repeats).

    A console script's `sys.path[0]` is its `bin` folder, not the working directory, so
    the user's own `mymodule.py` would not be found, or an installed module of the same
    name would win over it.
    """
    folders = [os.path.abspath(folder) for folder in search_path]
    with contextlib.suppress(OSError):  # a removed working directory: nothing to add
        folders.append(os.getcwd())
    wanted = list(dict.fromkeys(folders))
    # "" stands for the working directory too (`python -c`, the REPL).
    if [os.path.abspath(p) for p in sys.path[: len(wanted)]] != wanted:
        rest = [p for p in sys.path if os.path.abspath(p) not in wanted]
        sys.path[:] = [*wanted, *rest]
    return wanted


def import_target(target: str, search_path: Sequence[Path] = ()) -> Callable[..., Any]:
    """Resolve `"package.module:function"` (or `module:Class.method`) to a callable,
    imported with `search_path`, then the current working directory, first on `sys.path`
    (see the module docstring).

    Raises `BrokenWorker` naming the target and why: a malformed target, a module that
    fails to import (including errors raised while importing it; a module not found says
    which folders were searched), a missing attribute, or something that is not callable.
    """
    module_name, sep, attr_path = target.partition(":")
    if not sep or not module_name or not attr_path:
        raise BrokenWorker(f"objective target {target!r} must look like 'package.module:function'")
    folders = search_path_first(search_path)
    # A module written a moment ago (`orchestrator init`, a test) is older than the
    # finders' cached listing of its folder when both fall in the same mtime tick.
    importlib.invalidate_caches()
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # an import can raise anything; all of it means "unusable"
        where = ""
        missing = exc.name if isinstance(exc, ModuleNotFoundError) else None
        # Only when the target's own module (or a parent package) is missing, not
        # something the module imports: that is the user's environment, not the path.
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            where = f" (looked in {', '.join(folders)}, then the installed packages)"
        raise BrokenWorker(
            f"cannot import module {module_name!r} of objective target {target!r}: "
            f"{type(exc).__name__}: {exc}{where}"
        ) from exc
    for attr in attr_path.split("."):
        try:
            obj = getattr(obj, attr)
        except AttributeError as exc:
            raise BrokenWorker(
                f"objective target {target!r}: {module_name!r} has no attribute {attr_path!r}"
            ) from exc
    if not callable(obj):
        raise BrokenWorker(
            f"objective target {target!r} is not callable (it is a {type(obj).__name__})"
        )
    return obj  # type: ignore[no-any-return]


def describe_exception(exc: BaseException) -> dict[str, str | int | float]:
    """The `Failed.details` of an objective that raised: small, picklable, JSON-able."""
    formatted = "".join(traceback.format_exception(exc))
    return {
        "exception_type": type(exc).__qualname__,
        "message": str(exc)[:MESSAGE_MAX_CHARS],
        "traceback": formatted[-TRACEBACK_TAIL_CHARS:],
    }


def accepts_evaluation(fn: Callable[..., Any]) -> bool:
    """Whether `fn` declares a parameter named `evaluation` that can be passed by keyword
    (it then gets the `Evaluation`; objectives without it are called as before)."""
    try:
        parameter = inspect.signature(fn).parameters.get("evaluation")
    except (TypeError, ValueError):  # no signature to read (some builtins)
        return False
    return parameter is not None and parameter.kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    )


def _is_async_callable(fn: Callable[..., Any]) -> bool:
    while isinstance(fn, functools.partial):
        fn = fn.func
    # A callable object counts as async when its __call__ is `async def`.
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - we need the method, not callable()
    )


class AsyncFunctionWorker(ClosesOnExit):
    """Evaluates `fn(dict(assignments))` in this process; see the module docstring.

    `target` is a callable or a `"package.module:function"` string, imported at once
    (looked for in `search_path`, then the working directory, then the installed packages):
    a target that cannot be imported or is not callable raises `BrokenWorker` here, not
    at the first evaluation. Evaluations may run concurrently; the coordinator bounds
    how many. Sync objectives share anyio's default thread limiter.
    """

    def __init__(
        self, target: str | Callable[..., Any], *, search_path: Sequence[Path] = ()
    ) -> None:
        if isinstance(target, str):
            self._fn = import_target(target, search_path)
            self._name = target
        else:
            if not callable(target):
                raise BrokenWorker(f"objective {target!r} is not callable")
            self._fn = target
            self._name = getattr(target, "__qualname__", repr(target))
        self._is_async = _is_async_callable(self._fn)
        self._wants_evaluation = accepts_evaluation(self._fn)
        self._closed = False

    def __repr__(self) -> str:
        kind = "async" if self._is_async else "thread"
        state = "closed" if self._closed else "open"
        return f"<AsyncFunctionWorker {self._name} {kind} {state}>"

    async def prepare(self, evaluation: Evaluation) -> None:
        """Nothing to prepare: the target was imported at construction."""

    async def evaluate(self, evaluation: Evaluation) -> Outcome:
        """Run the objective once. Cancelling it cancels an async objective; a threaded
        one is abandoned (see the module docstring). Raises `BrokenWorker` after `aclose`.
        """
        if self._closed:
            raise BrokenWorker(f"{self!r} is closed")
        call = functools.partial(self._fn, dict(evaluation.assignments))
        if self._wants_evaluation:
            call = functools.partial(call, evaluation=evaluation)
        try:
            if self._is_async:
                result = await call()
            else:
                # abandon_on_cancel: a thread cannot be interrupted, so waiting for it
                # would make the caller's deadline a suggestion; we walk away instead.
                result = await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
        # Cancellation is a BaseException and passes through; SystemExit is caught
        # because an objective calling sys.exit() must not stop the orchestrator.
        except (Exception, SystemExit) as exc:
            log.debug("objective_raised", worker=self._name, exception_type=type(exc).__name__)
            return Failed(reason="exception", details=describe_exception(exc))
        return outcome_from_result(result)

    async def aclose(self) -> None:
        """Refuse further evaluations. Idempotent; abandoned threads are not waited for."""
        self._closed = True


def check_function_settings(kind: str, settings: WorkerSettings) -> None:
    """The settings check of a kind that runs a Python `function` (`kind` names it)."""
    if settings.command is not None:
        raise InvalidSetting("command", f"is for kind `subprocess`; kind `{kind}` runs `function`")
    if not settings.function:
        raise InvalidSetting(
            "function", f'kind `{kind}` needs `function`: "package.module:function"'
        )
    module, sep, attr = settings.function.partition(":")
    if not (module and sep and attr):
        raise InvalidSetting(
            "function", f"must look like package.module:function, got {settings.function!r}"
        )
    if settings.shell:
        raise InvalidSetting("shell", f"is for kind `subprocess`, not `{kind}`")


def check_function_importable(settings: WorkerSettings) -> None:
    """The function imports (from `import_path` and the working directory too) and is
    callable."""
    if settings.function:
        try:
            import_target(settings.function, settings.import_path)
        except BrokenWorker as exc:
            raise InvalidSetting("function", str(exc)) from exc


def _build(settings: WorkerSettings) -> Worker:
    assert settings.function is not None  # `check_function_settings` passed
    return AsyncFunctionWorker(settings.function, search_path=settings.import_path)


ASYNC_KIND = WorkerKind(
    name="async",
    target_field="function",
    check_settings=functools.partial(check_function_settings, "async"),
    check_runnable=check_function_importable,
    build=_build,
    # A plain-`def` objective that timed out keeps running in its thread.
    abandons_threads=True,
)
