"""The soak's plan: chaos and leak specs, fault rates, paths, and its report rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.fault_proxy import FaultKind

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results" / "soak.json"
OBJECTIVES_SCRIPT = REPO / "benchmarks" / "soak_objectives.py"

#: ~20% of the requests through each proxy get a fault.
FAULT_RATES: dict[FaultKind, float] = {
    "error_500": 0.03,
    "error_502": 0.03,
    "error_503": 0.03,
    "throttle_429": 0.03,
    "drop_before": 0.03,
    "drop_after": 0.03,
    "latency": 0.02,
}


@dataclass(frozen=True)
class SoakSpec:
    budget: int
    wall_target_s: float
    workers: int = 16
    #: One coordinator per entry; the kill -9 target is `victim`.
    kinds: tuple[str, ...] = ("async", "subprocess", "async")
    victim: int = 1
    timeout_s: float = 1.5
    seed: int = 4
    #: Progress fractions (observations / budget) at which chaos strikes, in order.
    chaos: tuple[tuple[float, str], ...] = (
        (0.15, "coordinator"),
        (0.30, "service"),
        (0.50, "coordinator"),
        (0.70, "service"),
    )


FULL = SoakSpec(budget=2000, wall_target_s=900.0)
QUICK = SoakSpec(budget=150, wall_target_s=60.0)


@dataclass(frozen=True)
class LeakBounds:
    """One leak run and its bounds: growth is measured from the first sample past
    `warmup` observations (imports, caches and pools filled) to the largest sample after."""

    evaluations: int
    warmup: int
    kind: str = "async"
    workers: int = 16
    fd_growth: int = 10
    rss_growth_mb: float = 50.0
    #: Most child processes alive at a sample: none for async, one per worker at most.
    children: int = 0


FULL_LEAKS = (
    LeakBounds(evaluations=10_000, warmup=1_000),
    LeakBounds(evaluations=2_000, warmup=300, kind="subprocess", workers=8, children=8),
)
QUICK_LEAKS = (
    LeakBounds(evaluations=1_000, warmup=200),
    LeakBounds(evaluations=600, warmup=100, kind="subprocess", workers=8, children=8),
)


@dataclass(frozen=True)
class Row:
    check: str
    measured: object
    target: str
    ok: bool


@dataclass
class SoakReport:
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    def add(self, check: str, measured: object, target: str, ok: bool) -> None:
        self.rows.append(Row(check, measured, target, ok))
