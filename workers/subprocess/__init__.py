"""Run each evaluation as a command in its own process group; read the metric it reports.

```python
worker = SubprocessWorker([sys.executable, "train.py", "--lr", "{lr}", "--optimizer", "{opt}"])
outcome = await worker.evaluate(Evaluation(id="7", assignments={"lr": 0.01, "opt": "adam"},
                                           workdir=Path("runs/7")))
```

The contract with the command (also in the README):

- argv: each element of `command` is formatted on its own with `{name}` (a parameter),
  `{name:.3g}` (with a format spec), `{suggestion_id}`, `{gpus}` (the GPU ids the
  evaluation holds, `0,1`) or `{python}` (the interpreter running the orchestrator,
  `sys.executable`); `{{`/`}}` are literal braces. A parameter named `python`, `gpus`
  or `suggestion_id` in a command that uses that placeholder is refused
  before the run starts (`check_placeholders`): which was meant is ambiguous.
  A value fills part of exactly one argv element and is never split or interpreted by a
  shell, so `"; rm -rf ~"` arrives as one harmless argument. With `shell=True`, `command`
  is one string run by `/bin/sh -c` and every value is `shlex.quote`d first (`_argv`).
- environment: the orchestrator's environment, then the worker's `env`, then what the
  evaluation holds (`Evaluation.gpus`: `CUDA_VISIBLE_DEVICES` and `SIGOPT_GPUS`;
  `Evaluation.cpus`: `OMP_NUM_THREADS`, `MKL_NUM_THREADS`, `OPENBLAS_NUM_THREADS` set to
  the core count unless `env` sets them), then `SIGOPT_SUGGESTION_ID`,
  `SIGOPT_ASSIGNMENTS` (JSON object), `SIGOPT_ASSIGNMENTS_FILE`, `SIGOPT_RESULT_FILE`
  and one `SIGOPT_PARAM_<NAME>` per parameter (upper-cased, non-alphanumerics replaced
  by `_`).
- cores: a command whose evaluation holds `cpus` is pinned to them (CPU affinity)
  before it runs any code of its own; its children inherit the mask (`_spawn`).
- files in the evaluation's workdir: `assignments.json` (written before start),
  `stdout.log`, `stderr.log` (kept), `result.json` (written by the command, optional; a
  stale one is removed before start). An evaluation without a workdir (a library run
  with no run folder) keeps no files: stdout and stderr are read through pipes, keeping
  only their tails, and the two JSON files live in a private folder of the worker under
  unique names, removed after the evaluation (the folder itself on `aclose`). That saves
  a folder and three files per evaluation, which for a short command is most of the gap
  to plain `asyncio` subprocess calls. The folder is in memory where possible, so those
  two files cost no thread hop (`_scratch`), and the command's exit is awaited on a
  pidfd, not a thread (`_spawn`).
- the metric: `result.json` if it exists, else the last stdout line that parses as a JSON
  object; any shape `outcome_from_result` accepts (`_output`). Only the last
  `max_output_bytes` of stdout are kept: memory stays bounded whatever the command prints
  (with a workdir, disk does not).

Failures are `Failed` outcomes with `details["message"]` and, when the command wrote to
stderr, `details["stderr_tail"]`: `exit_code` (+ `exit_code`), `signal` (+ `signal`,
`signal_number`), `no_metric`, `invalid_result` (+ `source`), `objective_failed`
(the command reported `{"failed": true}`). A missing executable or a placeholder naming
no parameter raises `BrokenWorker`: every evaluation would fail the same way.

Cancellation (the caller's deadline, shutdown) is real: SIGTERM to the whole process
group, up to `kill_grace_s` for the command to exit, then SIGKILL to the group, then reap;
this cleanup is shielded from the cancellation and bounded in time, and the cancellation
is re-raised. The group is also SIGKILLed after a normal exit, so processes the command
left in the background never outlive its evaluation: either way `evaluate` returns once
every process of the group has died, not just its leader (what it held, GPU memory
included, is free by then). A run killed with -9 cannot do
that: its restart kills what it left (`kill_leftover_groups`, `_recovery`).
"""

from __future__ import annotations

from workers.subprocess._argv import RESERVED, check_executable
from workers.subprocess._kind import SUBPROCESS_KIND
from workers.subprocess._output import (
    RESULT_ENV,
    RESULT_FILE,
    STDERR_FILE,
    STDERR_TAIL_BYTES,
    STDOUT_FILE,
    read_result,
    read_tail,
)
from workers.subprocess._recovery import (
    GROUP_FILE,
    STARTING_RECORD,
    kill_leftover_groups,
    record_group,
    signal_group,
)
from workers.subprocess._scratch import ASSIGNMENTS_FILE
from workers.subprocess._spawn import pidfds_work
from workers.subprocess._worker import PIPE_DRAIN_TIMEOUT_S, SubprocessWorker

__all__ = [
    "ASSIGNMENTS_FILE",
    "GROUP_FILE",
    "PIPE_DRAIN_TIMEOUT_S",
    "RESERVED",
    "RESULT_ENV",
    "RESULT_FILE",
    "STARTING_RECORD",
    "STDERR_FILE",
    "STDERR_TAIL_BYTES",
    "STDOUT_FILE",
    "SUBPROCESS_KIND",
    "SubprocessWorker",
    "check_executable",
    "kill_leftover_groups",
    "pidfds_work",
    "read_result",
    "read_tail",
    "record_group",
    "signal_group",
]
