"""The experiment's page after a run: `orchestrator run` prints `Explore your experiment:
URL` when it starts and at its end, and `orchestrator dashboard` serves a finished run's
database read-only until Ctrl-C. Real CLI subprocesses, real SQLite files, real signals."""

from __future__ import annotations

import json
import re
import signal
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.cli._dashboard import Target, resolve
from tests.integration.terminal import SCRIPT, OnTerminal, user_env
from tests.support.dashboard import (
    BUDGET,
    EXPLORE,
    DashboardProcess,
    orchestrator,
    urls,
    write_config,
)
from tests.support.service_process import ServiceProcess

pytestmark = pytest.mark.slow


def get(url: str, method: str = "GET") -> tuple[int, str]:
    request = urllib.request.Request(url, method=method, data=b"{}" if method != "GET" else None)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A finished run on the embedded service, into pipes (no terminal, no --log-format):
    its config and what it printed."""
    config = write_config(tmp_path_factory.mktemp("dashboard"))
    done = orchestrator("run", config)
    assert done.returncode == 0, done.stdout + done.stderr
    return config, done.stdout


def experiment_of(config: Path) -> str:
    state = json.loads((config.parent / "runs/d/state.json").read_text())
    return str(state["experiment_id"])


class TestRunPrintsTheUrl:
    """`Explore your experiment: URL` at the start and at the end, plain, on stdout."""

    def test_embedded_service(self, finished: tuple[Path, str]) -> None:
        """1. At the start: the embedded service's analysis page, before the summary.
        2. At the end: the page `orchestrator dashboard` serves (the embedded service is
           gone), and the command that serves it.
        3. Plain text into a pipe: no escape codes, no line cut."""
        config, out = finished
        eid = experiment_of(config)
        lines = out.splitlines()
        explore = [i for i, line in enumerate(lines) if line.startswith(EXPLORE)]
        assert len(explore) == 2, out
        start, end = (lines[i].removeprefix(EXPLORE) for i in explore)
        assert re.fullmatch(rf"http://127\.0\.0\.1:\d+/experiment/{eid}/analysis", start)
        ended = next(i for i, line in enumerate(lines) if line.startswith("run ended:"))
        assert explore[0] < ended < explore[1]
        assert end == f"http://127.0.0.1:8080/experiment/{eid}/analysis"
        assert f"orchestrator dashboard {config}" in lines[explore[1] + 1]
        assert "\x1b" not in out

    def test_remote_service(self, tmp_path: Path) -> None:
        """With a service at a URL (and JSON logs), both lines name that service's page;
        the logs stay on stderr."""
        config = write_config(tmp_path)
        with ServiceProcess(tmp_path / "remote.db") as service:
            done = orchestrator("run", config, "--api-url", service.url, "--log-format", "json")
        assert done.returncode == 0, done.stdout + done.stderr
        eid = experiment_of(config)
        page = f"{EXPLORE}{service.url}/experiment/{eid}/analysis"
        assert [line for line in done.stdout.splitlines() if line.startswith(EXPLORE)] == [
            page,
            page,
        ]
        assert "orchestrator dashboard" not in done.stdout
        assert EXPLORE not in done.stderr


class TestOnATerminal:
    """As a user at a terminal window sees it: the live panel, and Ctrl-C typed."""

    def wait_for(self, terminal: OnTerminal, text: str, timeout_s: float = 60) -> str:
        deadline = time.monotonic() + timeout_s
        while text not in (out := terminal.output()):
            assert time.monotonic() < deadline, f"no {text!r} in:\n{out}"
            time.sleep(0.05)
        return out

    def test_run_prints_the_page_above_its_panel(self, tmp_path: Path) -> None:
        config = write_config(tmp_path)
        terminal = OnTerminal([str(SCRIPT), "run", str(config)], tmp_path, user_env())
        assert terminal.wait(120) == 0, terminal.output()
        out = terminal.output()
        eid = experiment_of(config)
        assert re.search(rf"{EXPLORE}http://127\.0\.0\.1:\d+/experiment/{eid}/analysis\n", out)
        assert f"{EXPLORE}http://127.0.0.1:8080/experiment/{eid}/analysis" in out

    def test_ctrl_c_stops_the_dashboard(self, finished: tuple[Path, str], tmp_path: Path) -> None:
        """1. `orchestrator dashboard RUN_DIR --port 0` on a terminal serves the page.
        2. Ctrl-C typed at the terminal: it stops, exit 0, no traceback."""
        config, _ = finished
        argv = [str(SCRIPT), "dashboard", str(config.parent / "runs/d"), "--port", "0"]
        terminal = OnTerminal(argv, tmp_path, user_env())
        try:
            self.wait_for(terminal, "Ctrl-C stops it")
            terminal.type_ctrl_c()
            assert terminal.wait(30) == 0
        finally:
            terminal.kill()
        out = terminal.output()
        assert "dashboard stopped" in out and "Traceback" not in out


@pytest.fixture
def dashboards() -> Iterator[list[DashboardProcess]]:
    started: list[DashboardProcess] = []
    yield started
    for process in started:
        process.kill()


class TestDashboard:
    def test_finished_run_folder(
        self, finished: tuple[Path, str], dashboards: list[DashboardProcess]
    ) -> None:
        """1. `dashboard runs/d --port 0` on a finished run: prints the analysis page and
           the experiments page of the run's experiment.
        2. The API answers reads (every observation, failed ones included) and the page.
        3. A suggestion is refused (405, read-only); the database gains nothing.
        4. Ctrl-C (SIGINT): exit 0, `dashboard stopped`."""
        config, _ = finished
        eid = experiment_of(config)
        dashboards.append(process := DashboardProcess(config.parent / "runs/d", "--port", "0"))
        lines = process.until_serving()
        base, shown = urls(lines)
        assert shown == eid
        assert f"All experiments: {base}/experiments" in lines
        status, body = get(f"{base}/v1/experiments/{eid}/observations?limit=100")
        assert status == 200
        observations = json.loads(body)["data"]
        assert len(observations) == BUDGET
        assert sum(o["failed"] for o in observations) == BUDGET // 2
        assert get(f"{base}/experiment/{eid}/analysis")[0] == 200
        status, body = get(f"{base}/v1/experiments/{eid}/suggestions", "POST")
        assert status == 405
        assert "read-only" in json.loads(body)["message"]
        _, body = get(f"{base}/v1/experiments/{eid}/suggestions")
        assert json.loads(body)["count"] == BUDGET
        assert process.stop(signal.SIGINT) == 0
        assert process.rest()[-1] == "dashboard stopped"

    def test_config_and_sigterm(
        self, finished: tuple[Path, str], dashboards: list[DashboardProcess]
    ) -> None:
        """The run's config names the same database and experiment; SIGTERM stops it
        cleanly too."""
        config, _ = finished
        dashboards.append(process := DashboardProcess(config, "--port", "0"))
        base, shown = urls(process.until_serving())
        assert shown == experiment_of(config)
        assert get(f"{base}/v1/experiments/{shown}")[0] == 200
        assert process.stop(signal.SIGTERM) == 0

    def test_export_of_the_finished_run(
        self, finished: tuple[Path, str], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`export --config` takes the run folder's experiment (its embedded service
        started on the database): one CSV row per observation."""
        config, _ = finished
        code = main(["export", "--config", str(config)])
        out = capsys.readouterr().out
        assert code == 0, out
        rows = out.strip("\r\n").split("\r\n")
        assert len(rows) == 1 + BUDGET
        assert sum(",true," in row for row in rows) == BUDGET // 2


