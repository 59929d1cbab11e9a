"""The `metrics` of an experiment: SigOpt's rules on create and on update, in the wording
of sigopt-server's `handlers/experiments/create.py` and `update.py` (clients match on
messages such as "Duplicate metric name: NAME")."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from sigopt_service.limits import MAX_CONSTRAINT_METRICS, MAX_NAME_LENGTH, MAX_OPTIMIZED_METRICS
from sigopt_service.models import Metric, MetricStrategy, Objective
from sigopt_service.validation._common import Body, InvalidField, NameStr, finite, validate


class MetricBody(Body):
    name: NameStr | None = Field(default=None, min_length=1, max_length=MAX_NAME_LENGTH)
    objective: Literal["maximize", "minimize"] = "maximize"
    strategy: Literal["optimize", "store", "constraint"] = "optimize"
    threshold: float | None = None
    object: Literal["metric"] | None = None


def _about_metrics(message: str, field: str = "metrics") -> InvalidField:
    """A rule about the metrics as a whole (counts, names), not one metric's key."""
    return InvalidField(message, field=field, code="invalid_value")


def _check_threshold(m: Metric, optimized: int, where: str) -> None:
    """SigOpt's threshold rules for one metric of an experiment with `optimized` of them."""
    if m.threshold is not None:
        finite(m.threshold, where)
    if m.strategy is MetricStrategy.CONSTRAINT and m.threshold is None:
        raise InvalidField(
            "Constraint metrics must have the threshold field defined",
            field=where,
            code="missing_key",
        )
    if m.strategy is MetricStrategy.STORE and m.threshold is not None:
        raise _about_metrics("Thresholds cannot be specified on stored metrics", where)
    if m.strategy is MetricStrategy.OPTIMIZE and optimized == 1 and m.threshold is not None:
        raise _about_metrics(
            "Thresholds are only supported for experiments with more than one optimized metric."
            " Try an All-Constraint experiment instead by setting `strategy` to `constraint`.",
            where,
        )


def _counts(metrics: list[Metric]) -> tuple[int, int]:
    optimized = sum(m.strategy is MetricStrategy.OPTIMIZE for m in metrics)
    return optimized, sum(m.strategy is MetricStrategy.CONSTRAINT for m in metrics)


def metrics_for_create(raw: list[Any] | None, budget: int | None) -> list[Metric]:
    """The metrics of a new experiment: absent or null is one unnamed optimized metric;
    an experiment of constraint metrics only (SigOpt's search experiment) is allowed."""
    if raw is None:
        return [Metric(name=None)]
    if not raw:
        raise _about_metrics("The `metrics` list must contain a metric")
    metrics: list[Metric] = []
    for i, item in enumerate(raw):
        at = f"metrics[{i}]"
        body = validate(MetricBody, {"name": item} if isinstance(item, str) else item, at)
        metrics.append(
            Metric(
                name=body.name,
                objective=Objective(body.objective),
                strategy=MetricStrategy(body.strategy),
                threshold=body.threshold,
            )
        )
    optimized, constraints = _counts(metrics)
    if optimized > MAX_OPTIMIZED_METRICS:
        raise _about_metrics(
            f"Experiments must have at most {MAX_OPTIMIZED_METRICS} optimized metrics"
        )
    if constraints > MAX_CONSTRAINT_METRICS:
        raise _about_metrics(
            f"Experiments must have at most {MAX_CONSTRAINT_METRICS} constraint metrics"
        )
    seen: set[str | None] = set()
    for i, m in enumerate(metrics):  # in request order, so indices name the request's keys
        if m.name is None and len(metrics) > 1:
            raise InvalidField(
                "Multimetric experiments do not support unnamed metrics",
                field="metrics",
                code="missing_key",
            )
        if m.name in seen:
            raise _about_metrics(f"Duplicate metric name: {m.name}", f"metrics[{i}].name")
        seen.add(m.name)
        _check_threshold(m, optimized, f"metrics[{i}].threshold")
    if not optimized and not constraints:
        raise _about_metrics("Experiments must have optimized or constraint metrics")
    if budget is None and (optimized > 1 or constraints):
        kind = "more than one optimized metric" if optimized > 1 else "constraint metrics"
        raise InvalidField(
            f"observation_budget is required for an experiment with {kind}",
            field="observation_budget",
            code="missing_key",
        )
    return sorted(metrics, key=lambda m: m.name or "")


def metrics_for_update(current: list[Metric], raw: list[Any]) -> list[Metric]:
    """The metrics after `PUT /experiments/{id}` with `metrics`: the same metrics (number,
    names, objectives, strategies), whose thresholds may change (null clears one)."""
    bodies = [
        validate(MetricBody, {"name": item} if isinstance(item, str) else item, f"metrics[{i}]")
        for i, item in enumerate(raw)
    ]
    for i, body in enumerate(bodies):
        if body.threshold is not None:
            finite(body.threshold, f"metrics[{i}].threshold")
    if len(bodies) != len(current):
        raise _about_metrics("Changing the number of metrics is forbidden")
    if len(current) == 1:
        given = bodies[0].name if "name" in bodies[0].model_fields_set else current[0].name
        pairs = [(0, bodies[0], current[0])] if given == current[0].name else []
    else:
        for i, body in enumerate(bodies):
            if "name" not in body.model_fields_set:
                raise InvalidField(
                    "The `name` field must be specified for every metric in experiments "
                    "with more than one metric",
                    field=f"metrics[{i}].name",
                    code="missing_key",
                )
        by_name = {m.name: m for m in current}
        pairs = [(i, b, by_name[b.name]) for i, b in enumerate(bodies) if b.name in by_name]
    if len(pairs) != len(current) or len({id(m) for _, _, m in pairs}) != len(current):
        raise _about_metrics("Changing the name of a metric is forbidden")
    optimized, _ = _counts(current)
    updated: dict[str | None, Metric] = {}
    for i, body, metric in pairs:
        sent = body.model_fields_set
        if "objective" in sent and body.objective != metric.objective.value:
            raise _about_metrics(
                "Changing the objective of a metric is forbidden", f"metrics[{i}].objective"
            )
        if "strategy" in sent and body.strategy != metric.strategy.value:
            raise _about_metrics(
                "Changing the strategy of a metric is forbidden", f"metrics[{i}].strategy"
            )
        new = metric
        if "threshold" in sent:
            new = metric.model_copy(update={"threshold": body.threshold})
        _check_threshold(new, optimized, f"metrics[{i}].threshold")
        updated[metric.name] = new
    return [updated[m.name] for m in current]
