"""A multitask evaluation's task crosses to the Dask worker: a command gets `{task}`,
`SIGOPT_TASK` and `SIGOPT_TASK_COST` as the subprocess kind gives them, a function that
declares `evaluation` gets its `task` as the process kind gives it."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import anyio
import pytest

from tests.workers.dask.support import DaskCluster
from workers.base import Completed, Evaluation, EvaluationTask, Outcome, WorkerSettings
from workers.dask import DASK_KIND

pytestmark = pytest.mark.slow

CHEAP = EvaluationTask(name="cheap", cost=0.25)

#: Prints what it was told of its task (the evaluation folder keeps its stdout), then
#: its metric.
SHOW_TASK = """
    import json, os, sys
    print(json.dumps({"argv": sys.argv[1:], "task": os.environ.get("SIGOPT_TASK"),
                      "cost": os.environ.get("SIGOPT_TASK_COST")}))
    print(json.dumps({"value": 1.0}))
"""

#: A function objective reading its task from `evaluation`.
TASK_FUNCTION = """
    def cost_of_task(assignments, evaluation):
        assert evaluation.task is not None, "no task reached the function"
        return evaluation.task.cost if evaluation.task.name == "cheap" else -1.0
"""


def value(outcome: Outcome) -> float:
    assert isinstance(outcome, Completed), outcome
    (metric,) = outcome.values
    return metric.value


async def test_the_task_reaches_commands_and_functions(
    dask_cluster: DaskCluster, tmp_path: Path
) -> None:
    address = await dask_cluster.start({"a": None})
    script = tmp_path / "show_task.py"
    script.write_text(textwrap.dedent(SHOW_TASK))
    (tmp_path / "task_objective.py").write_text(textwrap.dedent(TASK_FUNCTION))
    command = DASK_KIND.build(
        WorkerSettings(
            count=1, command=["{python}", str(script), "--task", "{task}"], scheduler=address
        )
    )
    function = DASK_KIND.build(
        WorkerSettings(
            count=1,
            function="task_objective:cost_of_task",
            scheduler=address,
            import_path=(tmp_path,),
        )
    )
    folder = tmp_path / "evaluations" / "1-1"
    async with command, function:
        with anyio.fail_after(60):
            ran = await command.evaluate(
                Evaluation(id="1", assignments={"x": 0.5}, workdir=folder, task=CHEAP)
            )
            called = await function.evaluate(Evaluation(id="2", assignments={"x": 0.5}, task=CHEAP))
    assert value(ran) == 1.0
    seen = json.loads((folder / "stdout.log").read_text().splitlines()[0])
    assert seen == {"argv": ["--task", "cheap"], "task": "cheap", "cost": "0.25"}
    assert value(called) == 0.25