class TestDashboardRefuses:
    """What it cannot serve is exit 2 with the reason; nothing is left running."""

    def cli(self, capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str]:
        code = main(["dashboard", *(str(a) for a in argv)])
        return code, capsys.readouterr().out

    def test_remote_service(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A config with a `service.url`: that service's page, exit 0, nothing started."""
        config = write_config(tmp_path, url="https://tuning.example:8443/v1")
        code, out = self.cli(capsys, config, "--experiment-id", "7")
        assert code == 0
        assert f"{EXPLORE}https://tuning.example:8443/experiment/7/analysis" in out
        assert not (tmp_path / "runs").exists()

    def test_missing_run_folder(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        code, out = self.cli(capsys, tmp_path / "runs/none")
        assert code == 2
        assert f"no run folder or config {tmp_path / 'runs/none'}" in out

    def test_folder_without_database(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        code, out = self.cli(capsys, tmp_path)
        assert code == 2
        assert f"no service.db in {tmp_path}" in out
        assert not (tmp_path / "service.db").exists()

    def test_not_a_database(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        (tmp_path / "service.db").write_text("not a database, " * 20)
        code, out = self.cli(capsys, tmp_path, "--port", "0")
        assert code == 2
        assert f"cannot serve {tmp_path / 'service.db'}" in out and "not a database" in out

    def test_database_file_target(self, finished: tuple[Path, str]) -> None:
        """A service database itself (`orchestrator serve --db`'s) is served as it is;
        only `--experiment-id` names an experiment in it."""
        config, _ = finished
        db = config.parent / "runs/d/service.db"
        assert resolve(db, None) == Target(None, db=db)
        assert resolve(db, "1") == Target("1", db=db)

    def test_config_never_run(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        config = write_config(tmp_path)
        code, out = self.cli(capsys, config)
        assert code == 2
        assert f"run `orchestrator run {config}` first" in out

    def test_port_in_use(
        self, finished: tuple[Path, str], capsys: pytest.CaptureFixture[str]
    ) -> None:
        config, _ = finished
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            code, out = self.cli(capsys, config, "--port", str(port))
        assert code == 2
        assert f"port {port} is in use" in out and "--port 0" in out

    def test_unknown_experiment(
        self, finished: tuple[Path, str], capsys: pytest.CaptureFixture[str]
    ) -> None:
        config, _ = finished
        code, out = self.cli(capsys, config, "--port", "0", "--experiment-id", "999")
        assert code == 2
        assert "no experiment 999 in" in out

    def test_beyond_loopback_without_token(
        self,
        finished: tuple[Path, str],
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.delenv("SIGOPT_API_TOKEN", raising=False)
        config, _ = finished
        code, out = self.cli(capsys, config, "--host", "0.0.0.0", "--port", "0")
        assert code == 2
        assert "needs an API token" in out and "SIGOPT_API_TOKEN" in out
