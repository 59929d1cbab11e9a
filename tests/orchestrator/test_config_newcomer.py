"""What a newcomer writes in a config, read as they meant it: numbers as people write them,
an objective module beside the config, a service URL as the API prints it; and what they
get wrong reported before anything is created (a misspelled placeholder, key or URL)."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import anyio
import pytest

from orchestrator.cli import main
from orchestrator.client import ServiceClient
from orchestrator.config import load_config
from orchestrator.errors import ConfigError
from orchestrator.factory import build_worker
from tests.orchestrator.config_cases import EXPERIMENT, VALID, workers_with
from workers.base import Completed, Evaluation

README_PARAMETER = (
    "experiment:\n  name: e\n  parameters:\n"
    "    - {name: lr, type: double, bounds: {min: 1e-5, max: 1e-1}, transformation: log}\n"
    "  observation_budget: 20\n"
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


class TestNumbers:
    """Numbers written as people write them are numbers (YAML 1.2), wherever the config
    expects one; ints stay ints."""

    def test_readme_bounds(self, tmp_path: Path) -> None:
        """`bounds: {min: 1e-5, max: 1e-1}` loads as two floats and passes the service's
        own checks of the definition."""
        config = load_config(
            write(tmp_path / "c.yaml", README_PARAMETER + VALID[VALID.index("workers:") :])
        )
        assert config.experiment.parameters is not None
        bounds = config.experiment.parameters[0]["bounds"]
        assert bounds == {"min": 1e-5, "max": 0.1}
        assert all(type(v) is float for v in bounds.values())

    @pytest.mark.parametrize(
        ("text", "value"),
        [("1E3", 1000.0), (".5", 0.5), ("+1e3", 1000.0), ("1e-1", 0.1), ("12", 12)],
    )
    def test_timeout(self, tmp_path: Path, text: str, value: float) -> None:
        """A float setting takes each spelling."""
        config = load_config(write(tmp_path / "c.yaml", VALID + f"  timeout: {text}\n"))
        assert config.workers.timeout == value

    def test_ints_stay_ints(self, tmp_path: Path) -> None:
        """`count: 4` is the int 4, `observation_budget: 20` the int 20."""
        config = load_config(write(tmp_path / "c.yaml", VALID))
        assert type(config.workers.count) is int and config.workers.count == 4
        assert type(config.experiment.observation_budget) is int

    def test_yaml_1_1_only_numbers_are_text(self, tmp_path: Path) -> None:
        """YAML 1.2 has no `1_000`, base-60 `1:30` or bare-zero octal: the first two are
        text, `017` is seventeen (metadata keeps what the YAML reader made of them)."""
        extra = "  metadata: {a: 1_000, b: '1:30', c: 1:30, d: 017, e: 0o17, f: 0x1F}\n"
        text = EXPERIMENT.replace("observation_budget: 20\n", "observation_budget: 20\n" + extra)
        config = load_config(write(tmp_path / "c.yaml", text + VALID[VALID.index("workers:") :]))
        assert config.experiment.metadata == {
            "a": "1_000",
            "b": "1:30",
            "c": "1:30",
            "d": 17,
            "e": 15,
            "f": 31,
        }


OBJECTIVE = textwrap.dedent(
    """
    def evaluate(assignments):
        return assignments["x1"] + assignments["x2"]
    """
)


class TestObjectiveBesideTheConfig:
    """`function: myobj:evaluate` imports the `myobj.py` beside the config, or in
    `workers.cwd`, from any working directory; a failed import says where it looked."""

    @pytest.fixture
    def module(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
        name = f"myobj_{os.getpid()}_{tmp_path.name}".replace("-", "_")
        (tmp_path / "elsewhere").mkdir()
        monkeypatch.chdir(tmp_path / "elsewhere")
        monkeypatch.setattr(sys, "path", list(sys.path))
        monkeypatch.delitem(sys.modules, name, raising=False)
        return name

    def config_text(self, module: str, extra: str = "") -> str:
        return workers_with(f"  kind: async\n  count: 1\n  function: {module}:evaluate\n{extra}")

    async def test_beside_the_config(self, tmp_path: Path, module: str) -> None:
        """The config's folder is on the import path: the config loads and the worker built
        from it evaluates the module's function."""
        write(tmp_path / "job" / f"{module}.py", OBJECTIVE)
        config = load_config(write(tmp_path / "job" / "config.yaml", self.config_text(module)))
        worker = build_worker(config)
        with anyio.fail_after(10):
            outcome = await worker.evaluate(Evaluation(id="1", assignments={"x1": 1, "x2": 2}))
        await worker.aclose()
        assert isinstance(outcome, Completed) and outcome.values[0].value == 3

    def test_in_workers_cwd_first(self, tmp_path: Path, module: str) -> None:
        """`workers.cwd` comes first, then the config's folder, then the working directory."""
        write(tmp_path / "code" / f"{module}.py", OBJECTIVE)
        path = write(
            tmp_path / "job" / "config.yaml",
            self.config_text(module, f"  cwd: {tmp_path / 'code'}\n"),
        )
        config = load_config(path)
        assert config.worker_settings().import_path == (tmp_path / "code", tmp_path / "job")

    def test_not_found_says_where_it_looked(self, tmp_path: Path, module: str) -> None:
        """A module in none of the folders: a config error naming them, in order."""
        path = write(tmp_path / "job" / "config.yaml", self.config_text(module))
        with pytest.raises(ConfigError) as caught:
            load_config(path)
        assert caught.value.key == "workers.function"
        assert f"looked in {tmp_path / 'job'}, {tmp_path / 'elsewhere'}" in caught.value.message


