"""SigOpt parameters as an optimization space: Optuna distributions, random draws, grid points.

Built once per experiment (the engine caches a `Space` beside its study) so that each
suggestion only walks precomputed tuples. Assignments always come out with the wire types
SigOpt clients expect: `int` for int parameters, `float` for double, `str` for categorical.

    space = Space.from_experiment(experiment)
    space.distributions           # name -> optuna distribution, for `study.ask(...)`
    space.random_assignments(rng) # no study involved; a parameter's prior, else uniform
    space.grid_point(i)           # i-th point of the cartesian grid, wrapping around

Conditionals (`experiment.conditionals`) are categorical dimensions of their own: a point
holds every conditional's value and only the parameters active under those values
(`Parameter.is_active`), so `to_params` / `to_assignments` / `random_assignments` leave the
inactive ones out, and `distributions_of` gives the distributions of exactly a point's
parameters. Linear constraints make a `Polytope` of the constrained parameters: random
draws keep to it (`random_assignments`) and `feasible` repairs any other point onto it.
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
from sigopt_service.engine.constraints import parse_constraints
from sigopt_service.engine.polytope import Polytope
from sigopt_service.errors import InvalidRequest
from sigopt_service.models import (
    Assignments,
    AssignmentValue,
    Experiment,
    Parameter,
    ParameterType,
)

_Draw = Callable[[random.Random], AssignmentValue]
#: Draws from the box (and the priors) kept only if feasible, before hit-and-run instead:
#: exact for a polytope filling a fair part of the box, cheap for any other.
_REJECTION_TRIES = 16


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


def _param_value(dist: BaseDistribution, value: AssignmentValue) -> Any:
    """`value` inside `dist` (numbers clipped to its bounds), or None if it cannot be."""
    if isinstance(dist, CategoricalDistribution):
        match = next((c for c in dist.choices if c == value), None)
        if match is None or isinstance(value, str) != isinstance(match, str):
            return None
        return match
    if isinstance(value, str):
        return None
    if isinstance(dist, IntDistribution):
        return min(dist.high, max(dist.low, round(value)))
    if isinstance(dist, FloatDistribution):
        return min(dist.high, max(dist.low, float(value)))
    return None  # pragma: no cover - only the three kinds above are built


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
    #: Every parameter's and every conditional's distribution.
    distributions: dict[str, BaseDistribution]
    draws: tuple[tuple[str, _Draw], ...]
    #: Index of each of `parameters` in the list it was built from, so that an error names
    #: the request's key path (`parameters[2].grid`), not the sorted position.
    positions: tuple[int, ...] = ()
    #: The parameters `random_assignments` draws from their prior, not the uniform.
    prior_names: frozenset[str] = frozenset()
    #: (name, values) of each conditional, sorted by name.
    conditionals: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: The linear constraints' feasible region, None without constraints.
    polytope: Polytope | None = None

    @classmethod
    def from_experiment(cls, experiment: Experiment) -> Space:
        return cls.from_parameters(
            experiment.parameters,
            conditionals=experiment.conditionals,
            linear_constraints=experiment.linear_constraints,
        )

    @classmethod
    def from_parameters(
        cls,
        parameters: Sequence[Parameter],
        *,
        conditionals: Sequence[Mapping[str, Any]] = (),
        linear_constraints: Sequence[Mapping[str, Any]] = (),
    ) -> Space:
        # SigOpt sorts parameters by name; the grid order and the draw order depend on it.
        indexed = sorted(enumerate(parameters), key=lambda item: item[1].name)
        ordered = tuple(p for _, p in indexed)
        conditional_axes = tuple(
            sorted((str(c["name"]), tuple(str(v) for v in c["values"])) for c in conditionals)
        )
        distributions: dict[str, BaseDistribution] = {
            name: CategoricalDistribution(values) for name, values in conditional_axes
        }
        distributions.update({p.name: _distribution(p, i) for i, p in indexed})
        constraints = parse_constraints(linear_constraints)
        return cls(
            parameters=ordered,
            distributions=distributions,
            draws=tuple((p.name, _draw(p, i)) for i, p in indexed),
            positions=tuple(i for i, _ in indexed),
            prior_names=frozenset(p.name for p in ordered if _prior_of(p) is not None),
            conditionals=conditional_axes,
            # None also for constraints stored infeasible (never, validation refuses them).
            polytope=Polytope.build(ordered, constraints) if constraints else None,
        )

    @property
    def dims(self) -> int:
        return len(self.parameters) + len(self.conditionals)

    def has_prior(self) -> bool:
        """Whether `random_assignments` draws some parameter from its prior."""
        return bool(self.prior_names)

    def is_numeric_or_categorical(self) -> bool:
        """True when every parameter maps to a plain distribution (no conditions)."""
        return not self.conditionals and all(not p.conditions for p in self.parameters)

    def draws_itself(self) -> bool:
        """Whether the initial design must come from `random_assignments`, not from a
        sampler's own uniform draw: priors and linear constraints shape it."""
        return self.has_prior() or self.polytope is not None

    def active(self, conditional_values: Mapping[str, Any]) -> list[Parameter]:
        """The parameters a point with these conditional values holds, sorted by name."""
        return [p for p in self.parameters if p.is_active(conditional_values)]

    def distributions_of(self, params: Mapping[str, Any]) -> dict[str, BaseDistribution]:
        """The distributions of exactly `params`' names (what `create_trial` needs)."""
        return {name: self.distributions[name] for name in params}

    # -- conversions --------------------------------------------------------------------
    def to_assignments(self, params: Mapping[str, Any]) -> Assignments:
        """Optuna params (sampled or fixed) as wire-typed assignments: the conditionals,
        then the parameters `params` holds (the active ones)."""
        out: Assignments = {name: str(params[name]) for name, _ in self.conditionals}
        out.update(
            {p.name: _wire_value(p, params[p.name]) for p in self.parameters if p.name in params}
        )
        return out

    def to_params(self, assignments: Mapping[str, AssignmentValue]) -> dict[str, Any] | None:
        """Assignments as params inside the distributions, or None if some cannot be.

        SigOpt does not check bounds of user-given assignments, and an experiment update may
        shrink bounds under old points: numeric values are clipped, so the model still learns
        about the nearest point of the space. A missing active parameter, a conditional
        value or category not in the space cannot be mapped and yields None (the caller
        leaves that point out of the model); an inactive parameter is left out.
        """
        params: dict[str, Any] = {}
        for name, values in self.conditionals:
            value = assignments.get(name)
            if not isinstance(value, str) or value not in values:
                return None
            params[name] = value
        # Without conditionals (a space built from the parameters alone) every parameter
        # is required, so the params always match `distributions` whole.
        for p in self.active(params) if self.conditionals else self.parameters:
            if p.name not in assignments:
                return None
            value = _param_value(self.distributions[p.name], assignments[p.name])
            if value is None:
                return None
            params[p.name] = value
        return params

    # -- model-free samplers ------------------------------------------------------------
    def random_assignments(self, rng: random.Random) -> Assignments:
        """A random point: conditionals uniform, then each active parameter from its prior
        or uniform; with linear constraints, a feasible point (see `_REJECTION_TRIES`)."""
        point = self._draw(rng)
        if self.polytope is None:
            return point
        for _ in range(_REJECTION_TRIES):
            if self.polytope.contains(point):
                return point
            point = self._draw(rng)
        return {**point, **self.polytope.sample(rng)}

    def feasible(self, assignments: Assignments) -> Assignments:
        """`assignments` if they satisfy the linear constraints, else the nearest point
        that does (the other parameters kept)."""
        if self.polytope is None or self.polytope.contains(assignments):
            return assignments
        return {**assignments, **self.polytope.nearest(assignments)}

    def _draw(self, rng: random.Random) -> Assignments:
        if not self.conditionals:
            return {name: draw(rng) for name, draw in self.draws}
        point: Assignments = {
            name: values[int(rng.random() * len(values))] for name, values in self.conditionals
        }
        for (name, draw), p in zip(self.draws, self.parameters, strict=True):
            if p.is_active(point):
                point[name] = draw(rng)
        return point

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
