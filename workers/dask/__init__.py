"""Run each evaluation as a task on a Dask cluster (`workers.kind: dask`).

```yaml
workers:
  kind: dask
  count: 16                       # evaluations at once (suggestions kept open)
  scheduler: tcp://head:8786      # a running cluster; absent: the run starts one:
  # cluster: {class: dask_jobqueue.SLURMCluster, options: {...}, scale: 16}
  #          (absent too: a LocalCluster of `count` processes, one thread each)
  resources: {GPU: 1}             # Dask worker resources each evaluation holds
  command: ["{python}", "train.py", "--lr", "{lr}"]    # or function: "pkg.mod:fn"
```

The contract:

- a `command` runs on the Dask worker's host as the subprocess kind runs it (package
  `workers.subprocess`): the same argv template (`{python}` is the Dask worker's
  interpreter), environment (the Dask worker's, then `workers.env`, then the `SIGOPT_*`
  variables), result file and stdout contract, in its own process group, in a folder of
  its own on that host. The run folder need not be shared: the outcome is read there and
  sent back with the tails of stdout and stderr and the result file, which the
  evaluation's folder in the run folder keeps.
- a `function` runs in a warm child process of the Dask worker (imported once per
  child), with the process kind's outcome rules (`workers.process_pool`); one that
  declares a parameter `evaluation` gets the `Evaluation`, as there.
- in a multitask experiment both see the evaluation's task as those kinds do: `{task}`,
  `SIGOPT_TASK` and `SIGOPT_TASK_COST` for a command, `evaluation.task` for a function.
- Each evaluation is one task, holding `resources` of its worker; a Dask worker runs as
  many at once as it has threads.
- A timeout or a stop cancels the task; the task notices its release and kills its
  evaluation's process group (SIGTERM, `kill_grace_s`, SIGKILL), and the cancel waits,
  bounded, until it has. Ending the run closes the client, which releases every task of
  the run the same way. A Dask worker killed with -9 cannot do that: a small reaper
  process per Dask worker, which outlives it, does (`_reaper`).
- A Dask worker lost mid-evaluation raises `BrokenWorker` (an infrastructure fault: the
  coordinator re-runs the evaluation up to `workers.max_retries` times, never reports it
  failed). Dask does not re-run the task itself: a cluster the run starts allows it no
  failures, and with a running scheduler the run notices the loss from Dask's events and
  cancels any re-run. A lost scheduler makes this worker broken for good: the run stops
  with the "worker broken" exit, and the same command resumes it.

The parts: the kind's checks (`_kind`), the orchestrator's side (`_worker`, `_cluster`,
`_events`), the task and what runs on the Dask worker (`_remote`, `_child`, `_reaper`),
and what crosses between them (`_wire`).
"""

from __future__ import annotations

from workers.dask._kind import DASK_KIND

__all__ = ["DASK_KIND"]
