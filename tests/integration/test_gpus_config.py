"""`configs/gpus.yaml` as a user runs it: `orchestrator run` shares the GPUs and cores out
(the runner builds the pool from the config), and each observation records what it held."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio
import pytest
import yaml

from orchestrator.config import load_config
from orchestrator.runner import service_client

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]

# Reports what the command was given: its GPUs (env and the `{gpus}` argument) and cores.
REPORT = """\
import json, os, sys
gpus = os.environ["CUDA_VISIBLE_DEVICES"]
assert sys.argv[1] == gpus == os.environ["SIGOPT_GPUS"], (sys.argv, gpus)
assert os.environ["OMP_NUM_THREADS"] == "1"
cores = sorted(os.sched_getaffinity(0))
print(json.dumps({"accuracy": len(gpus.split(",")) + len(cores)}))
"""


def test_gpus_config_shares_gpus_and_cores_out(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / "configs" / "gpus.yaml").read_text())
    config["experiment"]["observation_budget"] = 6
    # A script file: braces in an argv are placeholders.
    script = tmp_path / "report.py"
    script.write_text(REPORT)
    config["workers"]["command"] = [sys.executable, str(script), "{gpus}"]
    config["run"] = {"dir": str(tmp_path / "runs"), "name": "gpus"}
    path = tmp_path / "gpus.yaml"
    path.write_text(yaml.safe_dump(config))

    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", "run", str(path), "--log-format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    async def observations() -> list[dict[str, object]]:
        async with service_client(load_config(path)) as client:
            return [
                {"failed": o.failed, "metadata": dict(o.metadata or {}), "value": o.value}
                for o in await client.observations("1")
            ]

    seen = anyio.run(observations)
    assert len(seen) == 6
    assert not any(o["failed"] for o in seen)
    gpu_sets = set()
    for observation in seen:
        metadata = observation["metadata"]
        assert isinstance(metadata, dict)
        gpus = str(metadata["gpus"]).split(",")
        # 2 GPUs and 1 core each: the command saw what the metadata records.
        assert len(gpus) == 2 and len(str(metadata["cpus"]).split(",")) == 1
        assert observation["value"] == 3
        gpu_sets.add(str(metadata["gpus"]))
    # 4 GPUs / 2 per evaluation: two disjoint sets, both used.
    assert gpu_sets == {"0,1", "2,3"}
