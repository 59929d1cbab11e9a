"""SigOpt parameters as an optimization space: Optuna distributions, random draws, grid points.

Built once per experiment (the engine caches a `Space` beside its study) so that each
suggestion only walks precomputed tuples. Assignments always come out with the wire types
SigOpt clients expect: `int` for int parameters, `float` for double, `str` for categorical.

    space = Space.from_parameters(experiment.parameters)
    space.distributions           # name -> optuna distribution, for `study.ask(...)`
    space.random_assignments(rng) # no study involved; a parameter's prior, else uniform
    space.grid_point(i)           # i-th point of the cartesian grid, wrapping around
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from sigopt_service.engine._prior import prior_draw
from sigopt_service.errors import InvalidRequest
from sigopt_service.models import Assignments, AssignmentValue, Parameter, ParameterType

_Draw = Callable[[random.Random], AssignmentValue]


def _wire_value(parameter: Parameter, value: Any) -> AssignmentValue:
    """Coerce a sampled value to the type the wire carries for this parameter."""
    if parameter.type is ParameterType.INT:
        return int(value)
    if parameter.type is ParameterType.DOUBLE:
        return float(value)
    return str(value)


def _choices(parameter: Parameter) -> list[AssignmentValue] | None:
    """The finite value set of a parameter (grid or categories), None if it is continuous."""
    if parameter.grid:
        return [_wire_value(parameter, v) for v in sorted(parameter.grid, key=float)]
    if parameter.type is ParameterType.CATEGORICAL:
        return list(parameter.category_names())
    return None


def _bounds(parameter: Parameter, position: int) -> tuple[float, float]:
    """The bounds of a continuous parameter; `position` is its index in the request."""
    if parameter.bounds is None:
        raise InvalidRequest(
            f"Parameter {parameter.name} must have `bounds`",
            field=f"parameters[{position}].bounds",
            code="missing_key",
        )
    return parameter.bounds.min, parameter.bounds.max


def _distribution(parameter: Parameter, position: int) -> BaseDistribution:
    choices = _choices(parameter)
    if choices is not None:
        return CategoricalDistribution(choices)
    low, high = _bounds(parameter, position)
    if parameter.type is ParameterType.INT:
        return IntDistribution(int(low), int(high))
    return FloatDistribution(low, high, log=parameter.transformation == "log")


def _prior_of(parameter: Parameter) -> _Draw | None:
    """The draw from the parameter's prior, if it has a usable one (see `_prior`)."""
    if parameter.prior is None or parameter.bounds is None:
        return None
    return prior_draw(parameter, parameter.bounds.min, parameter.bounds.max)


def _draw(parameter: Parameter, position: int) -> _Draw:
    """A closure drawing one value; closures keep the random path free of branching."""
    choices = _choices(parameter)
    if choices is not None:
        values = tuple(choices)
        return lambda rng: values[int(rng.random() * len(values))]
    low, high = _bounds(parameter, position)
    from_prior = _prior_of(parameter)
    if from_prior is not None:
        return from_prior
    if parameter.type is ParameterType.INT:
        ilow, ihigh = int(low), int(high)
        return lambda rng: rng.randint(ilow, ihigh)
    if parameter.transformation == "log":
        llow, lspan = math.log(low), math.log(high) - math.log(low)
        # exp(log(x)) can land one ulp outside the bounds: clamp.
        return lambda rng: min(high, max(low, math.exp(llow + lspan * rng.random())))
    span = high - low
    return lambda rng: low + span * rng.random()


