"""An experiment's `linear_constraints` as the engine and validation read them, and the one
predicate that says whether assignments satisfy them.

Stored as SigOpt renders them (`validation/_constraints.py` builds that form):

    {"object": "linear_constraint", "type": "greater_than" | "less_than", "threshold": t,
     "terms": [{"object": "constraint_term", "name": "x", "weight": w}, ...]}

`greater_than` means `sum(w * x) >= t`, `less_than` means `sum(w * x) <= t`, as
sigopt-server's `constraint_satisfied` checks them, in plain floating point. Every
suggestion the engine makes is checked with `violated_constraint` before it leaves, the
same function that refuses a user's assignments, so the guarantee and the refusal agree
to the last bit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sigopt_service.models import AssignmentValue

ConstraintType = Literal["greater_than", "less_than"]
_SYMBOLS = {"greater_than": ">=", "less_than": "<="}


@dataclass(frozen=True)
class LinearConstraint:
    """`sum(weight * assignments[name]) >= threshold` (greater_than) or `<=` (less_than)."""

    type: ConstraintType
    threshold: float
    terms: tuple[tuple[str, float], ...]

    @classmethod
    def from_wire(cls, stored: Mapping[str, Any]) -> LinearConstraint:
        kind = stored["type"]
        assert kind in _SYMBOLS, kind  # validation stores nothing else
        terms = tuple((str(t["name"]), float(t["weight"])) for t in stored["terms"])
        return cls(type=kind, threshold=float(stored["threshold"]), terms=terms)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.terms)

    def lhs(self, assignments: Mapping[str, AssignmentValue]) -> float:
        return sum(weight * float(assignments[name]) for name, weight in self.terms)

    def is_satisfied(self, assignments: Mapping[str, AssignmentValue]) -> bool:
        lhs = self.lhs(assignments)
        if self.type == "greater_than":
            return lhs >= self.threshold
        return lhs <= self.threshold

    def __str__(self) -> str:
        """As sigopt-server writes it: `3.4234 * f + 3.0 * b >= 4.0`."""
        lhs = " + ".join(f"{weight} * {name}" for name, weight in self.terms)
        return f"{lhs} {_SYMBOLS[self.type]} {self.threshold}"


def parse_constraints(stored: Iterable[Mapping[str, Any]]) -> tuple[LinearConstraint, ...]:
    return tuple(LinearConstraint.from_wire(c) for c in stored)


def violated_constraint(
    constraints: Sequence[LinearConstraint], assignments: Mapping[str, AssignmentValue]
) -> int | None:
    """The index of the first constraint `assignments` break, or None if they satisfy all.
    Every constrained parameter must be in `assignments` (they have no conditions)."""
    for i, constraint in enumerate(constraints):
        if not constraint.is_satisfied(assignments):
            return i
    return None
