"""Multisolution: an experiment's `num_solutions` on create, with sigopt-server's rules
and wording (`handlers/experiments/create.py`: `_check_budget_required`,
`_check_conditionals_viability`, `_check_multisolution_viability`). Conditionals and
tasks are refused with it where those are checked (`experiment.py`, `_tasks.py`)."""

from __future__ import annotations

from sigopt_service.models import Metric, MetricStrategy
from sigopt_service.validation._common import InvalidField


def num_solutions_for_create(
    num_solutions: int | None, *, budget: int | None, metrics: list[Metric]
) -> int:
    """How many solutions the experiment looks for: 1 unless more are asked for, which
    needs a budget of at least that many observations and exactly one optimized metric."""
    if num_solutions is None or num_solutions == 1:
        return 1
    if budget is None:
        raise InvalidField(
            "observation_budget is required for an experiment with more than one solution",
            field="observation_budget",
            code="missing_key",
        )
    if num_solutions > budget:
        raise InvalidField(
            "Observation budget needs to be larger than the number of solutions",
            field="num_solutions",
            code="invalid_value",
        )
    if sum(m.strategy is MetricStrategy.OPTIMIZE for m in metrics) != 1:
        raise InvalidField(
            "Multisolution experiments require exactly one optimized metric",
            field="num_solutions",
            code="invalid_value",
        )
    return num_solutions