@dataclass(frozen=True)
class Space:
    """The optimization space of one experiment; immutable, cheap to query."""

    parameters: tuple[Parameter, ...]
    distributions: dict[str, BaseDistribution]
    draws: tuple[tuple[str, _Draw], ...]
    #: Index of each of `parameters` in the list it was built from, so that an error names
    #: the request's key path (`parameters[2].grid`), not the sorted position.
    positions: tuple[int, ...] = ()
    #: The parameters `random_assignments` draws from their prior, not the uniform.
    prior_names: frozenset[str] = frozenset()

    @classmethod
    def from_parameters(cls, parameters: Sequence[Parameter]) -> Space:
        # SigOpt sorts parameters by name; the grid order and the draw order depend on it.
        indexed = sorted(enumerate(parameters), key=lambda item: item[1].name)
        ordered = tuple(p for _, p in indexed)
        return cls(
            parameters=ordered,
            distributions={p.name: _distribution(p, i) for i, p in indexed},
            draws=tuple((p.name, _draw(p, i)) for i, p in indexed),
            positions=tuple(i for i, _ in indexed),
            prior_names=frozenset(p.name for p in ordered if _prior_of(p) is not None),
        )

    @property
    def dims(self) -> int:
        return len(self.parameters)

    def has_prior(self) -> bool:
        """Whether `random_assignments` draws some parameter from its prior."""
        return bool(self.prior_names)

    def is_numeric_or_categorical(self) -> bool:
        """True when every parameter maps to a plain distribution (no conditions)."""
        return all(not p.conditions for p in self.parameters)

    # -- conversions --------------------------------------------------------------------
    def to_assignments(self, params: Mapping[str, Any]) -> Assignments:
        """Optuna params (sampled or fixed) as wire-typed assignments."""
        return {p.name: _wire_value(p, params[p.name]) for p in self.parameters}

    def to_params(self, assignments: Mapping[str, AssignmentValue]) -> dict[str, Any] | None:
        """Assignments as params inside the distributions, or None if some cannot be.

        SigOpt does not check bounds of user-given assignments, and an experiment update may
        shrink bounds under old points: numeric values are clipped, so the model still learns
        about the nearest point of the space. A missing parameter or an unknown category
        cannot be mapped and yields None (the caller leaves that point out of the model).
        """
        params: dict[str, Any] = {}
        for name, dist in self.distributions.items():
            if name not in assignments:
                return None
            value = assignments[name]
            if isinstance(dist, CategoricalDistribution):
                match = next((c for c in dist.choices if c == value), None)
                if match is None or isinstance(value, str) != isinstance(match, str):
                    return None
                params[name] = match
            elif isinstance(value, str):
                return None
            elif isinstance(dist, IntDistribution):
                params[name] = min(dist.high, max(dist.low, round(value)))
            elif isinstance(dist, FloatDistribution):
                params[name] = min(dist.high, max(dist.low, float(value)))
            else:  # pragma: no cover - only the three kinds above are built
                return None
        return params

    # -- model-free samplers ------------------------------------------------------------
    def random_assignments(self, rng: random.Random) -> Assignments:
        return {name: draw(rng) for name, draw in self.draws}

    def grid_axes(self) -> list[tuple[str, list[AssignmentValue]]]:
        """Values per parameter for a grid experiment; InvalidRequest if one is continuous."""
        axes = []
        positions = self.positions or tuple(range(len(self.parameters)))
        for p, position in zip(self.parameters, positions, strict=True):
            choices = _choices(p)
            if choices is None:
                raise InvalidRequest(
                    f"Parameter {p.name} of a grid experiment must have `grid` values",
                    field=f"parameters[{position}].grid",
                    code="missing_key",
                )
            axes.append((p.name, choices))
        return axes


def grid_point(axes: Sequence[tuple[str, Sequence[AssignmentValue]]], index: int) -> Assignments:
    """The `index`-th point of the cartesian product, wrapping around as SigOpt does.

    Mixed-radix decoding instead of `itertools.product`: a grid can be far too large to
    materialize, and the first parameter varies slowest, as in `product`.
    """
    size = math.prod(len(values) for _, values in axes)
    rest = index % size
    point: Assignments = {}
    for name, values in reversed(axes):
        rest, digit = divmod(rest, len(values))
        point[name] = values[digit]
    return {name: point[name] for name, _ in axes}


def grid_size(axes: Sequence[tuple[str, Sequence[AssignmentValue]]]) -> int:
    return math.prod(len(values) for _, values in axes)
