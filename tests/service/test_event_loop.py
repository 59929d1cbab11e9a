"""The event loop our commands run on: uvloop where installed, `SIGOPT_EVENT_LOOP` to choose,
a clear error for a choice that cannot be had. The service and orchestrator processes are
real; the loop they run is read from the service's start-up log."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.cli import EXIT_CONFIG
from orchestrator.cli import main as orchestrator_main
from service.event_loop import ENV_VAR, EventLoopChoiceError, backend_options, uses_uvloop
from tests.support.service_process import ServiceProcess

HAS_UVLOOP = importlib.util.find_spec("uvloop") is not None


def started_loop(service: ServiceProcess) -> str:
    for line in service.log_tail:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "service_started":
            return str(event["event_loop"])
    raise AssertionError(f"no service_started event in {service.log_tail}")


def test_uvloop_is_installed_where_it_is_a_dependency() -> None:
    """pyproject asks for uvloop on CPython outside Windows: a clean install has it."""
    if sys.platform != "win32" and sys.implementation.name == "cpython":
        assert HAS_UVLOOP


@pytest.mark.parametrize("value", [None, "", "auto", " Auto "])
def test_default_is_uvloop_when_installed(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv(ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(ENV_VAR, value)
    assert backend_options() == {"use_uvloop": HAS_UVLOOP}


def test_asyncio_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "asyncio")
    assert uses_uvloop() is False


def test_an_unknown_choice_names_the_variable_and_the_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV_VAR, "trio")
    with pytest.raises(EventLoopChoiceError, match=f"{ENV_VAR}='trio'.*'asyncio'"):
        uses_uvloop()


@pytest.mark.parametrize(
    ("choice", "expected"),
    [(None, "uvloop" if HAS_UVLOOP else "asyncio"), ("asyncio", "asyncio")],
)
def test_service_process_runs_the_chosen_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, choice: str | None, expected: str
) -> None:
    if choice is None:
        monkeypatch.delenv(ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(ENV_VAR, choice)
    with ServiceProcess(tmp_path / "s.db") as service:
        assert started_loop(service) == expected


def test_service_refuses_an_unknown_choice(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "service", "--port", "0", "--db", str(tmp_path / "s.db")],
        env={**os.environ, ENV_VAR: "tokio"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert f"{ENV_VAR}='tokio'" in done.stderr
    assert not (tmp_path / "s.db").exists()  # refused before anything was opened


def test_orchestrator_refuses_an_unknown_choice(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENV_VAR, "tokio")
    code = orchestrator_main(["status", "1", "--api-url", "http://127.0.0.1:9"])
    assert code == EXIT_CONFIG
    assert f"{ENV_VAR}='tokio'" in capsys.readouterr().out
