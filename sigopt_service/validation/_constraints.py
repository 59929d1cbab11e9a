"""An experiment's `linear_constraints`, checked as sigopt-server does
(`handlers/experiments/create.py: get_constraints_from_json`,
`experiment/constraints.py: has_feasible_constraints`).

    "linear_constraints": [{"type": "less_than", "threshold": 1.0,
                            "terms": [{"name": "x", "weight": 1}, {"name": "y", "weight": 1}]}]

Each term names a double or int parameter without conditions, a log transformation or a
grid, at most once per constraint; a constraint has only double or only int terms, and
at least two with a non-zero weight (zero-weight terms are dropped, as SigOpt drops
them); at most `MAX_INT_CONSTRAINT_VARIABLES` int parameters in all. The constraints must
leave a feasible region within the bounds (with an interior, for double ones), or the
create is refused. Stored and returned as SigOpt renders them: `object` keys, terms
sorted by name. User-given assignments must satisfy them (`assignments.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field

from sigopt_service.engine.constraints import LinearConstraint, parse_constraints
from sigopt_service.engine.polytope import Polytope
from sigopt_service.limits import MAX_NAME_LENGTH, MAX_PARAMETERS
from sigopt_service.models import Parameter, ParameterType
from sigopt_service.validation._common import Body, InvalidField, finite

#: libsigopt's `MAX_NUM_INT_CONSTRAINT_VARIABLES`.
MAX_INT_CONSTRAINT_VARIABLES = 10
#: No SigOpt limit (it advises at most 10); ours keeps the feasibility LP small.
MAX_LINEAR_CONSTRAINTS = MAX_PARAMETERS


class ConstraintTermBody(Body):
    name: str | None = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    weight: float
    object: Literal["constraint_term"] | None = None


class LinearConstraintBody(Body):
    type: Literal["greater_than", "less_than"]
    terms: list[ConstraintTermBody] = Field(max_length=MAX_PARAMETERS)
    threshold: float
    object: Literal["linear_constraint"] | None = None


def _refused(message: str, field: str) -> InvalidField:
    return InvalidField(message, field=field, code="invalid_value")


def _term_error(p: Parameter | None, name: str) -> str | None:
    """Why parameter `p` (None: unknown) cannot be a term, in sigopt-server's words."""
    if p is None:
        return f"Variable {name} is not a known parameter"
    if p.type is ParameterType.CATEGORICAL:
        return f"Variable {name} is not a parameter of type `double` or type `int`"
    if p.conditions:
        return f"Constraint cannot be defined on a conditioned parameter {name}"
    if p.transformation == "log":
        return f"Constraint cannot be defined on a log-transformed parameter {name}"
    if p.grid is not None:
        return f"Constraint cannot be defined on a grid parameter {name}"
    return None


def _constraint(
    item: LinearConstraintBody,
    where: str,
    by_name: dict[str, Parameter],
    int_variables: set[str],
) -> dict[str, Any]:
    if not item.terms:
        raise _refused("Constraint must have at least one term", f"{where}.terms")
    kinds = {
        by_name[t.name].type is ParameterType.DOUBLE if t.name in by_name else False
        for t in item.terms
    }
    if len(kinds) > 1:
        raise _refused(
            "Constraint functions cannot mix integers and doubles. One or the other only.",
            f"{where}.terms",
        )
    terms: list[dict[str, Any]] = []
    for k, term in enumerate(item.terms):
        at = f"{where}.terms[{k}]"
        weight = finite(term.weight, f"{at}.weight")
        if weight == 0:
            continue  # no effect on the constraint; SigOpt leaves it out
        if term.name is None:
            raise InvalidField(
                f"Missing required json key `{at}.name`", field=f"{at}.name", code="missing_key"
            )
        p = by_name.get(term.name)
        if p is not None and p.type is ParameterType.INT:
            int_variables.add(term.name)
            if len(int_variables) > MAX_INT_CONSTRAINT_VARIABLES:
                raise _refused(
                    f"SigOpt allows no more than {MAX_INT_CONSTRAINT_VARIABLES}"
                    " integer constraint variables",
                    f"{at}.name",
                )
        error = _term_error(p, term.name)
        if error is not None:
            raise _refused(error, f"{at}.name")
        if any(t["name"] == term.name for t in terms):
            raise _refused(f"Duplicate variable name: {term.name}", f"{at}.name")
        terms.append({"object": "constraint_term", "name": term.name, "weight": weight})
    if len(terms) < 2:
        raise _refused("Constraints should affect at least two parameters", f"{where}.terms")
    return {
        "object": "linear_constraint",
        "type": item.type,
        "threshold": finite(item.threshold, f"{where}.threshold"),
        "terms": sorted(terms, key=lambda t: str(t["name"]).lower()),
    }


def constraints_for_create(
    items: Sequence[LinearConstraintBody] | None, parameters: Sequence[Parameter]
) -> list[dict[str, Any]]:
    """The constraints as stored, refused unless they leave a feasible region."""
    if not items:
        return []
    if len(items) > MAX_LINEAR_CONSTRAINTS:
        raise _refused(
            f"At most {MAX_LINEAR_CONSTRAINTS} `linear_constraints`", "linear_constraints"
        )
    by_name = {p.name: p for p in parameters}
    int_variables: set[str] = set()
    out = [
        _constraint(item, f"linear_constraints[{i}]", by_name, int_variables)
        for i, item in enumerate(items)
    ]
    check_feasible(parameters, parse_constraints(out))
    return out


def check_feasible(
    parameters: Sequence[Parameter], constraints: Sequence[LinearConstraint]
) -> None:
    """Refuse constraints that leave no point within the bounds (no interior point, for
    double constraints, as sigopt-server's `find_interior_point`)."""
    if constraints and Polytope.build(parameters, constraints) is None:
        raise InvalidField(
            "Infeasible constraints or empty set",
            field="linear_constraints",
            code="invalid_value",
            reason="no assignments within the parameters' bounds satisfy every constraint",
        )


def check_update(parameters: Sequence[Parameter], stored: Sequence[dict[str, Any]]) -> None:
    """An experiment update keeps every constrained parameter as a constraint can use it
    and the constraints feasible within the new bounds."""
    constraints = parse_constraints(stored)
    by_name = {p.name: p for p in parameters}
    for constraint in constraints:
        for name in constraint.names:
            error = _term_error(by_name.get(name), name)
            if error is not None:
                raise _refused(
                    f"Parameter {name} is in a linear constraint and must stay a double or"
                    f" int parameter with bounds ({error})",
                    "parameters",
                )
    check_feasible(parameters, constraints)
