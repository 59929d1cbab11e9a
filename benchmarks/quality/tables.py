"""The quality benchmark's markdown: verdicts, the parallel checks, and every row."""

from __future__ import annotations

from typing import Any

from benchmarks.common import markdown_table
from benchmarks.quality.engines import TARGET_PARALLEL_RATIO
from benchmarks.quality.summary import _verdict


def table(result: dict[str, Any]) -> str:
    """The suite's tables, then the feature functions' (`features.py`) if they ran."""
    suite = {name: case for name, case in result.items() if "feature" not in case}
    features = {name: case for name, case in result.items() if "feature" in case}
    parts = [_suite_table(suite)] if suite else []
    if features:
        parts.append(feature_table(features))
    return "\n\n".join(parts)


def feature_table(result: dict[str, Any]) -> str:
    """Conditionals and linear constraints: ours@4 against random and Optuna's TPE."""
    rows: list[list[object]] = []
    for name, case in result.items():
        v = case["ours4_vs"]
        for engine, r in case["engines"].items():
            verdict = ""
            if engine != "ours@4":
                verdict = f"{v[engine]['best']} (p={v[engine]['p_best']:.3g})"
            rows.append(
                [
                    name,
                    case["feature"],
                    case["budget"],
                    case["seeds"],
                    engine,
                    r["median_best"],
                    r["regret"],
                    "" if r["regret_vs_random"] is None else r["regret_vs_random"],
                    r["median_auc"],
                    verdict,
                ]
            )
    headers = [
        "function",
        "feature",
        "budget",
        "seeds",
        "engine",
        "median best",
        "median regret",
        "regret / random",
        "median AUC (regret)",
        "ours@4 vs it: best",
    ]
    note = (
        "\n\nExperiment features. `conditional_arch`: `arch` in {mlp, tree}, a shared "
        "learning rate whose optimum differs by branch, two parameters per branch (minimum "
        "0, tree). `constrained_branin`: Branin under `x1 + x2 <= 5` and `x2 - x1 <= 8` "
        "(17% of the box; every unconstrained minimum cut off, the best on the boundary, "
        "0.569740). `ours@4`: our engine with 4 open suggestions (conditionals: TPE "
        "grouped per active subspace; constraints: every suggestion feasible, an "
        "infeasible proposal moved to the nearest feasible point); `random`: our `random` "
        "engine (within the constraints); `optuna_tpe`: `TPESampler(seed=s)`, sequential, "
        "define-by-run as its users write a conditional space, and for the constraints "
        "`trial.set_constraint` with the violations: soft, so it also spends evaluations "
        "on infeasible points, which never count as its best. Regret: best feasible value "
        "minus the minimum. p: one-sided Mann-Whitney (ours@4 lower), win/loss at 0.05."
    )
    return markdown_table(headers, rows) + note


def _suite_table(result: dict[str, Any]) -> str:
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