class TestServiceUrl:
    """`service.url` / `--api-url` may end in `/` or `/v1`: the same service, not a 404."""

    @pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/", "//"])
    def test_config_normalises(self, tmp_path: Path, suffix: str) -> None:
        """The config holds the base URL the client appends `/v1` to."""
        path = write(tmp_path / "c.yaml", VALID + f"service:\n  url: http://h:8080{suffix}\n")
        assert load_config(path).service.url == "http://h:8080"

    def test_api_url_flag_normalised(self, tmp_path: Path) -> None:
        """The flag's value goes through the same check."""
        path = write(tmp_path / "c.yaml", VALID)
        assert load_config(path, api_url="https://h/api/v1/").service.url == "https://h/api"

    @pytest.mark.parametrize("suffix", ["/", "/v1", "/v1/"])
    async def test_client_reaches_the_service(self, service_url: str, suffix: str) -> None:
        """A real client given the URL as the API prints it creates and reads back an
        experiment on the real service."""
        body = {
            "name": "url",
            "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
            "observation_budget": 2,
        }
        async with ServiceClient(service_url + suffix) as client:
            assert client.base_url == service_url
            created = await client.create_experiment(body)
            assert (await client.get_experiment(created.id)).name == "url"


class TestMisspelledPlaceholder:
    """`{dept}` for parameter `depth` is a config error through the CLI: exit 2, nothing
    created (no experiment, no run folder)."""

    def test_in_the_definition(
        self, tmp_path: Path, threaded_service_url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The definition in the file names the parameters: refused at load."""
        text = EXPERIMENT.replace("name: x2", "name: depth") + (
            "workers:\n  kind: subprocess\n  count: 2\n  command: [echo, '{dept}']\n"
            f"service:\n  url: {threaded_service_url}\nrun:\n  dir: {tmp_path / 'runs'}\n"
        )
        assert main(["run", str(write(tmp_path / "c.yaml", text))]) == 2
        out = " ".join(capsys.readouterr().out.split())
        assert "workers.command[1]: command placeholder {dept} names no parameter" in out
        assert "did you mean `depth`" in out
        assert not (tmp_path / "runs").exists()
        assert anyio.run(self.experiment_count, threaded_service_url) == 0

    def test_with_an_existing_experiment(
        self, tmp_path: Path, threaded_service_url: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`experiment.id`: the names come from the service; refused before the run
        starts, so the experiment gets no suggestion."""
        eid = anyio.run(self.create, threaded_service_url)
        text = (
            f"experiment:\n  id: {eid}\n"
            "workers:\n  kind: subprocess\n  count: 2\n  command: [echo, '{dept}']\n"
            f"service:\n  url: {threaded_service_url}\nrun:\n  dir: {tmp_path / 'runs'}\n"
        )
        assert main(["run", str(write(tmp_path / "c.yaml", text))]) == 2
        out = " ".join(capsys.readouterr().out.split())
        assert "placeholder {dept} names no parameter (did you mean `depth`?)" in out
        assert anyio.run(self.suggestion_count, threaded_service_url, eid) == 0

    @staticmethod
    async def create(url: str) -> str:
        body = {
            "name": "by id",
            "parameters": [{"name": "depth", "type": "int", "bounds": {"min": 1, "max": 8}}],
            "observation_budget": 4,
        }
        async with ServiceClient(url) as client:
            return (await client.create_experiment(body)).id

    @staticmethod
    async def experiment_count(url: str) -> int:
        async with ServiceClient(url) as client:
            response = await client._call("GET", "/experiments")
        return len(response.body["data"])

    @staticmethod
    async def suggestion_count(url: str, eid: str) -> int:
        async with ServiceClient(url) as client:
            response = await client._call("GET", f"/experiments/{eid}/suggestions")
        return len(response.body["data"])
