"""`orchestrator init`: what it writes, what it refuses, that each kind's files run as
written with the standard library alone, and that a wheel install ships the templates."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from orchestrator.cli import main
from orchestrator.templates import CONFIG_NAME, KINDS, TEMPLATES, template_text
from tests.integration.terminal import SCRIPT, run_installed, user_env

REPO = Path(__file__).resolve().parents[2]
OBJECTIVE = {"subprocess": "train.py", "async": "objective.py", "process": "objective.py"}


def init(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["init", *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


class TestInit:
    @pytest.mark.parametrize("kind", KINDS)
    def test_writes_the_config_and_its_objective_and_says_what_to_run(
        self,
        kind: str,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """In the current folder: tune.yaml naming this kind, the objective it names, and
        the next command, each written file on its own line."""
        monkeypatch.chdir(tmp_path)
        code, out = init(capsys, "--kind", kind)
        assert code == 0, out
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([CONFIG_NAME, OBJECTIVE[kind]])
        config = yaml.safe_load((tmp_path / CONFIG_NAME).read_text())
        assert config["workers"]["kind"] == kind
        for name in (CONFIG_NAME, OBJECTIVE[kind]):
            assert (tmp_path / name).read_text() == template_text(kind, name)
            assert f"wrote {name}: " in out
        assert "next: orchestrator run tune.yaml" in out

    def test_subprocess_is_the_default_and_a_named_folder_is_created(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`init DIR` makes DIR (and its parents) and the next command goes there first."""
        monkeypatch.chdir(tmp_path)
        code, out = init(capsys, "jobs/first")
        assert code == 0, out
        assert sorted(p.name for p in (tmp_path / "jobs/first").iterdir()) == [
            "train.py",
            "tune.yaml",
        ]
        assert "next: cd jobs/first && orchestrator run tune.yaml" in out

    def test_refuses_to_overwrite_naming_the_files_and_writes_nothing(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An existing tune.yaml: exit 2, the message names it (and not the absent
        train.py), and neither file is written; --force then replaces it."""
        monkeypatch.chdir(tmp_path)
        (tmp_path / "tune.yaml").write_text("mine\n")
        code, out = init(capsys)
        assert code == 2
        assert "would overwrite tune.yaml;" in out and "train.py" not in out
        assert "--force" in out
        assert (tmp_path / "tune.yaml").read_text() == "mine\n"
        assert not (tmp_path / "train.py").exists()

        code, out = init(capsys, "--force")
        assert code == 0, out
        assert (tmp_path / "tune.yaml").read_text() == template_text("subprocess", "tune.yaml")
        assert (tmp_path / "train.py").exists()

    def test_force_replaces_a_symlink_and_never_writes_through_it(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A tune.yaml that links outside the folder (or nowhere): --force replaces the link
        with a file, and the file it pointed to is untouched."""
        monkeypatch.chdir(tmp_path)
        outside = tmp_path / "outside.txt"
        outside.write_text("keep me\n")
        (tmp_path / "job").mkdir()
        (tmp_path / "job" / "tune.yaml").symlink_to(outside)
        (tmp_path / "job" / "train.py").symlink_to(tmp_path / "nowhere.py")
        code, out = init(capsys, "job", "--force")
        assert code == 0, out
        assert outside.read_text() == "keep me\n"
        assert not (tmp_path / "nowhere.py").exists()
        written = tmp_path / "job" / "tune.yaml"
        assert not written.is_symlink()
        assert written.read_text() == template_text("subprocess", "tune.yaml")

    def test_a_file_where_the_folder_should_be_is_refused(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`init DIR` with DIR a file: exit 2 naming it, even with --force."""
        monkeypatch.chdir(tmp_path)
        (tmp_path / "job").write_text("")
        code, out = init(capsys, "job", "--force")
        assert code == 2
        assert "job exists and is not a folder" in out

    def test_every_template_is_shipped_and_every_kind_has_a_config(self) -> None:
        """Each kind writes tune.yaml plus one objective, and every template file the
        mapping names exists in the package (what the wheel test below installs)."""
        for kind, files in TEMPLATES.items():
            assert sorted(files) == sorted([CONFIG_NAME, OBJECTIVE[kind]])
            for name in files:
                assert template_text(kind, name).strip()


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_runs_as_written(kind: str, tmp_path: Path) -> None:
    """1. `orchestrator init --kind K` in an empty folder, by the installed script.
    2. `orchestrator run tune.yaml` there, with no venv active and no PYTHONPATH.
    3. It reaches the budget with no failure: the objective needs nothing outside the
       standard library, and is found from the config's folder."""
    assert SCRIPT.exists(), f"the console script {SCRIPT} is not installed (pip install -e .)"
    for argv in (["init", "--kind", kind], ["run", "tune.yaml"]):
        done = run_installed(argv, tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
    assert "run ended: budget_reached" in done.stdout
    assert "30/30 observations (30 completed, 0 failed this run)" in done.stdout


@pytest.mark.slow
def test_a_wheel_ships_the_templates_and_init_runs_from_it(tmp_path: Path) -> None:
    """1. Build a wheel from a copy of the sources (the repo itself stays untouched).
    2. It holds every template `init` copies.
    3. Unpacked first on `sys.path`, its `orchestrator init --kind K` writes them."""
    source = tmp_path / "source"
    for name in ("orchestrator", "workers", "sigopt_service"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            ".",
        ],
        cwd=source,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(site := tmp_path / "site")
    for files in TEMPLATES.values():
        for template in files.values():
            assert f"orchestrator/templates/{template}" in names

    for kind in KINDS:
        folder = tmp_path / kind
        folder.mkdir()
        code = (
            "import sys, orchestrator; from orchestrator.cli import main;"
            f"assert orchestrator.__file__.startswith({str(site)!r}), orchestrator.__file__;"
            f"sys.exit(main(['init', '--kind', {kind!r}]))"
        )
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=folder,
            env={**user_env(), "PYTHONPATH": str(site)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        for name in TEMPLATES[kind]:
            assert (folder / name).read_text() == template_text(kind, name)
