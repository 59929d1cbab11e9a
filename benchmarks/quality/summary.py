"""Per function and engine: medians, regrets, AUCs and Mann-Whitney verdicts over the seeds."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from benchmarks.functions import FUNCTIONS, SUITE
from benchmarks.quality.engines import (
    ALPHA,
    ENGINES,
    EVALUATIONS_PER_DIM,
    FULL_SEEDS,
    QUICK_SEEDS,
    TARGET_PARALLEL_RATIO,
    _curves,
    engine_status,
)
from benchmarks.quality.features import FEATURE_ENGINES, FEATURE_FUNCTIONS, FEATURES


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


def _engine_rows(
    curves: Sequence[Sequence[float]], minimum: float, fallback: float
) -> dict[str, Any]:
    bests = [c[-1] for c in curves]
    aucs = [_regret_auc(c, minimum, fallback) for c in curves]
    median = statistics.median(bests)
    return {
        "median_best": median,
        "regret": median - minimum,
        "median_auc": statistics.median(aucs),
        "bests": bests,
        "aucs": aucs,
        "curve": _median_curve(curves, minimum),
    }


def _fallback(by_engine: dict[str, list[list[float]]], minimum: float) -> float:
    """The AUC's regret before a first success: the worst first success of any run."""
    firsts = [
        next((v for v in c if not math.isinf(v)), math.inf) for cs in by_engine.values() for c in cs
    ]
    return max((v for v in firsts if not math.isinf(v)), default=0.0) - minimum


def _with_ratios(engines: dict[str, Any]) -> None:
    random_regret = engines["random"]["regret"]
    for r in engines.values():
        if "regret" in r:
            r["regret_vs_random"] = r["regret"] / random_regret if random_regret else None


def _verdicts(engines: dict[str, Any]) -> dict[str, Any]:
    ours = engines["ours@4"]
    verdicts = {}
    for other in ("random", "optuna_tpe"):
        best_v, best_p = _verdict(ours["bests"], engines[other]["bests"])
        auc_v, auc_p = _verdict(ours["aucs"], engines[other]["aucs"])
        verdicts[other] = {"best": best_v, "p_best": best_p, "auc": auc_v, "p_auc": auc_p}
    return verdicts


def run(*, full: bool = False, functions: Sequence[str] | None = None) -> dict[str, Any]:
    """Per function and engine: median best, regret, AUC, per-seed values and the
    median best-so-far regret curve; the Mann-Whitney verdicts of ours@4. The feature
    functions (`features.py`) come last, with their own engines and `feature` key."""
    n_seeds = FULL_SEEDS if full else QUICK_SEEDS
    names = list(functions) if functions else [f.name for f in (*SUITE, *FEATURES)]
    selected = [FUNCTIONS[n] for n in names if n in FUNCTIONS]
    features = [FEATURE_FUNCTIONS[n] for n in names if n in FEATURE_FUNCTIONS]
    runnable = [e for e in ENGINES if engine_status(e) is None]
    jobs = [
        (engine, f.name, EVALUATIONS_PER_DIM * f.dims, seed)
        for f in selected
        for engine in runnable
        for seed in range(n_seeds)
    ]
    jobs += [
        (engine, f.name, f.budget, seed)
        for f in features
        for engine in FEATURE_ENGINES
        for seed in range(n_seeds)
    ]
    curves = dict(zip(jobs, _curves(jobs), strict=True))
    out: dict[str, Any] = {}
    for f in selected:
        budget = EVALUATIONS_PER_DIM * f.dims
        by_engine = {
            e: [curves[(e, f.name, budget, seed)] for seed in range(n_seeds)] for e in runnable
        }
        fallback = _fallback(by_engine, f.minimum)
        engines: dict[str, Any] = {}
        for e in ENGINES:
            status = engine_status(e)
            if status is not None:
                engines[e] = {"status": status}
                continue
            engines[e] = _engine_rows(by_engine[e], f.minimum, fallback)
        _with_ratios(engines)
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
            "ours4_vs": _verdicts(engines),
            "regret_8_vs_1": parallel_ratio,
            "optuna_tpe_regret_8_vs_1": optuna_parallel_ratio,
            "gp_regret_8_vs_1": gp_parallel_ratio,
            "meets_parallel_target": parallel_ratio <= TARGET_PARALLEL_RATIO,
        }
    for g in features:
        by_engine = {
            e: [curves[(e, g.name, g.budget, seed)] for seed in range(n_seeds)]
            for e in FEATURE_ENGINES
        }
        fallback = _fallback(by_engine, g.minimum)
        engines = {e: _engine_rows(by_engine[e], g.minimum, fallback) for e in FEATURE_ENGINES}
        _with_ratios(engines)
        out[g.name] = {
            "feature": g.feature,
            "budget": g.budget,
            "seeds": n_seeds,
            "minimum": g.minimum,
            "auc_fallback_regret": fallback,
            "engines": engines,
            "ours4_vs": _verdicts(engines),
        }
    return out
