"""A multitask evaluation's task reaches the command (issue 15 item 5): the `{task}`
placeholder, `SIGOPT_TASK` and `SIGOPT_TASK_COST`; without a task, `{task}` fails the
evaluation saying why, unless the template gives a default (`{task|full}`)."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

from tests.workers.subprocess.support import evaluate, evaluation, script, value_of
from workers.base import EvaluationTask, Failed
from workers.subprocess import SubprocessWorker

SHOW_TASK = """
import json, os, sys
seen = {"argv": sys.argv[1:], "task": os.environ.get("SIGOPT_TASK"),
        "cost": os.environ.get("SIGOPT_TASK_COST")}
with open("task.json", "w") as f:
    json.dump(seen, f)
print(json.dumps({"value": 1.0}))
"""


async def test_the_task_is_a_placeholder_and_two_variables(tmp_path: Path) -> None:
    worker = SubprocessWorker(
        [sys.executable, script(tmp_path, SHOW_TASK), "--task", "{task}"], cwd=tmp_path
    )
    ev = dataclasses.replace(
        evaluation(tmp_path, "7", x=0.5), task=EvaluationTask(name="cheap", cost=0.1)
    )
    assert value_of(await evaluate(worker, ev)) == 1.0
    seen = json.loads((tmp_path / "task.json").read_text())
    assert seen == {"argv": ["--task", "cheap"], "task": "cheap", "cost": "0.1"}
    await worker.aclose()


async def test_without_a_task_the_placeholder_says_why(tmp_path: Path) -> None:
    worker = SubprocessWorker([sys.executable, script(tmp_path, SHOW_TASK), "{task}"], cwd=tmp_path)
    outcome = await evaluate(worker, evaluation(tmp_path, "8", x=0.5))
    assert isinstance(outcome, Failed)
    assert "not multitask" in str(outcome.details["message"])
    await worker.aclose()


async def test_a_default_stands_in_for_no_task(tmp_path: Path) -> None:
    worker = SubprocessWorker(
        [sys.executable, script(tmp_path, SHOW_TASK), "{task|full}"], cwd=tmp_path
    )
    assert value_of(await evaluate(worker, evaluation(tmp_path, "9", x=0.5))) == 1.0
    seen = json.loads((tmp_path / "task.json").read_text())
    assert seen == {"argv": ["full"], "task": None, "cost": None}
    await worker.aclose()
