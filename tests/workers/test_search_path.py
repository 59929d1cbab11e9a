"""Where a "module:function" objective is found, and the `{python}` placeholder: the
interpreter running the orchestrator, so a command does not depend on what `python` PATH
finds first."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import anyio
import pytest

from workers.async_function import AsyncFunctionWorker, import_target
from workers.base import Completed, Evaluation, Failed, InvalidSetting, WorkerSettings
from workers.errors import BrokenWorker
from workers.kinds import worker_kind
from workers.process_pool import ProcessPoolWorker
from workers.subprocess import SubprocessWorker

DEADLINE_S = 20


def write_module(folder: Path, name: str, factor: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(
        textwrap.dedent(
            f"""
            def objective(assignments):
                return assignments["x"] * {factor}
            """
        )
    )


@pytest.fixture
def module_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module name nothing installed holds; the working directory is an empty folder, and
    `sys.path` and `sys.modules` are restored afterwards."""
    name = f"beside_config_{os.getpid()}_{tmp_path.name}".replace("-", "_")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return name


class TestSearchPath:
    """`import_path` folders come first, in order, then the working directory."""

    def test_a_folder_of_the_path_is_importable(self, tmp_path: Path, module_name: str) -> None:
        """A module in a search folder (the config's folder) imports from any working
        directory."""
        write_module(tmp_path / "job", module_name, 10)
        fn = import_target(f"{module_name}:objective", [tmp_path / "job"])
        assert fn({"x": 2}) == 20

    def test_the_first_folder_wins(self, tmp_path: Path, module_name: str) -> None:
        """With the module in two folders, the first one's is imported (`workers.cwd`
        before the config's folder), and both precede the working directory."""
        write_module(tmp_path / "cwd_setting", module_name, 3)
        write_module(tmp_path / "config_dir", module_name, 5)
        write_module(Path.cwd(), module_name, 7)
        fn = import_target(
            f"{module_name}:objective", [tmp_path / "cwd_setting", tmp_path / "config_dir"]
        )
        assert fn({"x": 1}) == 3
        assert sys.path[:3] == [
            str(tmp_path / "cwd_setting"),
            str(tmp_path / "config_dir"),
            os.getcwd(),
        ]

    def test_missing_module_says_where_it_looked(self, tmp_path: Path, module_name: str) -> None:
        """The error names the folders searched, in order."""
        with pytest.raises(BrokenWorker) as caught:
            import_target(f"{module_name}:objective", [tmp_path / "a", tmp_path / "b"])
        message = str(caught.value)
        assert f"No module named '{module_name}'" in message
        assert (
            f"(looked in {tmp_path / 'a'}, {tmp_path / 'b'}, {os.getcwd()}, "
            "then the installed packages)"
        ) in message

    def test_a_missing_dependency_is_not_a_path_problem(
        self, tmp_path: Path, module_name: str
    ) -> None:
        """A module that is found but imports something missing: the error is the import
        error, with no list of folders to mislead."""
        (tmp_path / "job").mkdir()
        (tmp_path / "job" / f"{module_name}.py").write_text("import no_such_dependency_xq\n")
        with pytest.raises(BrokenWorker) as caught:
            import_target(f"{module_name}:objective", [tmp_path / "job"])
        assert "no_such_dependency_xq" in str(caught.value)
        assert "looked in" not in str(caught.value)

    def test_kind_check_reads_the_settings_path(self, tmp_path: Path, module_name: str) -> None:
        """The kinds' start-up check imports through `WorkerSettings.import_path`."""
        write_module(tmp_path / "job", module_name, 1)
        settings = WorkerSettings(function=f"{module_name}:objective")
        with pytest.raises(InvalidSetting, match="looked in"):
            worker_kind("async").check_runnable(settings)
        worker_kind("async").check_runnable(
            WorkerSettings(function=f"{module_name}:objective", import_path=(tmp_path / "job",))
        )

    async def test_async_worker_evaluates_it(self, tmp_path: Path, module_name: str) -> None:
        """The in-process worker built with the path evaluates the module's function."""
        write_module(tmp_path / "job", module_name, 4)
        worker = AsyncFunctionWorker(f"{module_name}:objective", search_path=[tmp_path / "job"])
        with anyio.fail_after(DEADLINE_S):
            outcome = await worker.evaluate(Evaluation(id="1", assignments={"x": 2}))
        assert isinstance(outcome, Completed) and outcome.values[0].value == 8

    async def test_process_pool_children_get_the_same_path(
        self, tmp_path: Path, module_name: str
    ) -> None:
        """The pool's children (fresh interpreters) import from the same folders."""
        write_module(tmp_path / "job", module_name, 6)
        worker = ProcessPoolWorker(
            f"{module_name}:objective", max_workers=1, search_path=[tmp_path / "job"]
        )
        try:
            with anyio.fail_after(DEADLINE_S):
                outcome = await worker.evaluate(Evaluation(id="1", assignments={"x": 2}))
        finally:
            await worker.aclose()
        assert isinstance(outcome, Completed) and outcome.values[0].value == 12


#: A command template: `{{`/`}}` are literal braces.
PRINT_EXECUTABLE = "import json, sys; print(json.dumps({{'value': 1, 'exe': sys.executable}}))"


class TestPythonPlaceholder:
    """`{python}` is `sys.executable`, in an argv and in a shell command."""

    async def _run(self, worker: SubprocessWorker, workdir: Path) -> Path:
        try:
            with anyio.fail_after(DEADLINE_S):
                outcome = await worker.evaluate(
                    Evaluation(id="1", assignments={"x": 0.5}, workdir=workdir)
                )
        finally:
            await worker.aclose()
        assert not isinstance(outcome, Failed), outcome
        return workdir / "stdout.log"

    async def test_argv(self, tmp_path: Path) -> None:
        """`["{python}", "-c", ...]` runs this interpreter, not PATH's `python`."""
        worker = SubprocessWorker(
            ["{python}", "-c", PRINT_EXECUTABLE], env={"PATH": "/nonexistent"}
        )
        stdout = await self._run(worker, tmp_path / "e")
        assert f'"exe": "{sys.executable}"' in stdout.read_text()

    async def test_shell(self, tmp_path: Path) -> None:
        """In a `shell: true` command `{python}` is quoted like any value."""
        worker = SubprocessWorker([f'{{python}} -c "{PRINT_EXECUTABLE}"'], shell=True)
        stdout = await self._run(worker, tmp_path / "e")
        assert f'"exe": "{sys.executable}"' in stdout.read_text()

    def test_start_up_check_resolves_it(self, tmp_path: Path) -> None:
        """The kind's check treats `{python} script.py` as Python: the script must exist."""
        settings = WorkerSettings(command=["{python}", "missing.py"], cwd=tmp_path)
        with pytest.raises(InvalidSetting, match=r"script 'missing\.py' does not exist"):
            worker_kind("subprocess").check_runnable(settings)

    def test_a_parameter_named_python_is_ambiguous(self) -> None:
        """A parameter called `python` in a command using `{python}` is refused; without
        `{python}` in the command, such a parameter is fine."""
        kind = worker_kind("subprocess")
        with pytest.raises(InvalidSetting, match="ambiguous") as caught:
            kind.check_parameters(WorkerSettings(command=["{python}", "-V"]), ["python"])
        assert caught.value.field == "command[0]"
        kind.check_parameters(WorkerSettings(command=["run", "{python}"]), ["x"])
        kind.check_parameters(WorkerSettings(command=["run", "{x}"]), ["python", "x"])
