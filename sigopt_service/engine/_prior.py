"""Draws from a parameter's `prior`, for the random experiment type and the model-based
engine's initial design (`space.py`).

- `normal` (`mean`, `scale`): the normal truncated to the bounds, by inverse CDF (one
  `rng.random()` per draw; the standard library's `NormalDist`, no scipy at run time).
  When the bounds hold almost none of its mass (a scale far wider than the bounds) the
  density is flat across them and the draw is uniform.
- `beta` (`shape_a`, `shape_b`): `rng.betavariate` scaled from [0, 1] to the bounds.

Validation (`sigopt_service/validation/_prior.py`) admits priors only on double parameters
without a log transformation or a grid, as SigOpt does. A prior stored before priors were
validated may be anything: one this module cannot use is ignored (uniform draws), never
an error.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from statistics import NormalDist
from typing import Any

from sigopt_service.models import Parameter, ParameterType

PriorDraw = Callable[[random.Random], float]

#: Below this mass within the bounds the truncated normal is uniform to within 1e-11.
_FLAT_MASS = 1e-6
#: `NormalDist.inv_cdf` needs 0 < p < 1.
_P_MIN, _P_MAX = 1e-300, 1.0 - 2.0**-53


def _number(prior: dict[str, Any], key: str) -> float | None:
    value = prior.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def prior_draw(parameter: Parameter, low: float, high: float) -> PriorDraw | None:
    """A draw from `parameter`'s prior within [low, high], or None if it has no usable one."""
    prior = parameter.prior
    if (
        prior is None
        or parameter.type is not ParameterType.DOUBLE
        or parameter.transformation == "log"
        or parameter.grid is not None
    ):
        return None
    if prior.get("name") == "normal":
        mean, scale = _number(prior, "mean"), _number(prior, "scale")
        if mean is None or scale is None or scale <= 0 or not low <= mean <= high:
            return None
        return _truncated_normal(mean, scale, low, high)
    if prior.get("name") == "beta":
        a, b = _number(prior, "shape_a"), _number(prior, "shape_b")
        if a is None or b is None or a <= 0 or b <= 0:
            return None
        return _scaled_beta(a, b, low, high)
    return None


def _truncated_normal(mean: float, scale: float, low: float, high: float) -> PriorDraw:
    dist = NormalDist(mean, scale)
    p_low, p_high = dist.cdf(low), dist.cdf(high)
    mass = p_high - p_low
    span = high - low
    if mass < _FLAT_MASS:
        return lambda rng: low + span * rng.random()

    def draw(rng: random.Random) -> float:
        p = min(_P_MAX, max(_P_MIN, p_low + mass * rng.random()))
        return min(high, max(low, dist.inv_cdf(p)))

    return draw


def _scaled_beta(a: float, b: float, low: float, high: float) -> PriorDraw:
    span = high - low
    return lambda rng: min(high, max(low, low + span * rng.betavariate(a, b)))
