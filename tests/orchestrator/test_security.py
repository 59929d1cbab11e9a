"""Security of a run through the whole stack (config -> embedded or standalone service ->
coordinator -> subprocess worker): hostile parameter values stay plain arguments, the
run folder is private, and the API token never reaches the disk or the logs."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from structlog.testing import capture_logs

from orchestrator.config import parse_config
from orchestrator.journal import ReportJournal
from orchestrator.runner import run_job
from sigopt_service.models import MetricEvaluation
from tests.support.service_process import ServiceProcess

ECHO_ARGV = Path(__file__).parent / "scripts" / "echo_argv.py"

#: Categorical values a shell would act on. Each must arrive as one inert argument. The
#: test neuters them anyway: HOME is a scratch folder and `reboot` on PATH is a fake that
#: only leaves a canary file, so a regression is detected, not suffered.
HOSTILE = [
    "; rm -rf ~",
    "$(reboot)",
    "`reboot`",
    "| reboot",
    "&& reboot #",
    "\nreboot",
    "a b\tc  d",
    "--help",
    "-rf",
    "*",
    "' \" \\ $HOME ${PATH}",
    "{x} {{kind}} %s",
    "ünï © 😀",
]


def _config(tmp_path: Path, *, shell: bool, **service: Any) -> dict[str, Any]:
    home, bin_dir = tmp_path / "home", tmp_path / "bin"
    for folder in (home, bin_dir, tmp_path / "cwd"):
        folder.mkdir(exist_ok=True)
    (home / "precious.txt").write_text("still here")
    fake = bin_dir / "reboot"
    fake.write_text(f"#!/bin/sh\ntouch {tmp_path / 'REBOOTED'}\n")
    fake.chmod(0o755)
    script = f"{sys.executable} {ECHO_ARGV}"
    command = (
        [f"{script} {{kind}} pre-{{kind}}-post"]
        if shell
        else [sys.executable, str(ECHO_ARGV), "{kind}", "pre-{kind}-post"]
    )
    return {
        "service": service,
        "experiment": {
            "name": "hostile values",
            "type": "grid",
            "parameters": [{"name": "kind", "type": "categorical", "categorical_values": HOSTILE}],
            "observation_budget": len(HOSTILE),
        },
        "workers": {
            "kind": "subprocess",
            "count": 4,
            "timeout": 60,
            "shell": shell,
            "command": command,
            "cwd": str(tmp_path / "cwd"),
            "env": {"HOME": str(home), "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        },
        "run": {"dir": str(tmp_path / "runs"), "name": "sec"},
    }


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in root.rglob("*")}


class TestHostileValuesStayArguments:
    """`; rm -rf ~` or `$(reboot)` reaches the command as one plain argument, through the
    service, the coordinator and the worker, with and without `shell: true`."""

    @pytest.mark.parametrize("shell", [False, True], ids=["argv", "shell"])
    async def test_whole_stack(self, tmp_path: Path, shell: bool) -> None:
        config = parse_config(_config(tmp_path, shell=shell), source=tmp_path / "sec.yaml")
        with anyio.fail_after(60):
            result = await run_job(config)
        assert result.summary.stats.completed == len(HOSTILE)
        seen = {}
        for argv_file in (tmp_path / "runs" / "sec" / "evaluations").glob("*/argv.json"):
            argv = json.loads(argv_file.read_text())
            assert len(argv) == 2 and argv[1] == f"pre-{argv[0]}-post", argv
            seen[argv[0]] = argv
        assert sorted(seen) == sorted(HOSTILE)
        assert (tmp_path / "home" / "precious.txt").read_text() == "still here"
        assert not (tmp_path / "REBOOTED").exists()
        assert sorted(p.name for p in (tmp_path / "cwd").iterdir()) == []


class TestRunFolderIsPrivate:
    """What the coordinator creates is not writable by other users; the run folder and
    the files holding state are the owner's alone."""

    @pytest.mark.parametrize(
        "umask",
        [
            0o022,
            0o002,
        ],
        ids=["umask022", "umask002"],
    )
    async def test_modes_after_a_run(self, tmp_path: Path, umask: int) -> None:
        config = parse_config(_config(tmp_path, shell=False), source=tmp_path / "sec.yaml")
        old = os.umask(umask)
        try:
            with anyio.fail_after(60):
                await run_job(config)
        finally:
            os.umask(old)
        run_dir = tmp_path / "runs" / "sec"
        assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
        modes = _modes(run_dir)
        assert {"state.json", "service.db", "evaluations"} <= set(modes)
        assert any(name.endswith("stdout.log") for name in modes)
        for private in ("state.json", "service.db"):
            assert modes[private] == 0o600, (private, oct(modes[private]))
        # argv.json is written by the user's command, with whatever mode it chooses.
        writable = {
            name: oct(m)
            for name, m in modes.items()
            if m & 0o022 and not name.endswith("argv.json")
        }
        assert writable == {}

    async def test_journal_is_private_whatever_the_umask(self, tmp_path: Path) -> None:
        old = os.umask(0)
        try:
            journal = ReportJournal(tmp_path / "run" / "reports.jsonl")
            await journal.record("7", [MetricEvaluation(name="v", value=1.0)], False, {})
            journal.close()
        finally:
            os.umask(old)
        assert stat.S_IMODE((tmp_path / "run" / "reports.jsonl").stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "run").stat().st_mode) == 0o700


