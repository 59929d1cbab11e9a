"""The query commands read `--config` off the event loop: with `workers.gpus: auto` that
may run `nvidia-smi`, for up to 10 s, and the loop must keep serving meanwhile.

The fake `nvidia-smi` here answers only once a task on the command's event loop has
told it to (a file it waits for): if reading the config held the loop, no task could,
and it would give up and list no GPU."""

from __future__ import annotations

import argparse
import io
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest
from rich.console import Console

from orchestrator.cli import build_parser
from orchestrator.cli._export import export
from orchestrator.cli._observations import observations
from orchestrator.cli._query import query
from orchestrator.client import ServiceClient
from tests.orchestrator.config_cases import workers_with
from tests.orchestrator.coordinator_helpers import new_experiment

Command = Callable[[argparse.Namespace, Console], Awaitable[int]]

#: Waits (up to 5 s) for `go` in `$FAKE_SMI_DIR`, then lists one GPU and says it saw it.
FAKE_NVIDIA_SMI = """#!/bin/sh
touch "$FAKE_SMI_DIR/started"
i=0
while [ $i -lt 100 ]; do
    if [ -f "$FAKE_SMI_DIR/go" ]; then
        touch "$FAKE_SMI_DIR/saw-go"
        echo 'GPU 0: Fake (UUID: GPU-fake)'
        exit 0
    fi
    sleep 0.05
    i=$((i + 1))
done
exit 1
"""


@pytest.fixture
def fake_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder the fake `nvidia-smi` (first on PATH) talks through."""
    folder = tmp_path / "smi"
    (folder / "bin").mkdir(parents=True)
    smi = folder / "bin" / "nvidia-smi"
    smi.write_text(FAKE_NVIDIA_SMI)
    smi.chmod(0o755)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("PATH", f"{smi.parent}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_SMI_DIR", str(folder))
    return folder


@pytest.mark.parametrize(
    ("argv", "command"),
    [(["observations"], observations), (["status"], query), (["export"], export)],
    ids=["observations", "status", "export"],
)
async def test_gpus_auto_does_not_hold_the_loop(
    argv: list[str],
    command: Command,
    client: ServiceClient,
    service_url: str,
    fake_smi: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    eid = await new_experiment(client, 3)
    config = tmp_path / "c.yaml"
    config.write_text(
        workers_with("  kind: subprocess\n  command: [echo, '{x1}']\n  count: 1\n  gpus: auto\n")
        + f"service:\n  url: {service_url}\n"
    )
    args = build_parser().parse_args([*argv, eid, "--config", str(config)])
    console = Console(file=io.StringIO(), width=120)

    async def answer_the_fake() -> None:
        # Polled: the fake is another process and sets no event here.
        while not (fake_smi / "started").exists():  # noqa: ASYNC110
            await anyio.sleep(0.01)
        (fake_smi / "go").touch()

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(answer_the_fake)
            code = await command(args, console)
    capsys.readouterr()
    assert code == 0
    assert (fake_smi / "saw-go").exists(), "the loop was held while nvidia-smi ran"
