"""Run the standalone service as a real child process (`python -m sigopt_service`), for
crash tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


class ServiceProcess:
    """`python -m sigopt_service --port 0 --db DB` (a SQLite path or a PostgreSQL URL);
    `.url` once it listens; `kill()` is kill -9."""

    def __init__(
        self,
        db: Path | str | None,
        *extra: str,
        command: Sequence[str] = ("-m", "sigopt_service"),
        env: Mapping[str, str] | None = None,
    ) -> None:
        """`db` None: no `--db` (the service reads `ORCHESTRATOR_DB`, from `env`);
        `command`: what follows the interpreter (`("-m", "orchestrator", "serve")` runs
        the command README shows)."""
        self.db = db
        self.extra = extra
        self.command = tuple(command)
        self.env = dict(env or {})
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.log_tail: list[str] = []
        self._drainer: threading.Thread | None = None

    def start(self, timeout_s: float = 30.0) -> str:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                *self.command,
                "--port",
                "0",
                *(() if self.db is None else ("--db", str(self.db))),
                "--log-format",
                "json",
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
        )
        deadline = time.monotonic() + timeout_s
        assert self.proc.stderr is not None
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                raise RuntimeError(f"service exited early with {self.proc.wait()}")
            self._keep(line)
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "service_listening":
                self.url = str(event["url"])
                # Keep draining stderr so a chatty service never blocks on a full pipe.
                self._drainer = threading.Thread(target=self._drain, daemon=True)
                self._drainer.start()
                return self.url
        raise TimeoutError("service did not start listening")

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self._keep(line)

    def _keep(self, line: str) -> None:
        """Every line the service logged, the last 200: what log assertions read."""
        self.log_tail = [*self.log_tail, line][-200:]

    def _drained(self) -> None:
        # After the process ended its stderr closes: wait for the last lines to be kept.
        if self._drainer is not None:
            self._drainer.join(timeout=10)

    def kill(self) -> None:
        """kill -9 of the whole process group: no cleanup code runs."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._drained()

    def terminate(self, timeout_s: float = 10.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout_s)
        self._drained()
        return code

    def __enter__(self) -> ServiceProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
