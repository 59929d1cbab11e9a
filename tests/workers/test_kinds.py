"""Worker kinds describe themselves: what each needs, how it is checked and built, and how
a "module:function" target is found from the working directory."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import get_args

import anyio
import pytest

from workers.async_function import AsyncFunctionWorker, import_target
from workers.base import Completed, Evaluation, InvalidSetting, WorkerSettings
from workers.errors import BrokenWorker
from workers.kinds import KINDS, KindName, worker_kind
from workers.process_pool import ProcessPoolWorker
from workers.subprocess import GROUP_FILE, SubprocessWorker

OBJECTIVE = "tests.workers.objectives:quadratic"
DEADLINE_S = 20


class TestRegistry:
    """The registry names every kind once, as the config's `workers.kind` spells it."""

    def test_names_are_the_config_names(self) -> None:
        """`KindName` (what the config accepts) and the registry hold the same names."""
        assert set(get_args(KindName)) == set(KINDS)
        assert all(kind.name == name for name, kind in KINDS.items())

    def test_unknown_kind_is_a_key_error_naming_the_known(self) -> None:
        """Asking for a kind that does not exist names the ones that do."""
        with pytest.raises(KeyError, match=r"'thread'.*async, process, subprocess"):
            worker_kind("thread")

    def test_repr_says_what_each_kind_needs(self) -> None:
        """Each kind's repr lists what the orchestrator must do for it."""
        assert repr(worker_kind("subprocess")) == (
            "<WorkerKind subprocess runs=command needs_run_folder recovers takes_environment>"
        )
        assert repr(worker_kind("async")) == "<WorkerKind async runs=function abandons_threads>"
        assert repr(worker_kind("process")) == "<WorkerKind process runs=function>"


class TestWhatKindsNeed:
    """Only a command writes files per evaluation and can outlive a crashed run; only an
    in-process objective can leave a thread nothing can stop."""

    def test_only_command_kinds_need_a_run_folder(self) -> None:
        """The run folder goes to the kinds that run commands (their output is kept)."""
        assert {n for n, k in KINDS.items() if k.needs_run_folder} == {"subprocess", "dask"}

    def test_only_async_abandons_threads(self) -> None:
        """Only the in-process kind may leave threads the program must not wait for."""
        assert {n for n, k in KINDS.items() if k.abandons_threads} == {"async"}

    @pytest.mark.parametrize("name", ["async", "process"])
    def test_in_process_kinds_have_nothing_to_recover(self, name: str, tmp_path: Path) -> None:
        """Recovery of a function kind touches nothing, even a folder with a group record."""
        (tmp_path / "1-1").mkdir()
        (tmp_path / "1-1" / GROUP_FILE).write_text(f"{os.getpid()} 1\n")
        assert worker_kind(name).recover(tmp_path) == 0
        assert (tmp_path / "1-1" / GROUP_FILE).exists()

    def test_subprocess_recovery_kills_a_recorded_group(self, tmp_path: Path) -> None:
        """The subprocess kind's recovery kills a group a dead run recorded."""
        from workers.subprocess._recovery import start_time

        child = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
        )
        try:
            (tmp_path / "1-1").mkdir()
            (tmp_path / "1-1" / GROUP_FILE).write_text(f"{child.pid} {start_time(child.pid)}\n")
            assert worker_kind("subprocess").recover(tmp_path) == 1
            assert child.wait(timeout=5) == -signal.SIGKILL
        finally:
            child.kill()
            child.wait()


class TestBuild:
    """Each kind builds its worker from plain settings."""

    async def test_each_kind_builds_its_worker(self) -> None:
        """async, process and subprocess settings give the matching worker class."""
        built = {
            "async": worker_kind("async").build(WorkerSettings(function=OBJECTIVE)),
            "process": worker_kind("process").build(WorkerSettings(count=2, function=OBJECTIVE)),
            "subprocess": worker_kind("subprocess").build(
                WorkerSettings(command=[sys.executable, "-c", "print(1)"], kill_grace_s=0.5)
            ),
        }
        try:
            assert isinstance(built["async"], AsyncFunctionWorker)
            assert isinstance(built["process"], ProcessPoolWorker)
            assert "busy=0/2" in repr(built["process"])
            assert isinstance(built["subprocess"], SubprocessWorker)
            assert built["subprocess"]._kill_grace_s == 0.5
        finally:
            for worker in built.values():
                await worker.aclose()

    def test_a_target_that_cannot_be_built_is_a_broken_worker(self) -> None:
        """Building with a missing executable raises BrokenWorker, for the caller to map."""
        with pytest.raises(BrokenWorker, match="not an executable on PATH"):
            worker_kind("subprocess").build(WorkerSettings(command=["no-such-program-xq"]))


