"""`PUT /experiments/{id}` with `parameters`: the list is replaced as sent, as sigopt-server's
`handlers/experiments/update.py` does it.

A parameter left out is deleted; a new one (or one coming back after its deletion) must
have a `default_value`; a kept one takes the keys sent (bounds, grid, categories, default,
prior) and keeps its type, transformation and conditions. A category keeps its
`enum_index`; a new category gets the next one.
"""

from __future__ import annotations

from typing import Any

from sigopt_service.models import CategoricalValue, Experiment, ExperimentType, Parameter
from sigopt_service.validation._common import InvalidField, validate
from sigopt_service.validation.parameter import ParameterBody, parameter


def _not_allowed(message: str, field: str) -> InvalidField:
    return InvalidField(message, field=field, code="invalid_value")


def updated_parameters(experiment: Experiment, items: list[Any] | None) -> list[Parameter]:
    if items is None:
        raise _not_allowed("Invalid value for `parameters`: must be a list", "parameters")
    if experiment.type is ExperimentType.GRID:
        raise _not_allowed(
            "Parameters cannot be updated for experiments of type `grid`.", "parameters"
        )
    if not items:
        raise _not_allowed("Experiments must have at least one parameter.", "parameters")
    names = [item.get("name") if isinstance(item, dict) else None for item in items]
    dupes = sorted({str(n) for n in names if n is not None and names.count(n) > 1})
    if dupes:
        second = [i for i, n in enumerate(names) if n == dupes[0]][1]
        raise _not_allowed(f"Duplicate parameter names: {dupes}", f"parameters[{second}].name")
    current = {p.name: p for p in experiment.parameters}
    out: list[Parameter] = []
    for i, item in enumerate(items):
        where = f"parameters[{i}]"
        if not isinstance(item, dict):
            raise _not_allowed(f"Invalid value for `{where}`: must be an object", where)
        old = current.get(item.get("name"))  # type: ignore[arg-type]
        out.append(_new(item, i) if old is None else _kept(old, item, i))
    return sorted(out, key=lambda p: p.name)


def _new(item: dict[str, Any], i: int) -> Parameter:
    """A parameter the experiment does not have (or no longer has): its default value
    stands in for it in the observations made before it existed."""
    if item.get("default_value") is None:
        raise InvalidField(
            "New parameters must have default values."
            " Please add a default_value field to the new parameter(s)."
            " Or if you are using the web dashboard fill out the Default Value field.",
            field=f"parameters[{i}].default_value",
            code="missing_key",
        )
    return parameter(validate(ParameterBody, item, f"parameters[{i}]"), i)


def _kept(old: Parameter, item: dict[str, Any], i: int) -> Parameter:
    where = f"parameters[{i}]"
    if "conditions" in item and _conditions(item["conditions"]) != (old.conditions or None):
        raise _not_allowed("Conditions cannot be updated for parameters", f"{where}.conditions")
    if item.get("type") is not None and item["type"] != old.type.value:
        raise _not_allowed(
            f"`type` attribute on parameter {old.name} must remain {old.type.value}",
            f"{where}.type",
        )
    sent_log = item.get("transformation")
    if sent_log is not None and (sent_log == "log") != (old.transformation == "log"):
        raise _not_allowed(
            f"`transformation` attribute on parameter {old.name}"
            f" must remain {old.transformation or 'none'}",
            f"{where}.transformation",
        )
    merged = old.model_dump(mode="json", exclude_none=True, exclude={"object"})
    if "grid" in item and item.get("bounds") is None:
        merged.pop("bounds", None)  # a grid's bounds are derived from it
    if "bounds" in item and "grid" not in item:
        merged.pop("grid", None)
    if "categorical_values" in item:
        merged.pop("categorical_values", None)
    merged.update({k: v for k, v in item.items() if v is not None and k != "conditions"})
    if "prior" in item and item["prior"] is None:
        merged.pop("prior", None)  # null clears the prior
    grid, bounds = merged.get("grid"), merged.get("bounds")
    if grid and isinstance(bounds, dict) and _derived(grid, bounds):
        merged.pop("bounds")  # echoed back as we answered it
    built = parameter(validate(ParameterBody, merged, where), i)
    if old.categorical_values is None or built.categorical_values is None:
        return built
    return built.model_copy(update={"categorical_values": _stable(old, built)})


def _conditions(sent: Any) -> Any:
    """Sent `conditions` as stored (a lone value is a list of one), to compare."""
    if not isinstance(sent, dict) or not sent:
        return sent or None
    return {k: [v] if isinstance(v, str) else v for k, v in sent.items()}


def _derived(grid: Any, bounds: dict[str, Any]) -> bool:
    try:
        return bool(bounds.get("min") == min(grid) and bounds.get("max") == max(grid))
    except TypeError:
        return False


def _stable(old: Parameter, built: Parameter) -> list[CategoricalValue]:
    """The categories of `built`, each keeping the `enum_index` it had in `old`."""
    known = {c.name: c.enum_index for c in old.categorical_values or []}
    next_index = max(known.values(), default=0) + 1
    out = []
    for name in built.category_names():  # sorted by name, as on create
        index = known.get(name)
        if index is None:
            index, next_index = next_index, next_index + 1
        out.append(CategoricalValue(name=name, enum_index=index))
    return out
