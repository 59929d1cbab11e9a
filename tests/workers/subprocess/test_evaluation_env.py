"""`Evaluation.env` reaches the command's environment last: what the orchestrator puts
there for this evaluation alone (its SigOpt training run) shadows the worker's `env`."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from tests.workers.subprocess.support import evaluate, evaluation, script, value_of
from workers.subprocess import SubprocessWorker

SHOW_ENV = """
import json, os
keys = ("SIGOPT_CONTEXT", "SIGOPT_API_URL", "ONLY_WORKER", "SIGOPT_SUGGESTION_ID")
print(json.dumps({"value": 1.0, "env": {k: os.environ.get(k) for k in keys}}))
with open("env.json", "w") as f:
    json.dump({k: os.environ.get(k) for k in keys}, f)
"""


async def test_evaluation_env_is_set_last(tmp_path: Path) -> None:
    worker = SubprocessWorker(
        [sys.executable, script(tmp_path, SHOW_ENV)],
        env={"SIGOPT_API_URL": "from-worker", "ONLY_WORKER": "kept"},
        cwd=tmp_path,
    )
    ev = dataclasses.replace(
        evaluation(tmp_path, "7", x=0.5),
        env={"SIGOPT_CONTEXT": "abc", "SIGOPT_API_URL": "http://svc"},
    )
    assert value_of(await evaluate(worker, ev)) == 1.0
    seen = json.loads((tmp_path / "env.json").read_text())
    assert seen == {
        "SIGOPT_CONTEXT": "abc",
        "SIGOPT_API_URL": "http://svc",
        "ONLY_WORKER": "kept",
        "SIGOPT_SUGGESTION_ID": "7",
    }
    await worker.aclose()