class TestChecks:
    """A kind's checks raise `InvalidSetting` naming the setting, as the config spells it."""

    @pytest.mark.parametrize(
        ("name", "settings", "field", "message"),
        [
            ("subprocess", WorkerSettings(), "command", "kind `subprocess` needs `command`"),
            (
                "subprocess",
                WorkerSettings(command=["python"], function="a:b"),
                "function",
                "is for kinds `async` and `process`; kind `subprocess` runs `command`",
            ),
            ("subprocess", WorkerSettings(command=["a", ""]), "command[1]", "must not be empty"),
            (
                "async",
                WorkerSettings(command=["x"], function="a:b"),
                "command",
                "is for kind `subprocess`; kind `async` runs `function`",
            ),
            ("process", WorkerSettings(), "function", "kind `process` needs `function`"),
            (
                "async",
                WorkerSettings(function="a.b"),
                "function",
                "must look like package.module:function",
            ),
            (
                "process",
                WorkerSettings(function="a:b", shell=True),
                "shell",
                "is for kind `subprocess`, not `process`",
            ),
        ],
    )
    def test_settings(self, name: str, settings: WorkerSettings, field: str, message: str) -> None:
        """Missing, refused or malformed settings are named by their key."""
        with pytest.raises(InvalidSetting, match=re.escape(message)) as caught:
            worker_kind(name).check_settings(settings)
        assert caught.value.field == field

    def test_runnable_uses_the_commands_own_path(self, tmp_path: Path) -> None:
        """The executable is looked up in the PATH the command will get (`env`)."""
        tool = tmp_path / "mytool-xq"
        tool.write_text("#!/bin/sh\n")
        tool.chmod(0o755)
        kind = worker_kind("subprocess")
        with pytest.raises(InvalidSetting) as caught:
            kind.check_runnable(WorkerSettings(command=["mytool-xq"]))
        assert caught.value.field == "command[0]"
        kind.check_runnable(WorkerSettings(command=["mytool-xq"], env={"PATH": str(tmp_path)}))

    def test_runnable_names_a_missing_python_script(self, tmp_path: Path) -> None:
        """`python missing.py` is reported under `command[1]`."""
        with pytest.raises(InvalidSetting, match=r"script 'missing\.py' does not exist") as caught:
            worker_kind("subprocess").check_runnable(
                WorkerSettings(command=[sys.executable, "missing.py"], cwd=tmp_path)
            )
        assert caught.value.field == "command[1]"

    @pytest.mark.parametrize("name", ["async", "process"])
    def test_runnable_imports_the_function(self, name: str) -> None:
        """A function that does not import is reported under `function`."""
        with pytest.raises(InvalidSetting, match="has no attribute 'nope'") as caught:
            worker_kind(name).check_runnable(
                WorkerSettings(function="tests.workers.objectives:nope")
            )
        assert caught.value.field == "function"


@pytest.fixture
def own_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module only the working directory holds, which is then the working directory;
    `sys.path` and `sys.modules` are restored afterwards."""
    name = f"cwd_objective_{os.getpid()}_{tmp_path.name}".replace("-", "_")
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            """
            def objective(assignments):
                return assignments["x"] * 10
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.delitem(sys.modules, name, raising=False)
    return name


class TestWorkingDirectoryFirst:
    """A "module:function" target is found in the working directory, as `python -m` and
    uvicorn's `--app-dir` default find it, whatever the program's own `sys.path`."""

    def test_import_target_puts_the_working_directory_first(self, own_module: str) -> None:
        """The module beside the user imports, and the working directory is now first."""
        fn = import_target(f"{own_module}:objective")
        assert fn({"x": 2}) == 20
        assert sys.path[0] == os.getcwd()

    def test_it_is_put_first_once(self, own_module: str) -> None:
        """Importing again does not stack copies of the working directory."""
        import_target(f"{own_module}:objective")
        before = list(sys.path)
        import_target(f"{own_module}:objective")
        assert sys.path == before

    async def test_process_pool_children_find_it_too(self, own_module: str) -> None:
        """The pool's children import the target from the same working directory."""
        worker = ProcessPoolWorker(f"{own_module}:objective", max_workers=1)
        try:
            with anyio.fail_after(DEADLINE_S):
                outcome = await worker.evaluate(Evaluation(id="1", assignments={"x": 3}))
        finally:
            await worker.aclose()
        assert isinstance(outcome, Completed)
        assert outcome.values[0].value == 30
