"""The feasible region of an experiment's linear constraints: the box of the constrained
parameters cut by the constraints' half-spaces, and the three things done with it.

- `Polytope.build`: at create time (validation) and per cached `Space` (engine). One
  mixed-integer LP finds the anchor: the point deepest inside the constraints (Chebyshev
  centre; for the int parameters, the lattice point farthest from their constraints). No
  such point, or no interior for the double constraints: `None`, which validation turns
  into sigopt-server's "Infeasible constraints or empty set".
- `sample`: a random point, by hit-and-run from the anchor (uniform over the polytope in
  the limit), for the `random` type and the model's initial design when drawing from the
  box and keeping feasible points keeps failing (a thin polytope).
- `nearest`: the feasible point closest to a proposal (L1 plus L-infinity, in units of
  each parameter's range, so a move is spread over the parameters rather than dumped on
  one), by a mixed-integer LP: exact for int parameters, where rounding is not.

The guarantee: whatever these return passes `violated_constraint` (the check user-given
assignments get), because every result is checked with it and, should the solvers'
tolerances leave a point a hair outside, it is pulled towards the anchor, which passed the
same check when the polytope was built. Constraints never mix int and double parameters
(validation refuses it), so the int and double parts are independent problems solved in one.

scipy's HiGHS (`scipy.optimize.milp`) does the LPs. Hit-and-run is twenty lines of numpy,
written here: the packaged polytope samplers (hopsy, a compiled toolbox; dingo-walk) are
built for metabolic networks of thousands of dimensions, a heavy dependency for a walk
over a handful of parameters.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from sigopt_service.engine.constraints import LinearConstraint as Constraint
from sigopt_service.engine.constraints import violated_constraint
from sigopt_service.models import AssignmentValue, Parameter, ParameterType

#: Below this margin (in units of the parameters' ranges) double constraints have no interior.
_MIN_INTERIOR = 1e-9
#: Hit-and-run steps per draw: a burn-in from the anchor, grown with the dimension.
_STEPS_BASE, _STEPS_PER_DIM = 20, 8
#: Pulls towards the anchor of a point that misses the exact check by a solver tolerance.
_PULLS = (1 - 1e-9, 1 - 1e-6, 1 - 1e-3, 0.9, 0.5, 0.0)

Point = dict[str, AssignmentValue]


@dataclass(frozen=True, eq=False)
class Polytope:
    """{x : low <= x <= high, every constraint holds} over the constrained parameters."""

    names: tuple[str, ...]
    low: np.ndarray
    high: np.ndarray
    integer: np.ndarray
    #: Rows of `a @ x <= b`, one per constraint (greater_than negated).
    a: np.ndarray
    b: np.ndarray
    constraints: tuple[Constraint, ...]
    #: Satisfies every constraint by the exact check; start and fallback of everything.
    anchor: Point

    @classmethod
    def build(
        cls, parameters: Sequence[Parameter], constraints: Sequence[Constraint]
    ) -> Polytope | None:
        """The polytope, or None if the constraints leave no feasible point (no interior
        for double constraints, no lattice point for int ones). Each constrained
        parameter is an int or double with bounds (validation sees to it)."""
        by_name = {p.name: p for p in parameters}
        names = tuple(sorted({n for c in constraints for n in c.names}))
        bounds = [by_name[n].bounds for n in names]
        assert all(b is not None for b in bounds), "constrained parameters have bounds"
        low = np.array([b.min for b in bounds if b is not None], dtype=float)
        high = np.array([b.max for b in bounds if b is not None], dtype=float)
        integer = np.array([by_name[n].type is ParameterType.INT for n in names])
        index = {n: i for i, n in enumerate(names)}
        a = np.zeros((len(constraints), len(names)))
        b = np.zeros(len(constraints))
        for r, constraint in enumerate(constraints):
            sign = -1.0 if constraint.type == "greater_than" else 1.0
            for name, weight in constraint.terms:
                a[r, index[name]] = sign * weight
            b[r] = sign * constraint.threshold
        shell = cls(names, low, high, integer, a, b, tuple(constraints), {})
        anchor = shell._deepest_point()
        if anchor is None or violated_constraint(constraints, anchor) is not None:
            return None
        return cls(names, low, high, integer, a, b, tuple(constraints), anchor)

    def __repr__(self) -> str:
        return f"<Polytope {len(self.constraints)} constraints over {', '.join(self.names)}>"

    def contains(self, assignments: Mapping[str, AssignmentValue]) -> bool:
        return violated_constraint(self.constraints, assignments) is None

    # -- the LPs --------------------------------------------------------------------
    def _scaled(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Doubles in units of their range from `low` (z in [0, 1]), ints as they are (so
        that integrality means integer values): `x = offset + scale * z`."""
        scale = np.where(self.integer, 1.0, self.high - self.low)
        offset = np.where(self.integer, 0.0, self.low)
        return scale, offset, self.a * scale

    def _deepest_point(self) -> Point | None:
        """max t_d + t_i over (z, t_d, t_i): every double row (and each double's bounds)
        keeps a margin t_d, every int row a margin t_i >= 0; None if infeasible (or if
        the numbers are past what double precision computes: weights of 1e300)."""
        with np.errstate(all="ignore"):
            return self._deepest_point_unguarded()

    def _deepest_point_unguarded(self) -> Point | None:
        d = len(self.names)
        scale, offset, a_z = self._scaled()
        b_z = self.b - self.a @ offset
        if not (np.all(np.isfinite(a_z)) and np.all(np.isfinite(b_z))):
            return None
        int_row = np.array([all(self.integer[self.a[r] != 0]) for r in range(len(self.b))])
        norms = np.linalg.norm(a_z, axis=1)
        rows = np.zeros((len(self.b), d + 2))
        rows[:, :d] = a_z
        rows[:, d] = np.where(int_row, 0.0, norms)
        rows[:, d + 1] = np.where(int_row, norms, 0.0)
        # The double parameters' own bounds keep the margin too: t_d <= z <= 1 - t_d.
        doubles = np.flatnonzero(~self.integer)
        box = np.zeros((2 * len(doubles), d + 2))
        for k, i in enumerate(doubles):
            box[2 * k, i], box[2 * k, d] = -1.0, 1.0
            box[2 * k + 1, i], box[2 * k + 1, d] = 1.0, 1.0
        box_rhs = np.tile([0.0, 1.0], len(doubles))
        has_double_rows = bool((~int_row).any())
        solution = milp(
            c=np.r_[np.zeros(d), -1.0, -1.0],
            integrality=np.r_[self.integer.astype(int), 0, 0],
            bounds=Bounds(
                np.r_[np.where(self.integer, self.low, 0.0), 0.0, 0.0],
                np.r_[
                    np.where(self.integer, self.high, 1.0),
                    0.5 if has_double_rows else 0.0,
                    # A unit from every int constraint is deep enough; a wider cap
                    # (the range, up to 2^53) leaves HiGHS numerically lost.
                    1.0 if int_row.any() else 0.0,
                ],
            ),
            constraints=LinearConstraint(np.vstack([rows, box]), -np.inf, np.r_[b_z, box_rhs]),
        )
        if solution.status != 0 or solution.x is None:
            return None
        if has_double_rows and solution.x[d] < _MIN_INTERIOR:
            return None
        return self._point(offset + scale * solution.x[:d])

    def nearest(self, target: Mapping[str, AssignmentValue]) -> Point:
        """The feasible point nearest `target` (which holds every constrained name)."""
        with np.errstate(all="ignore"):  # extreme bounds: `_checked` falls back
            return self._nearest(target)

    def _nearest(self, target: Mapping[str, AssignmentValue]) -> Point:
        d = len(self.names)
        scale, offset, a_z = self._scaled()
        goal = (np.array([float(target[n]) for n in self.names]) - offset) / scale
        span = (self.high - self.low) / scale  # a move's cost: z units per unit of range
        # Variables (z, e, m): e_i >= |z_i - goal_i| / span_i, m >= every e_i.
        eye = np.diag(1.0 / span)
        rows = np.block(
            [
                [a_z, np.zeros((len(self.b), d)), np.zeros((len(self.b), 1))],
                [eye, -np.eye(d), np.zeros((d, 1))],
                [-eye, -np.eye(d), np.zeros((d, 1))],
                [np.zeros((d, d)), np.eye(d), -np.ones((d, 1))],
            ]
        )
        rhs = np.r_[self.b - self.a @ offset, goal / span, -goal / span, np.zeros(d)]
        solution = milp(
            c=np.r_[np.zeros(d), np.ones(d), 1.0],
            integrality=np.r_[self.integer.astype(int), np.zeros(d + 1)],
            bounds=Bounds(
                np.r_[np.where(self.integer, self.low, 0.0), np.zeros(d + 1)],
                np.r_[np.where(self.integer, self.high, 1.0), np.full(d + 1, np.inf)],
            ),
            constraints=LinearConstraint(rows, -np.inf, rhs),
        )
        if solution.status != 0 or solution.x is None:
            return dict(self.anchor)  # cannot happen for a polytope `build` returned
        return self._checked(offset + scale * solution.x[:d])

    # -- hit-and-run ----------------------------------------------------------------
    def sample(self, rng: random.Random) -> Point:
        """A random feasible point: hit-and-run from the anchor on the continuous
        relaxation (in units of each range), ints rounded, then `nearest` if rounding
        broke a constraint."""
        with np.errstate(all="ignore"):  # extreme bounds: `nearest` falls back
            return self._sample(rng)

    def _sample(self, rng: random.Random) -> Point:
        span = self.high - self.low
        a_u, b_u = self.a * span, self.b - self.a @ self.low
        u = (np.array([float(self.anchor[n]) for n in self.names]) - self.low) / span
        d = len(self.names)
        for _ in range(_STEPS_BASE + _STEPS_PER_DIM * d):
            direction = np.array([rng.gauss(0.0, 1.0) for _ in range(d)])
            lo, hi = _chord(u, direction, a_u, b_u)
            if hi > lo:
                u = np.clip(u + (lo + (hi - lo) * rng.random()) * direction, 0.0, 1.0)
        point = self._point(self.low + span * u)
        return point if self.contains(point) else self.nearest(point)

    # -- points ---------------------------------------------------------------------
    def _point(self, x: np.ndarray) -> Point:
        x = np.clip(x, self.low, self.high)
        return {
            n: (round(float(v)) if is_int else float(v))
            for n, v, is_int in zip(self.names, x, self.integer, strict=True)
        }

    def _checked(self, x: np.ndarray) -> Point:
        """`x` as a point passing the exact check: as it is, else its doubles pulled
        towards the anchor (its ints kept if they pass, else the anchor's)."""
        if not np.all(np.isfinite(x)):
            return dict(self.anchor)  # bounds past double precision's reach
        point = self._point(x)
        if self.contains(point):
            return point
        anchor = np.array([float(self.anchor[n]) for n in self.names])
        # A constraint is over ints only or doubles only: its first term says which.
        int_rules = [c for c in self.constraints if self._is_int(c.names[0])]
        ints_ok = all(c.is_satisfied(point) for c in int_rules)
        for s in _PULLS:
            pulled = np.where(self.integer, x if ints_ok else anchor, anchor + s * (x - anchor))
            candidate = self._point(pulled)
            if self.contains(candidate):
                return candidate
        return dict(self.anchor)

    def _is_int(self, name: str) -> bool:
        return bool(self.integer[self.names.index(name)])


def _chord(
    u: np.ndarray, direction: np.ndarray, a_u: np.ndarray, b_u: np.ndarray
) -> tuple[float, float]:
    """The t for which `u + t * direction` stays in [0, 1]^d and `a_u @ x <= b_u`."""
    lo, hi = -math.inf, math.inf
    for i, step in enumerate(direction):
        if step > 0:
            lo, hi = max(lo, -u[i] / step), min(hi, (1 - u[i]) / step)
        elif step < 0:
            lo, hi = max(lo, (1 - u[i]) / step), min(hi, -u[i] / step)
    rate = a_u @ direction
    slack = b_u - a_u @ u
    for r, change in enumerate(rate):
        if change > 1e-15:
            hi = min(hi, slack[r] / change)
        elif change < -1e-15:
            lo = max(lo, slack[r] / change)
    return lo, hi
