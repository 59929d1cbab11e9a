"""The quality benchmark's multitask and multisolution rows (issue 15 items 4 and 5): the
runs of `multitask.py` and `multisolution.py` over seeds in a process pool, their
summaries, and their markdown tables.

    result = run_tasks_and_solutions(full=False)
    print(tasks_and_solutions_table(result))
"""

from __future__ import annotations

import math
import multiprocessing
import os
import statistics
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from benchmarks.common import markdown_table, quiet_logging
from benchmarks.functions import hartmann6
from benchmarks.quality.engines import FULL_SEEDS, QUICK_SEEDS
from benchmarks.quality.multisolution import (
    BUDGET as MULTISOLUTION_BUDGET,
)
from benchmarks.quality.multisolution import (
    HIT_VALUES,
    MULTISOLUTION_ENGINES,
    K,
    run_multisolution,
)
from benchmarks.quality.multitask import (
    BUDGET as MULTITASK_BUDGET,
)
from benchmarks.quality.multitask import (
    CHEAP_COST,
    MULTITASK_ENGINES,
    CostCurve,
    regret_auc,
    run_multitask,
)
from benchmarks.quality.summary import _verdict

Job = tuple[str, str, int]  # (which: "multitask" | "multisolution", engine, seed)


def _job(job: Job) -> Any:
    quiet_logging()
    which, engine, seed = job
    if which == "multitask":
        return run_multitask(engine, seed=seed)
    return run_multisolution(engine, seed=seed)


def _run_all(jobs: list[Job]) -> list[Any]:
    processes = max(1, min(os.cpu_count() or 1, len(jobs)))
    if processes == 1:
        return [_job(job) for job in jobs]
    # spawn: the parent has run event loops and thread pools; a fork would copy them.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context, initializer=quiet_logging) as pool:
        return list(pool.map(_job, jobs, chunksize=2))


def run_tasks_and_solutions(*, full: bool = False) -> dict[str, Any]:
    """Both benchmarks: per engine, the per-seed results and their summaries."""
    seeds = range(FULL_SEEDS if full else QUICK_SEEDS)
    jobs: list[Job] = [("multitask", e, s) for e in MULTITASK_ENGINES for s in seeds]
    jobs += [("multisolution", e, s) for e in MULTISOLUTION_ENGINES for s in seeds]
    results = dict(zip(jobs, _run_all(jobs), strict=True))
    curves = {e: [results[("multitask", e, s)] for s in seeds] for e in MULTITASK_ENGINES}
    runs = {e: [results[("multisolution", e, s)] for s in seeds] for e in MULTISOLUTION_ENGINES}
    return {
        "seeds": len(seeds),
        "multitask": _multitask_summary(curves),
        "multisolution": _multisolution_summary(runs),
    }


def _multitask_summary(curves: dict[str, list[CostCurve]]) -> dict[str, Any]:
    # Before a first full-cost observation a run counts the worst first regret of any run.
    firsts = [
        next((r for _, r in c if math.isfinite(r)), math.inf) for v in curves.values() for c in v
    ]
    fallback = max(f for f in firsts if math.isfinite(f))
    engines: dict[str, Any] = {}
    for engine, runs in curves.items():
        finals = [c[-1][1] for c in runs]
        aucs = [regret_auc(c, fallback) for c in runs]
        engines[engine] = {
            "finals": finals,
            "aucs": aucs,
            "median_regret": statistics.median(finals),
            "median_auc": statistics.median(aucs),
            "median_observations": statistics.median(len(c) for c in runs),
        }
    ours = engines["ours@4"]
    for engine, row in engines.items():
        if engine != "ours@4":
            row["verdict_regret"] = _verdict(ours["finals"], row["finals"])
            row["verdict_auc"] = _verdict(ours["aucs"], row["aucs"])
    return {"budget": MULTITASK_BUDGET, "fallback": fallback, "engines": engines}


def _multisolution_summary(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    engines: dict[str, Any] = {}
    for engine, results in runs.items():
        row: dict[str, Any] = {"median_best": statistics.median(r["best"] for r in results)}
        for below in map(str, HIT_VALUES):
            hits = [r["hit"][below] for r in results]
            row[below] = {
                "hits": hits,
                "mean_hits": statistics.fmean(hits),
                "distribution": dict(sorted(Counter(hits).items())),
            }
        engines[engine] = row
    for below in map(str, HIT_VALUES):
        ours = [-h for h in engines["ours_k3@4"][below]["hits"]]  # more hits is better
        for engine, row in engines.items():
            if engine != "ours_k3@4":
                row[below]["verdict"] = _verdict(ours, [-h for h in row[below]["hits"]])
    return {"budget": MULTISOLUTION_BUDGET, "k": K, "engines": engines}


def _verdict_text(verdict: tuple[str, float] | None) -> str:
    return "" if verdict is None else f"{verdict[0]} (p={verdict[1]:.3g})"


def tasks_and_solutions_table(result: dict[str, Any]) -> str:
    mt, ms, seeds = result["multitask"], result["multisolution"], result["seeds"]
    mt_rows = [
        [
            engine,
            r["median_regret"],
            r["median_auc"],
            r["median_observations"],
            _verdict_text(r.get("verdict_regret")),
            _verdict_text(r.get("verdict_auc")),
        ]
        for engine, r in mt["engines"].items()
    ]
    ms_rows = [
        [
            engine,
            below,
            r[below]["mean_hits"],
            ", ".join(f"{h}: {n}" for h, n in r[below]["distribution"].items()),
            r["median_best"],
            _verdict_text(r[below].get("verdict")),
        ]
        for below in map(str, HIT_VALUES)
        for engine, r in ms["engines"].items()
    ]
    return (
        f"Multitask: two-fidelity Hartmann 6-D (cheap task cost {CHEAP_COST}, biased), "
        f"budget {mt['budget']} in cost, {seeds} seeds. Regret: the best full-cost "
        f"observation's (minimum {hartmann6.minimum}); per unit of cost: the mean over the "
        f"cost axis of the best-so-far regret ({mt['fallback']:.3g} before a first "
        "full-cost observation). Optuna and random search run the full-cost task only.\n\n"
        + markdown_table(
            [
                "engine",
                "median regret",
                "median regret per unit of cost",
                "observations",
                "ours@4 vs it: regret",
                "per unit of cost",
            ],
            mt_rows,
        )
        + f"\n\nMultisolution: Himmelblau (4 minima), num_solutions {ms['k']}, "
        f"{ms['budget']} evaluations, {seeds} seeds; solutions chosen from each engine's "
        "observations by best_assignments' rule; a hit is a solution below the value "
        "given, counted once per minimum.\n\n"
        + markdown_table(
            [
                "engine",
                "value below",
                "mean minima hit",
                "runs by minima hit",
                "median best",
                "ours_k3@4 vs it",
            ],
            ms_rows,
        )
    )