TOKEN = "tok-9f8e7d6c5b4a-SECRET"


def _secret_forms() -> list[bytes]:
    return [TOKEN.encode(), base64.b64encode(f"{TOKEN}:".encode())]


def _files_holding_secret(root: Path) -> list[str]:
    return [
        str(p)
        for p in root.rglob("*")
        if p.is_file() and any(form in p.read_bytes() for form in _secret_forms())
    ]


class TestTokenNeverWritten:
    """The token comes from the environment only and is never written: not to the run
    folder, the config, the logs, the service's database or its log."""

    @pytest.mark.slow
    def test_cli_run_against_a_token_protected_service(self, tmp_path: Path) -> None:
        """1. A standalone service that requires TOKEN (given through its environment).
        2. `orchestrator run` with SIGOPT_API_TOKEN=TOKEN: the run completes, so the token
           was sent.
        3. Nothing on disk or in any log holds the token (plain or as Basic auth)."""
        env = {**os.environ, "SIGOPT_API_TOKEN": TOKEN, "SERVICE_TOKEN": TOKEN}
        os.environ["SERVICE_TOKEN"] = TOKEN
        try:
            service = ServiceProcess(
                tmp_path / "remote" / "service.db", "--token-env", "SERVICE_TOKEN"
            )
            with service:
                raw = _config(tmp_path, shell=False, url=service.url)
                config_file = tmp_path / "sec.yaml"
                config_file.write_text(yaml.safe_dump(raw))
                done = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "orchestrator",
                        "run",
                        str(config_file),
                        "--log-format",
                        "json",
                        "--log-level",
                        "debug",
                    ],
                    env=env,
                    capture_output=True,
                    timeout=120,
                    check=False,
                )
                wrong = subprocess.run(
                    [sys.executable, "-m", "orchestrator", "status", "1", "--api-url", service.url],
                    env={**env, "SIGOPT_API_TOKEN": "not-" + TOKEN},
                    capture_output=True,
                    timeout=60,
                    check=False,
                )
            assert done.returncode == 0, done.stderr.decode()[-3000:]
            assert wrong.returncode != 0
        finally:
            del os.environ["SERVICE_TOKEN"]
        outputs = [done.stdout, done.stderr, wrong.stdout, wrong.stderr]
        outputs.append("".join(service.log_tail).encode())
        assert b"run_finished" in done.stderr, "the run logged nothing"
        for output in outputs:
            assert not any(form in output for form in _secret_forms())
        assert _files_holding_secret(tmp_path) == []

    async def test_in_process_run_logs(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The same through `run_job` in this process, with every log event captured."""
        monkeypatch.setenv("SERVICE_TOKEN", TOKEN)
        monkeypatch.setenv("SIGOPT_API_TOKEN", TOKEN)
        with ServiceProcess(
            tmp_path / "remote" / "service.db", "--token-env", "SERVICE_TOKEN"
        ) as service:
            config = parse_config(
                _config(tmp_path, shell=False, url=service.url), source=tmp_path / "sec.yaml"
            )
            with capture_logs() as logs, anyio.fail_after(60):
                result = await run_job(config)
        assert result.summary.stats.completed == len(HOSTILE)
        assert logs, "nothing was logged"
        dumped = json.dumps(logs, default=repr).encode()
        assert not any(form in dumped for form in _secret_forms())
        assert _files_holding_secret(tmp_path) == []
