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
"""

from __future__ import annotations

import importlib.util
import math
import multiprocessing
import os
import statistics
import sys
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

import optuna

from benchmarks.common import markdown_table, quiet_logging
from benchmarks.functions import FUNCTIONS, SUITE, TestFunction
from sigopt_service.engine import Engine
from sigopt_service.models import ExperimentType, MetricEvaluation, Suggestion
from sigopt_service.store import InMemoryStore, NewExperiment, NewObservation
from sigopt_service.usecases import suggest_and_store

Objective = Callable[[Mapping[str, Any]], float | None]
P = TypeVar("P")


def experiment_for(function: TestFunction, *, engine_type: str = "offline") -> NewExperiment:
    """A one-metric minimization experiment over the function's box."""
    return NewExperiment.model_validate(
        {
            "name": function.name,
            "type": engine_type,
            "parameters": function.parameters(),
            "metrics": [{"name": "value", "objective": "minimize"}],
        }
    )


def run_engine(
    experiment_def: NewExperiment,
    objective: Objective,
    *,
    engine_type: str = "offline",
    open_suggestions: int = 4,
    budget: int = 40,
    seed: int = 0,
    use_gp: bool | None = None,
) -> list[float]:
    """Best-so-far curve (one entry per observation) of one simulated run; minimizes.

    `objective` returning None reports a failed observation. The first metric of the
    experiment receives the value.
    """
    store = InMemoryStore()
    experiment = store.create_experiment(
        experiment_def.model_copy(update={"type": ExperimentType(engine_type)})
    )
    engine = Engine(store, seed=seed, use_gp=use_gp)
    metric = experiment.metrics[0].name

    def tell(suggestion: Suggestion, value: float | None) -> None:
        if value is None:
            new = NewObservation(suggestion=int(suggestion.id), failed=True)
        else:
            metric_value = MetricEvaluation(name=metric, value=value)
            new = NewObservation(suggestion=int(suggestion.id), values=[metric_value])
        engine.observed(experiment, store.create_observations(int(experiment.id), [new]))

    return _best_so_far(
        lambda: suggest_and_store(engine, store, experiment),
        lambda s: objective(s.assignments),
        tell,
        open_points=open_suggestions,
        budget=budget,
    )


def _best_so_far(
    ask: Callable[[], P],
    evaluate: Callable[[P], float | None],
    tell: Callable[[P, float | None], None],
    *,
    open_points: int,
    budget: int,
) -> list[float]:
    """The loop both kinds of run share: keep `open_points` asked and not yet told, tell
    the oldest, until `budget` are told; the best value so far after each (None: failed)."""
    pending: deque[P] = deque()
    best = float("inf")
    curve: list[float] = []
    while len(curve) < budget:
        while len(pending) < open_points and len(curve) + len(pending) < budget:
            pending.append(ask())
        point = pending.popleft()
        value = evaluate(point)
        tell(point, value)
        if value is not None:
            best = min(best, value)
        curve.append(best)
    return curve


def compare(
    function: TestFunction, *, budget: int, seeds: range, open_suggestions: int = 4
) -> dict[str, list[float]]:
    """Best value found per seed, for the default engine and for random search."""
    results: dict[str, list[float]] = {}
    for engine_type in ("offline", "random"):
        results[engine_type] = [
            run_engine(
                experiment_for(function),
                function,
                engine_type=engine_type,
                open_suggestions=open_suggestions,
                budget=budget,
                seed=seed,
            )[-1]
            for seed in seeds
        ]
    return results


