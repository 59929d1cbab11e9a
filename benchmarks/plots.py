"""PNG plots of the saved results (`benchmarks/results/<name>.json` -> `<name>.png`).

matplotlib comes with the `bench` extra (`pip install -e '.[bench]'`); without it no plot
is drawn and `plot_all` says so. Plots are small (about 100 dpi, < 200 KB) because they
are committed next to `results/README.md`.

```python
written = plot_all(Path("benchmarks/results"))    # the PNG paths drawn
```
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

DPI = 100


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _load(results_dir: Path, name: str) -> dict[str, Any] | None:
    path = results_dir / f"{name}.json"
    if not path.exists():
        return None
    payload: dict[str, Any] = json.loads(path.read_text())
    result: dict[str, Any] = payload["result"]
    return result


def plot_utilization(result: dict[str, Any], path: Path) -> None:
    plt = _pyplot()
    labels: list[str] = []
    values: list[float] = []
    colors: list[str] = []
    for engine_type, r in result["runs"].items():
        labels.append(f"ours {engine_type}")
        values.append(r["utilization"])
        colors.append("tab:blue")
    for name, r in result.get("rivals", {}).items():
        if "utilization" in r:
            labels.append(name)
            values.append(r["utilization"])
            colors.append("tab:orange" if name.startswith("optuna") else "tab:red")
    labels += ["HTTP floor + sleep", "sleep only"]
    values += [result["http_floor_utilization"], result["sleep_only_utilization"]]
    colors += ["tab:gray", "tab:gray"]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    bars = ax.barh(labels[::-1], values[::-1], color=colors[::-1])
    for bar, v in zip(bars, values[::-1], strict=True):
        ax.text(v + 0.01, bar.get_y() + bar.get_height() / 2, f"{v:.3f}", va="center", fontsize=8)
    ax.axvline(result["target_utilization"], color="k", ls="--", lw=1)
    ax.set_xlim(0, 1.12)
    ax.set_xlabel("utilization = ideal wall / measured wall (higher is better)")
    ax.set_title(
        f"{result['workers']} workers, {result['evaluations']} x {result['evaluation_s']} s "
        f"evaluations (dashed: target {result['target_utilization']})",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def plot_overhead(result: dict[str, Any], path: Path) -> None:
    plt = _pyplot()
    rows = result["by_workers"]
    workers = [int(w) for w in rows]
    series = {
        "ours (HTTP + SQLite)": [r["per_s"] for r in rows.values()],
        "HTTP floor (2 round trips)": [r["floor_per_s"] for r in rows.values()],
        "Optuna in memory": [r.get("optuna_memory_per_s", math.nan) for r in rows.values()],
        "Optuna SQLite": [r.get("optuna_sqlite_per_s", math.nan) for r in rows.values()],
    }
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for (label, ys), style in zip(series.items(), ("o-", "s--", "^-", "v-"), strict=True):
        ax.plot(workers, ys, style, label=label)
    ax.axhline(result["target_per_s"], color="k", ls=":", lw=1, label="target 1,000/s")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(workers, [str(w) for w in workers])
    ax.set_xlabel("workers")
    ax.set_ylabel("no-op evaluations / s")
    ax.set_title("Overhead: no-op evaluations per second (higher is better)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def plot_scale(result: dict[str, Any], path: Path) -> None:
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.4))
    for engine_type, r in result["engines"].items():
        levels = [int(x) for x in r["levels"]]
        left.plot(levels, [x["cycle"]["p50_ms"] for x in r["levels"].values()], "o-")
        right.plot(levels, [x["rss_mb"] for x in r["levels"].values()], "o-", label=engine_type)
    left.axhline(result["target_tpe_p50_ms_at_1000"], color="k", ls=":", lw=1)
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xlabel("observations in the experiment")
    left.set_yscale("log")
    left.set_ylabel("suggest + observe p50 ms")
    left.set_title("cycle cost (dotted: TPE target 20 ms)", fontsize=10)
    right.set_ylabel("service RSS MB")
    right.set_title("service memory", fontsize=10)
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def plot_quality(result: dict[str, Any], path: Path) -> None:
    plt = _pyplot()
    names = list(result)
    cols = 4
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(12, 2.8 * rows), squeeze=False)
    styles = {
        "ours@1": ("tab:blue", ":"),
        "ours@4": ("tab:blue", "-"),
        "ours@8": ("tab:blue", "--"),
        "ours_gp@1": ("tab:cyan", ":"),
        "ours_gp@4": ("tab:cyan", "-"),
        "ours_gp@8": ("tab:cyan", "--"),
        "optuna_tpe": ("tab:orange", "-"),
        "optuna_tpe@8": ("tab:orange", "--"),
        "optuna_gp": ("tab:red", "-"),
        "random": ("tab:gray", "-"),
    }
    for ax, name in zip(axes.flat, names, strict=False):
        case = result[name]
        for engine, r in case["engines"].items():
            if "curve" not in r:
                continue
            color, ls = styles.get(engine, ("k", "-"))
            xs = [i + 1 for i, v in enumerate(r["curve"]) if v is not None and v > 0]
            ys = [v for v in r["curve"] if v is not None and v > 0]
            ax.plot(xs, ys, color=color, ls=ls, label=engine)
        ax.set_yscale("log")
        ax.set_title(f"{name} ({case['seeds']} seeds)", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    axes[0][0].set_ylabel("median best regret", fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8)
    fig.suptitle("Best-so-far regret vs evaluations (median over seeds; lower is better)")
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


PLOTS: dict[str, Callable[[dict[str, Any], Path], None]] = {
    "utilization": plot_utilization,
    "overhead": plot_overhead,
    "scale": plot_scale,
    "quality": plot_quality,
}


def matplotlib_status() -> str | None:
    """None if plots can be drawn, else why not."""
    if importlib.util.find_spec("matplotlib") is None:
        return "matplotlib is not installed (`pip install -e '.[bench]'`): no plots"
    return None


def plot_all(results_dir: Path) -> list[Path]:
    """Draw every plot whose results exist; returns the PNGs written."""
    if matplotlib_status() is not None:
        return []
    written = []
    for name, draw in PLOTS.items():
        result = _load(results_dir, name)
        if result is None:
            continue
        try:
            path = results_dir / f"{name}.png"
            draw(result, path)
        except (KeyError, TypeError, ValueError):
            continue  # results from an older version of the suite: re-run to plot them
        written.append(path)
    return written
