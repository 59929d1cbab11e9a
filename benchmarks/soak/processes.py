"""The soak's processes: the service, coordinators, their configs, and the API view."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import yaml

from benchmarks.soak.spec import OBJECTIVES_SCRIPT, REPO, SoakSpec
from orchestrator.client import RetryPolicy, ServiceClient
from orchestrator.errors import OrchestratorError
from tests.support.service_process import ServiceProcess


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_service(
    db: Path | str,
    port: int,
    seed: int,
    *,
    attempts: int = 40,
    env: Mapping[str, str] | None = None,
) -> ServiceProcess:
    """The service on exactly `port` (it must come back where the proxies point),
    retrying while the port is still held (a socket of the killed process closing) or
    the database is not ready (a PostgreSQL server restarting). `env`: more variables,
    such as one naming the soak's folder for the leftover check."""
    last: Exception | None = None
    for _ in range(attempts):
        service = ServiceProcess(
            db,
            "--port",
            str(port),
            "--seed",
            str(seed),
            "--allow-duplicate-observations",
            env=env,
        )
        try:
            service.start()
            return service
        except RuntimeError as exc:  # exited early: the port is not free yet
            last = exc
            time.sleep(0.25)
    raise RuntimeError(f"service could not bind 127.0.0.1:{port}") from last


@dataclass
class CoordinatorProcess:
    """`python -m orchestrator run CONFIG` as a user runs it; restartable with the same
    command (its run folder holds the resume state)."""

    index: int
    config: Path
    experiment_id: str
    env: dict[str, str]
    logs: Path
    proc: subprocess.Popen[bytes] | None = None
    launches: int = 0
    pids: list[int] = field(default_factory=list)
    exit_codes: list[int] = field(default_factory=list)

    def start(self) -> None:
        self.launches += 1
        log = self.logs / f"coordinator-{self.index}-{self.launches}.log"
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "orchestrator",
                    "run",
                    str(self.config),
                    "--experiment-id",
                    self.experiment_id,
                    "--log-format",
                    "json",
                ],
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        self.pids.append(self.proc.pid)

    def kill(self) -> None:
        """kill -9 of the coordinator's process group; its evaluations, each in its own
        session, are orphaned as after a real crash."""
        assert self.proc is not None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.exit_codes.append(self.proc.wait(timeout=30))

    def poll(self) -> int | None:
        assert self.proc is not None
        return self.proc.poll()

    def log_tail(self, chars: int = 3000) -> str:
        log = self.logs / f"coordinator-{self.index}-{self.launches}.log"
        return log.read_text(errors="replace")[-chars:] if log.exists() else ""


def write_config(
    path: Path, *, kind: str, spec: SoakSpec, url: str, run_dir: Path, name: str
) -> None:
    workers: dict[str, Any] = {"kind": kind, "count": spec.workers, "timeout": spec.timeout_s}
    if kind == "subprocess":
        # -S: no site import; the objective needs only the stdlib and starts faster.
        workers["command"] = [sys.executable, "-S", str(OBJECTIVES_SCRIPT), "{x}", "{y}"]
        workers["max_retries"] = 2
    else:
        workers["function"] = "benchmarks.soak_objectives:evaluate"
    config = {
        "service": {"url": url},
        "workers": workers,
        # A service restart takes ~1-2 s on top of ~20% faults: retries must outlast it.
        "retry": {
            "max_attempts": 60,
            "max_total_s": 180,
            "initial_backoff_s": 0.05,
            "max_backoff_s": 2,
        },
        # 11% of evaluations fail on purpose: the breaker must not take that for a disaster.
        "failures": {"max_consecutive": 40, "max_fraction": 0.5, "min_finished": 50},
        "timeouts": {"connect_s": 5, "request_s": 15, "drain_s": 30, "kill_grace_s": 1},
        "logging": {"format": "json", "level": "info"},
        "run": {"name": name, "dir": str(run_dir)},
    }
    path.write_text(yaml.safe_dump(config))


def soak_coordinator(
    folder: Path,
    index: int,
    *,
    kind: str,
    spec: SoakSpec,
    url: str,
    name: str,
    experiment_id: str,
    logs: Path,
) -> CoordinatorProcess:
    """Coordinator `index` of a soak: its config written (`url`: one or several, comma
    separated), the objectives' log of finished evaluations named in its environment."""
    config = folder / f"coordinator-{index}.yaml"
    write_config(config, kind=kind, spec=spec, url=url, run_dir=folder / "runs", name=name)
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "SOAK_LOG": str(folder / f"finished-{index}.jsonl"),
    }
    return CoordinatorProcess(index, config, experiment_id, env, logs)


def processes_naming(marker: str) -> list[psutil.Process]:
    """Live processes (not zombies, not this one) whose command line or environment
    names `marker`. The environment catches what the command line does not: evaluation
    processes run a script outside the folder but inherit `SOAK_LOG`, even re-parented."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if proc.pid == os.getpid() or proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            named = any(marker in part for part in proc.info["cmdline"] or ())
            if named or any(marker in value for value in proc.environ().values()):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def kill_all(processes: Sequence[psutil.Process]) -> None:
    for proc in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()


def experiment_body(budget: int, workers: int) -> dict[str, Any]:
    return {
        "name": "chaos soak",
        "type": "random",
        "parameters": [
            {"name": "x", "type": "double", "bounds": {"min": 0.0, "max": 1.0}},
            {"name": "y", "type": "double", "bounds": {"min": 0.0, "max": 1.0}},
        ],
        "metrics": [{"name": "loss", "objective": "minimize"}],
        "observation_budget": budget,
        "parallel_bandwidth": workers,
    }


def direct_client(url: str) -> ServiceClient:
    """The soak's own view of the service: no proxy, few quick retries."""
    policy = RetryPolicy(max_attempts=3, max_total_s=5, initial_backoff_s=0.05, max_backoff_s=1)
    return ServiceClient(url, retry=policy, connect_timeout_s=2, request_timeout_s=10)


async def observed_count(url: str, experiment_id: str) -> int | None:
    try:
        async with direct_client(url) as client:
            experiment = await client.get_experiment(experiment_id)
    except OrchestratorError:
        return None  # the service is down: that is the point
    return experiment.progress.observation_count if experiment.progress else 0