def run_optuna(
    function: TestFunction,
    sampler_kind: str,
    *,
    budget: int,
    seed: int,
    open_trials: int = 1,
) -> list[float]:
    """Best-so-far curve of Optuna's own sampler, ask/evaluate/tell; minimizes.

    `open_trials` > 1 keeps that many trials asked and not yet told, as `run_engine`
    keeps suggestions open, and turns on TPE's `constant_liar` (Optuna's own answer to
    pending trials); 1 is sequential, as an Optuna user runs it by default.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler: optuna.samplers.BaseSampler
    if sampler_kind == "optuna_tpe":
        sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=open_trials > 1)
    elif sampler_kind == "optuna_gp":
        sampler = optuna.samplers.GPSampler(seed=seed)
    else:
        raise ValueError(sampler_kind)
    study = optuna.create_study(sampler=sampler)
    distributions = function.distributions()

    def tell(trial: optuna.trial.Trial, value: float | None) -> None:
        if value is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, value)

    return _best_so_far(
        lambda: study.ask(distributions),
        lambda trial: function(trial.params),
        tell,
        open_points=open_trials,
        budget=budget,
    )


#: Engine label -> how to run it. "ours@k": the default engine with k open suggestions.
#: "optuna_tpe@8": Optuna's TPE with 8 trials pending (constant liar), the reference for
#: what 8 open suggestions cost a TPE that is not ours. "ours_gp@k": our GP engine, which
#: conditions on the open suggestions (Optuna's qLogEI), with k open.
ENGINES = (
    "ours@1",
    "ours@4",
    "ours@8",
    "ours_gp@1",
    "ours_gp@4",
    "ours_gp@8",
    "optuna_tpe",
    "optuna_tpe@8",
    "optuna_gp",
    "random",
)
EVALUATIONS_PER_DIM = 20
QUICK_SEEDS = 10
FULL_SEEDS = 20
ALPHA = 0.05
#: Quality at 8 open suggestions within this factor of 1, in median regret.
TARGET_PARALLEL_RATIO = 1.5


def engine_status(engine: str) -> str | None:
    """None if the engine can run here, else why not."""
    needs_torch = engine == "optuna_gp" or (
        not engine.startswith("optuna_") and engine_plan(engine)[2]
    )
    if needs_torch and importlib.util.find_spec("torch") is None:
        return "not installed: torch (the `gp` extra)"
    return None


def engine_plan(engine: str) -> tuple[str, int, bool]:
    """How to run one of our rows: (experiment type, open suggestions, use_gp)."""
    if engine == "random":
        return "random", 1, False
    label, _, k = engine.partition("@")
    if label not in ("ours", "ours_gp"):
        raise ValueError(f"not one of our engines: {engine!r}")
    return "offline", int(k), label == "ours_gp"


def _curve(job: tuple[str, str, int, int]) -> list[float]:
    engine, name, budget, seed = job
    function = FUNCTIONS[name]
    if engine.startswith("optuna_"):
        kind, _, k = engine.partition("@")
        return run_optuna(function, kind, budget=budget, seed=seed, open_trials=int(k or 1))
    kind, open_suggestions, use_gp = engine_plan(engine)
    return run_engine(
        experiment_for(function),
        function,
        engine_type=kind,
        open_suggestions=open_suggestions,
        budget=budget,
        seed=seed,
        use_gp=use_gp,
    )


def _init_worker() -> None:
    quiet_logging()


def _curves(jobs: Sequence[tuple[str, str, int, int]]) -> list[list[float]]:
    processes = max(1, min(os.cpu_count() or 1, len(jobs)))
    if processes == 1:
        return [_curve(job) for job in jobs]
    # One process per core: torch (the GP rows) would otherwise start a thread per core in
    # each of them. The children take the variable at their spawn (all of them start with
    # `map`'s submissions); this process gets its own value back afterwards.
    before = os.environ.get("OMP_NUM_THREADS")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        # spawn: the parent has run event loops and thread pools; a fork would copy them.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(processes, mp_context=context, initializer=_init_worker) as pool:
            return list(pool.map(_curve, jobs, chunksize=4))
    finally:
        if before is None:
            os.environ.pop("OMP_NUM_THREADS", None)


def _regret_auc(curve: Sequence[float], minimum: float, fallback: float) -> float:
    return statistics.fmean(fallback if math.isinf(v) else v - minimum for v in curve)


def _verdict(ours: Sequence[float], other: Sequence[float]) -> tuple[str, float]:
    """win / tie / loss of `ours` (lower is better) by one-sided Mann-Whitney at ALPHA."""
    from scipy.stats import mannwhitneyu

    if list(ours) == list(other):
        return "tie", 1.0
    less = float(mannwhitneyu(ours, other, alternative="less").pvalue)
    if less < ALPHA:
        return "win", less
    greater = float(mannwhitneyu(ours, other, alternative="greater").pvalue)
    return ("loss" if greater < ALPHA else "tie"), less


def _ratio(regret: float, baseline: float) -> float:
    return regret / baseline if baseline > 0 else (1.0 if regret == 0 else math.inf)


def _median_curve(curves: Sequence[Sequence[float]], minimum: float) -> list[float | None]:
    out: list[float | None] = []
    for step in zip(*curves, strict=True):
        finite = [v - minimum for v in step if not math.isinf(v)]
        # The median counts runs without a success yet as +inf: none if most have none.
        if len(finite) * 2 <= len(step):
            out.append(None)
        else:
            values = sorted(v - minimum if not math.isinf(v) else math.inf for v in step)
            out.append(values[len(values) // 2])
    return out


def run(*, full: bool = False, functions: Sequence[str] | None = None) -> dict[str, Any]:
    """Per function and engine: median best, regret, AUC, per-seed values and the
    median best-so-far regret curve; the Mann-Whitney verdicts of ours@4."""
    n_seeds = FULL_SEEDS if full else QUICK_SEEDS
    selected = [FUNCTIONS[n] for n in functions] if functions else list(SUITE)
    runnable = [e for e in ENGINES if engine_status(e) is None]
    jobs = [
        (engine, f.name, EVALUATIONS_PER_DIM * f.dims, seed)
        for f in selected
        for engine in runnable
        for seed in range(n_seeds)
    ]
    curves = dict(zip(jobs, _curves(jobs), strict=True))
    out: dict[str, Any] = {}
    for f in selected:
        budget = EVALUATIONS_PER_DIM * f.dims
        by_engine = {
            e: [curves[(e, f.name, budget, seed)] for seed in range(n_seeds)] for e in runnable
        }
        firsts = [
            next((v for v in c if not math.isinf(v)), math.inf)
            for cs in by_engine.values()
            for c in cs
        ]
        fallback = max((v for v in firsts if not math.isinf(v)), default=0.0) - f.minimum
        engines: dict[str, Any] = {}
        for e in ENGINES:
            status = engine_status(e)
            if status is not None:
                engines[e] = {"status": status}
                continue
            bests = [c[-1] for c in by_engine[e]]
            aucs = [_regret_auc(c, f.minimum, fallback) for c in by_engine[e]]
            median = statistics.median(bests)
            engines[e] = {
                "median_best": median,
                "regret": median - f.minimum,
                "median_auc": statistics.median(aucs),
                "bests": bests,
                "aucs": aucs,
                "curve": _median_curve(by_engine[e], f.minimum),
            }
        random_regret = engines["random"]["regret"]
        for r in engines.values():
            if "regret" in r:
                r["regret_vs_random"] = r["regret"] / random_regret if random_regret else None
        ours = engines["ours@4"]
        verdicts = {}
        for other in ("random", "optuna_tpe"):
            best_v, best_p = _verdict(ours["bests"], engines[other]["bests"])
            auc_v, auc_p = _verdict(ours["aucs"], engines[other]["aucs"])
            verdicts[other] = {"best": best_v, "p_best": best_p, "auc": auc_v, "p_auc": auc_p}
        parallel_ratio = _ratio(engines["ours@8"]["regret"], engines["ours@1"]["regret"])
        optuna_parallel_ratio = _ratio(
            engines["optuna_tpe@8"]["regret"], engines["optuna_tpe"]["regret"]
        )
        gp_parallel_ratio = (
            _ratio(engines["ours_gp@8"]["regret"], engines["ours_gp@1"]["regret"])
            if "regret" in engines["ours_gp@1"]
            else None
        )
        out[f.name] = {
            "budget": budget,
            "dims": f.dims,
            "seeds": n_seeds,
            "minimum": f.minimum,
            "auc_fallback_regret": fallback,
            "engines": engines,
            "ours4_vs": verdicts,
            "regret_8_vs_1": parallel_ratio,
            "optuna_tpe_regret_8_vs_1": optuna_parallel_ratio,
            "gp_regret_8_vs_1": gp_parallel_ratio,
            "meets_parallel_target": parallel_ratio <= TARGET_PARALLEL_RATIO,
        }
    return out


def table(result: dict[str, Any]) -> str:
    rows: list[list[object]] = []
    for name, case in result.items():
        for engine, r in case["engines"].items():
            if "status" in r:
                rows.append([name, case["budget"], case["seeds"], engine, r["status"], "", "", ""])
                continue
            rows.append(
                [
                    name,
                    case["budget"],
                    case["seeds"],
                    engine,
                    r["median_best"],
                    r["regret"],
                    r["regret_vs_random"] if r["regret_vs_random"] is not None else "",
                    r["median_auc"],
                ]
            )
    headers = [
        "function",
        "budget",
        "seeds",
        "engine",
        "median best",
        "median regret",
        "regret / random",
        "median AUC (regret)",
    ]
    summary_rows: list[list[object]] = []
    for name, case in result.items():
        v = case["ours4_vs"]
        summary_rows.append(
            [
                name,
                f"{v['random']['best']} (p={v['random']['p_best']:.3g})",
                f"{v['random']['auc']} (p={v['random']['p_auc']:.3g})",
                f"{v['optuna_tpe']['best']} (p={v['optuna_tpe']['p_best']:.3g})",
                f"{v['optuna_tpe']['auc']} (p={v['optuna_tpe']['p_auc']:.3g})",
                case["regret_8_vs_1"],
                case["meets_parallel_target"],
                case["optuna_tpe_regret_8_vs_1"],
                "" if case.get("gp_regret_8_vs_1") is None else case["gp_regret_8_vs_1"],
            ]
        )
    summary_headers = [
        "function",
        "ours@4 vs random: best",
        "vs random: AUC",
        "ours@4 vs Optuna TPE: best",
        "vs TPE: AUC",
        "regret ours@8 / ours@1",
        f"≤ {TARGET_PARALLEL_RATIO}x",
        "Optuna TPE: regret 8 pending / sequential",
        "our GP: regret 8 open / 1",
    ]
    beats_random = sum(c["ours4_vs"]["random"]["best"] == "win" for c in result.values())
    ties_tpe = sum(c["ours4_vs"]["optuna_tpe"]["best"] != "loss" for c in result.values())
    n = len(result)
    note = (
        "\n\nBudget: 20 evaluations per dimension. Regret: best found minus the known "
        "minimum. AUC: mean best-so-far regret over the budget (lower is better). "
        "`ours@k`: our default engine without the `gp` extra (`offline`, TPE with "
        "constant liar) with k open "
        "suggestions; `optuna_tpe`: `TPESampler(seed=s)` defaults, sequential; "
        "`optuna_tpe@8`: the same with `constant_liar=True` and 8 trials pending, for "
        "reference (what 8 open cost Optuna's own TPE); `ours_gp@k`: our GP engine (Optuna's "
        "`GPSampler`, qLogEI over the open suggestions), the default where torch imports; "
        "`random`: "
        "our `random` engine (the baseline of `regret / random`). p: one-sided "
        "Mann-Whitney (ours@4 lower), win/loss at 0.05 either way, else tie. "
        f"Targets: ours@4 beats random on every function: {beats_random}/{n}; ties or "
        f"beats Optuna TPE on most: {ties_tpe}/{n}."
    )
    return (
        markdown_table(summary_headers, summary_rows)
        + note
        + "\n\n"
        + parallel_table(result)
        + "\n\n"
        + markdown_table(headers, rows)
    )


#: 8 open suggestions held to what else they could be: the rival under the same handicap,
#: and sequential TPE (what a user gives up parallelism for). (ours, other) pairs.
PARALLEL_CHECKS = (("ours@8", "optuna_tpe@8"), ("ours_gp@8", "ours@1"))


def parallel_table(result: dict[str, Any]) -> str:
    """Mann-Whitney verdicts on the best values of each PARALLEL_CHECKS pair, computed
    from the per-seed bests the result keeps (so older JSON renders too)."""
    rows: list[list[object]] = []
    counts = dict.fromkeys(PARALLEL_CHECKS, 0)
    runnable = dict.fromkeys(PARALLEL_CHECKS, 0)
    for name, case in result.items():
        row: list[object] = [name]
        for ours, other in PARALLEL_CHECKS:
            a, b = case["engines"].get(ours, {}), case["engines"].get(other, {})
            if "bests" not in a or "bests" not in b:
                row.append("not run")
                continue
            verdict, p = _verdict(a["bests"], b["bests"])
            runnable[(ours, other)] += 1
            counts[(ours, other)] += verdict != "loss"
            row.append(f"{verdict} (p={p:.3g})")
        rows.append(row)
    headers = ["function", *(f"{ours} vs {other}: best" for ours, other in PARALLEL_CHECKS)]
    tally = "; ".join(
        f"{pair[0]} ties or beats {pair[1]} on {counts[pair]}/{runnable[pair]}"
        for pair in PARALLEL_CHECKS
    )
    return (
        markdown_table(headers, rows)
        + "\n\n8 open suggestions against the rival under the same handicap (Optuna TPE "
        "with 8 pending) and against sequential TPE, one-sided Mann-Whitney at 0.05 (p: "
        "that the first is lower; a loss is the other direction at 0.05): " + tally + "."
    )


def main() -> None:
    quiet_logging()
    print(table(run(full="--full" in sys.argv)))


if __name__ == "__main__":
    main()
