"""A real Dask cluster for the tests: `dask scheduler` and `dask worker` commands as
separate processes on loopback, each in its own process group, killed as groups at the
end. Workers run without a nanny, so a worker's pid is the process running its tasks
and a kill -9 of it is the loss of that worker.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import psutil
from distributed import Client

from tests.support.processes import is_gone

REPO = Path(__file__).resolve().parents[3]
DASK = Path(sys.executable).with_name("dask")
#: Starting a scheduler and its workers takes seconds on a busy two-core machine.
START_TIMEOUT_S = 90.0

#: A command evaluation: records `<pids>/<suggestion>-<pid>.pid` holding the name of
#: the Dask worker it ran on, sleeps, prints `{"value": x}`; with `{"gpu": 1}` instead
#: the metric says whether it ran on the worker named "gpu" (from that worker's
#: environment, which the command gets).
COMMAND_SCRIPT = """
    import json, os, sys, time
    from pathlib import Path
    pids, sleep_s, x = Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    worker = os.environ.get("WORKER_NAME", "?")
    name = f"{os.environ['SIGOPT_SUGGESTION_ID']}-{os.getpid()}.pid"
    (pids / (name + ".tmp")).write_text(worker)
    (pids / (name + ".tmp")).rename(pids / name)
    time.sleep(sleep_s)
    if len(sys.argv) > 4:
        print(json.dumps({"value": 1.0 if worker == "gpu" else 0.0}))
    else:
        print(json.dumps({"value": x}))
"""


def command(tmp_path: Path, sleep_s: float, *extra: str) -> tuple[list[str], Path]:
    """The argv template of `COMMAND_SCRIPT` and the folder it records its pids in."""
    script = tmp_path / "objective.py"
    script.write_text(textwrap.dedent(COMMAND_SCRIPT))
    pids = tmp_path / "pids"
    pids.mkdir(exist_ok=True)
    return ["{python}", str(script), str(pids), str(sleep_s), "{x}", *extra], pids


def recorded_pids(pids: Path) -> dict[int, str]:
    """pid -> the Dask worker's name, of every command that started."""
    return {
        int(p.name.split("-")[-1].removesuffix(".pid")): p.read_text() for p in pids.glob("*.pid")
    }


async def wait_for_pid(pids: Path, worker: str | None = None) -> int:
    """The pid of the first command that started (on `worker`, if given)."""
    with anyio.fail_after(30):
        while True:
            found = [pid for pid, name in recorded_pids(pids).items() if worker in (None, name)]
            if found:
                return found[0]
            await anyio.sleep(0.02)


def reaper_pids() -> set[int]:
    """The reapers running on this host (`workers.dask._reaper`)."""
    found = set()
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "workers.dask._reaper" in cmdline:
            found.add(process.pid)
    return found


def alive(pids: Iterable[int]) -> list[int]:
    return [pid for pid in pids if not is_gone(pid)]


@dataclass
class DaskCluster:
    """A scheduler and workers started as commands; `stop()` kills every group."""

    folder: Path
    port: int = 0
    scheduler: subprocess.Popen[bytes] | None = None
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def scheduler_file(self) -> Path:
        return self.folder / "scheduler.json"

    @property
    def address(self) -> str:
        return str(json.loads(self.scheduler_file.read_text())["address"])

    def _scheduler_file_written(self) -> bool:
        try:
            return "address" in json.loads(self.scheduler_file.read_text())
        except (FileNotFoundError, ValueError):
            return False

    async def start(self, workers: Mapping[str, Mapping[str, float] | None]) -> str:
        """The scheduler, then `workers` (name -> Dask resources), all registered; the
        scheduler's address."""
        await self.start_scheduler()
        for name, resources in workers.items():
            self.start_worker(name, resources)
        await self.wait_for_workers(len(workers))
        return self.address

    async def start_scheduler(self) -> None:
        self.scheduler_file.unlink(missing_ok=True)
        self.scheduler = self._start(
            "scheduler",
            [
                str(DASK),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-dashboard",
                "--scheduler-file",
                str(self.scheduler_file),
            ],
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        # Until the file is whole: the scheduler creates it, then writes it (read in
        # between, it is empty; seen once in CI).
        while not self._scheduler_file_written():
            if time.monotonic() > deadline or self.scheduler.poll() is not None:
                raise RuntimeError(f"dask scheduler did not start: {self._log('scheduler')}")
            await anyio.sleep(0.05)
        # A restart on the same port gives the same address: what `workers.scheduler` names.
        self.port = int(self.address.rpartition(":")[2])

    def start_worker(self, name: str, resources: Mapping[str, float] | None = None) -> None:
        argv = [
            str(DASK),
            "worker",
            "--scheduler-file",
            str(self.scheduler_file),
            "--host",
            "127.0.0.1",
            "--nthreads",
            "1",
            "--nworkers",
            "1",
            "--no-nanny",
            "--no-dashboard",
            "--name",
            name,
        ]
        if resources:
            argv += ["--resources", " ".join(f"{k}={v}" for k, v in resources.items())]
        self.workers[name] = self._start(name, argv, env={"WORKER_NAME": name})

    async def wait_for_workers(self, count: int) -> None:
        client = Client(self.address, asynchronous=True, set_as_default=False)  # type: ignore[no-untyped-call]
        async with client:
            # A coroutine with an asynchronous client, whatever its annotation says.
            await client.wait_for_workers(count, timeout=START_TIMEOUT_S)  # type: ignore[func-returns-value,misc]

    def _start(
        self, name: str, argv: list[str], env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("ab")
        try:
            return subprocess.Popen(
                argv,
                cwd=REPO,
                env={**os.environ, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        finally:
            log.close()

    def _log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text()[-2000:]

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """kill -9 of the process alone (not its group), as a crash or the OOM killer."""
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        for process in [*self.workers.values(), *([self.scheduler] if self.scheduler else [])]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
