"""Optimization quality: our engine against random search and Optuna on standard functions.

`run_engine` mimics an orchestrator with N workers without any HTTP: it keeps
`open_suggestions` suggestions open, observes the oldest, asks a new one, until
`budget` observations. `run_optuna` runs an Optuna sampler directly, sequentially
(ask, evaluate, tell), as an Optuna user would; a failed evaluation is told as FAIL.

For every function of `benchmarks.functions.SUITE`, at 20 evaluations per dimension and
over several seeds (20 with `--full`): best value found (median), its regret, and the
area under the best-so-far regret curve (AUC: the mean over the budget of the best
regret so far; before a first success the worst first success of any run counts), for

- ours, the default engine (`offline`) at 1, 4 and 8 open suggestions;
- our GP engine (the default where torch imports) at 1, 4 and 8 open suggestions, and
  Optuna's `GPSampler`, where torch imports (else "not installed");
- Optuna's `TPESampler()` with its defaults, run sequentially;
- random search (our `random` engine), the baseline of every ratio.

Wins, ties and losses of ours at 4 open suggestions against random and against Optuna
TPE: one-sided Mann-Whitney U at 0.05 in each direction, on the best values and on the
AUCs. Seeds run in a process pool (one process per core). `python -m benchmarks.quality`.

Then the experiment features (`features.py`): a conditional two-architecture function
and a constrained Branin, ours at 4 open suggestions against random and against Optuna's
TPE used as its users write those problems (define-by-run; soft constraints); and
multitask (a two-fidelity Hartmann 6-D, `multitask.py`) and multisolution (Himmelblau's
four minima, `multisolution.py`), in `tasks_and_solutions.py`.
"""

from __future__ import annotations

import sys

from benchmarks.common import quiet_logging
from benchmarks.quality.engines import (
    ALPHA,
    ENGINES,
    EVALUATIONS_PER_DIM,
    FULL_SEEDS,
    QUICK_SEEDS,
    TARGET_PARALLEL_RATIO,
    _curve,
    _curves,
    _init_worker,
    engine_plan,
    engine_status,
)
from benchmarks.quality.runs import (
    Objective,
    _best_so_far,
    compare,
    experiment_for,
    run_engine,
    run_optuna,
)
from benchmarks.quality.summary import _median_curve, _ratio, _regret_auc, _verdict, run
from benchmarks.quality.tables import PARALLEL_CHECKS, parallel_table, table
from benchmarks.quality.tasks_and_solutions import (
    run_tasks_and_solutions,
    tasks_and_solutions_table,
)

__all__ = [
    "ALPHA",
    "ENGINES",
    "EVALUATIONS_PER_DIM",
    "FULL_SEEDS",
    "PARALLEL_CHECKS",
    "QUICK_SEEDS",
    "TARGET_PARALLEL_RATIO",
    "Objective",
    "_best_so_far",
    "_curve",
    "_curves",
    "_init_worker",
    "_median_curve",
    "_ratio",
    "_regret_auc",
    "_verdict",
    "compare",
    "engine_plan",
    "engine_status",
    "experiment_for",
    "main",
    "parallel_table",
    "run",
    "run_engine",
    "run_optuna",
    "table",
]


def main() -> None:
    quiet_logging()
    full = "--full" in sys.argv
    print(table(run(full=full)))
    print()
    print(tasks_and_solutions_table(run_tasks_and_solutions(full=full)))
