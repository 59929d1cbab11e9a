"""Errors as data: every validation error names its key path (`field`) and a stable `code`."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from sigopt_service.engine import Space
from sigopt_service.errors import InvalidRequest
from sigopt_service.models import Experiment, Parameter, ParameterType
from sigopt_service.store import InMemoryStore
from sigopt_service.validation import (
    InvalidField,
    validate_assignments,
    validate_experiment_create,
    validate_experiment_update,
    validate_metadata,
    validate_observation_batch,
    validate_observation_create,
    validate_observation_update,
    validate_suggestion_create,
)
from tests.orchestrator.test_config import BAD_CONFIGS
from tests.sigopt_service.api_cases import EXPERIMENT_CREATE_CASES, PARAMS

VALIDATION_CODES = {"missing_key", "unknown_key", "invalid_value", "invalid_request"}
#: The message forms that quote the very key the error is about.
_NAMES_KEY = re.compile(
    r"(?:Invalid value for|Missing required json key|Unknown json keys) `([^`]+)`"
)


def check_error(exc: InvalidRequest) -> None:
    """The error carries a code, a field, and a field that agrees with the message."""
    assert isinstance(exc, InvalidField), repr(exc)
    assert exc.code in VALIDATION_CODES, repr(exc)
    assert exc.field, repr(exc)
    assert exc.reason, repr(exc)
    if named := _NAMES_KEY.search(exc.message):
        # The key itself, or (in a batch, or an unknown key) the path that ends with it.
        assert exc.field.endswith(named[1]), repr(exc)


def _refused(raw: Any) -> bool:
    try:
        validate_experiment_create(raw)
    except InvalidRequest:
        return True
    return False


def _config_definitions_refused() -> list[tuple[str, dict[str, Any]]]:
    """The experiment definitions (not `id` references) of the config tests' bad cases
    that the service's validation refuses."""
    out = []
    for case, text, key, _ in BAD_CONFIGS:
        if not key or "experiment." not in key:
            continue
        raw = yaml.safe_load(text)["experiment"]
        if isinstance(raw, dict) and "id" not in raw and _refused(raw):
            out.append((case, raw))
    return out


CONFIG_DEFINITIONS_REFUSED = _config_definitions_refused()


def experiment_error(body: dict[str, Any]) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        validate_experiment_create(body)
    check_error(caught.value)
    return caught.value


class TestExperimentCreateFields:
    """Every invalid experiment body raises an error with a code and the key path."""

    @pytest.mark.parametrize(("body", "fragment"), EXPERIMENT_CREATE_CASES)
    def test_api_error_cases(self, body: dict[str, Any], fragment: str) -> None:
        """The bodies the HTTP tests send: message unchanged, field and code set."""
        exc = experiment_error(body)
        assert fragment in exc.message

    @pytest.mark.parametrize(("case", "raw"), CONFIG_DEFINITIONS_REFUSED)
    def test_config_cases(self, case: str, raw: dict[str, Any]) -> None:
        """The experiment definitions of the config tests that the service refuses carry
        a field (the others are refused by the config's own model first)."""
        experiment_error(raw)

    def test_config_cases_are_many(self) -> None:
        """The test above is not vacuous: most experiment cases of the config tests reach
        the service's validation."""
        assert len(CONFIG_DEFINITIONS_REFUSED) >= 10

    @pytest.mark.parametrize(
        ("body", "field", "code", "reason"),
        [
            ({"parameters": PARAMS}, "name", "missing_key", "required key is missing"),
            ({"name": "e", "parameters": PARAMS, "foo": 1}, "foo", "unknown_key", "unknown key"),
            (
                {"name": "e", "parameters": [{**PARAMS[0], "transform": "log"}]},
                "parameters[0].transform",
                "unknown_key",
                "unknown key",
            ),
            (
                {"name": "e", "parameters": [PARAMS[0], {**PARAMS[1], "bounds": {"min": 3}}]},
                "parameters[1].bounds.max",
                "missing_key",
                "required key is missing",
            ),
            (
                {
                    "name": "e",
                    "parameters": [{"name": "x", "type": "double", "bounds": {"min": 2, "max": 1}}],
                },
                "parameters[0].bounds",
                "invalid_value",
                "min (2.0) must be less than max (1.0)",
            ),
            (
                {"name": "e", "parameters": [PARAMS[0], {"name": "y", "type": "double"}]},
                "parameters[1].bounds",
                "missing_key",
                "Parameter y must have `bounds`",
            ),
            (
                {"name": "e", "parameters": [PARAMS[1], PARAMS[0], PARAMS[0]]},
                "parameters[2].name",
                "invalid_value",
                "duplicate parameter name 'x'",
            ),
            (
                {"name": "e", "parameters": []},
                "parameters",
                "invalid_value",
                "must list at least one parameter",
            ),
            (
                {
                    "name": "e",
                    "parameters": PARAMS,
                    "metrics": [{"name": "o"}, {"name": "m", "strategy": "constraint"}],
                    "observation_budget": 5,
                },
                "metrics[1].threshold",
                "missing_key",
                "Constraint metrics must have the threshold field defined",
            ),
            (
                {"name": "e", "parameters": PARAMS, "metrics": ["a", "b"]},
                "observation_budget",
                "missing_key",
                None,
            ),
            (
                {"name": "e", "parameters": PARAMS, "metrics": [{"name": "m", "threshold": 1e400}]},
                "metrics[0].threshold",
                "invalid_value",
                "inf is not a finite number",
            ),
            (
                {"name": "e", "parameters": PARAMS, "type": "grid", "observation_budget": 4},
                "parameters[0].grid",
                "missing_key",
                None,
            ),
            (
                {
                    "name": "e",
                    "parameters": [{"name": "g", "type": "int", "grid": [1, 1.5]}],
                },
                "parameters[0].grid[1]",
                "invalid_value",
                "must be an integer",
            ),
            (
                {"name": "e", "parameters": [{**PARAMS[1], "default_value": 9.5}]},
                "parameters[0].default_value",
                "invalid_value",
                "n must be an integer",
            ),
            (
                {"name": "e", "parameters": PARAMS, "metadata": {"k": "v" * 501}},
                "metadata.k",
                "invalid_value",
                None,
            ),
        ],
    )
    def test_exact_field_code_and_reason(
        self, body: dict[str, Any], field: str, code: str, reason: str | None
    ) -> None:
        """The key path is the request's own (list indices as sent, not as sorted)."""
        exc = experiment_error(body)
        assert (exc.field, exc.code) == (field, code), repr(exc)
        if reason is not None:
            assert isinstance(exc, InvalidField) and exc.reason == reason


@pytest.fixture
def experiment() -> Experiment:
    body = {
        "name": "e",
        "parameters": PARAMS,
        "metrics": [{"name": "a"}, {"name": "b"}],
        "observation_budget": 9,
    }
    return InMemoryStore().create_experiment(validate_experiment_create(body))


class TestOtherResources:
    """Observations, suggestions, metadata and assignments name their keys too."""

    @pytest.mark.parametrize(
        ("body", "field", "code"),
        [
            (
                {"values": [{"name": "a", "value": 1}, {"name": "b", "value": 2}]},
                "suggestion",
                "missing_key",
            ),
            ({"suggestion": "1x", "failed": True}, "suggestion", "invalid_value"),
            ({"suggestion": 1}, "value", "missing_key"),
            ({"suggestion": 1, "value": 1.0}, "value", "invalid_value"),
            ({"suggestion": 1, "value_stddev": 1.0}, "value", "missing_key"),
            (
                {
                    "suggestion": 1,
                    "values": [{"name": "zz", "value": 1}, {"name": "b", "value": 1}],
                },
                "values[0].name",
                "invalid_value",
            ),
            (
                {"suggestion": 1, "values": [{"name": "a", "value": 1}, {"name": "a", "value": 1}]},
                "values[1].name",
                "invalid_value",
            ),
            (
                {
                    "suggestion": 1,
                    "values": [{"name": "a", "value": 1}, {"name": "b", "value": 1e999}],
                },
                "values[1].value",
                "invalid_value",
            ),
            ({"suggestion": 1, "failed": True, "colour": 1}, "colour", "unknown_key"),
            ({"assignments": {"x": 0.5, "n": 1}, "failed": True}, "assignments.c", "missing_key"),
            (
                {"assignments": {"x": 0.5, "n": 1, "c": "a", "q": 1}, "failed": True},
                "assignments.q",
                "unknown_key",
            ),
            (
                {"assignments": {"x": 0.5, "n": 1.5, "c": "a"}, "failed": True},
                "assignments.n",
                "invalid_value",
            ),
            (
                {"suggestion": 1, "failed": True, "metadata": {"k": [1]}},
                "metadata.k",
                "invalid_value",
            ),
        ],
    )
    def test_observation(
        self, experiment: Experiment, body: dict[str, Any], field: str, code: str
    ) -> None:
        with pytest.raises(InvalidRequest) as caught:
            validate_observation_create(experiment, body)
        check_error(caught.value)
        assert (caught.value.field, caught.value.code) == (field, code), repr(caught.value)

    def test_batch_prefixes_the_item(self, experiment: Experiment) -> None:
        """A batch item's error names `observations[i].` + its key; the message is as before."""
        good = {"suggestion": 1, "failed": True}
        bad = {"suggestion": 1, "values": [{"name": "a", "value": 1}, {"name": "b", "value": "x"}]}
        with pytest.raises(InvalidRequest) as caught:
            validate_observation_batch(experiment, {"observations": [good, bad]})
        exc = caught.value
        check_error(exc)
        assert exc.field == "observations[1].values[1].value"
        assert exc.message.startswith(
            "Error in observation 2/2: Invalid value for `values[1].value`"
        )
        for body, field, code in [
            ({"observations": [good], "x": 1}, "x", "unknown_key"),
            ({}, "observations", "missing_key"),
            ({"observations": [1]}, "observations[0]", "invalid_value"),
            (
                {"observations": [{**good, "next_suggestion": {}}]},
                "observations[0].next_suggestion",
                "invalid_request",
            ),
        ]:
            with pytest.raises(InvalidRequest) as caught:
                validate_observation_batch(experiment, body)
            assert (caught.value.field, caught.value.code) == (field, code), repr(caught.value)

    def test_update_suggestion_metadata_and_experiment_update(self, experiment: Experiment) -> None:
        cases: list[tuple[Any, str, str]] = [
            (
                lambda: validate_observation_update(experiment, True, False, {"value": 1}),
                "value",
                "invalid_value",
            ),
            (
                lambda: validate_observation_update(experiment, True, False, {"failed": False}),
                "values",
                "missing_key",
            ),
            (lambda: validate_suggestion_create({"assignment": {}}), "assignment", "unknown_key"),
            (lambda: validate_metadata({"k": object()}), "metadata.k", "invalid_value"),
            (
                lambda: validate_metadata({str(i): 1 for i in range(101)}),
                "metadata",
                "invalid_value",
            ),
            (
                lambda: validate_assignments(experiment, {"x": 1, "n": 1, "c": "z"}),
                "assignments.c",
                "invalid_value",
            ),
            (
                lambda: validate_experiment_update(experiment, {"parameters": [{"name": "zz"}]}),
                "parameters[0].default_value",  # a new parameter needs one (issue 18)
                "missing_key",
            ),
            (
                lambda: validate_experiment_update(
                    experiment, {"metrics": [{"name": "a", "x": 1}]}
                ),
                "metrics[0].x",
                "unknown_key",  # SigOpt's metric keys only (issue 18)
            ),
            (
                lambda: validate_experiment_update(
                    experiment, {"parameters": [{"name": "x", "bounds": {"min": 5, "max": 1}}]}
                ),
                "parameters[0].bounds",
                "invalid_value",
            ),
        ]
        for call, field, code in cases:
            with pytest.raises(InvalidRequest) as caught:
                call()
            check_error(caught.value)
            assert (caught.value.field, caught.value.code) == (field, code), repr(caught.value)


class TestSpaceErrors:
    """The search space names the request's index of a parameter, not its sorted one."""

    def test_grid_without_values(self) -> None:
        parameters = [
            Parameter(name="z", type=ParameterType.INT, grid=[1, 2]),
            Parameter(name="a", type=ParameterType.DOUBLE, bounds={"min": 0, "max": 1}),
        ]
        with pytest.raises(InvalidRequest) as caught:
            Space.from_parameters(parameters).grid_axes()
        assert (caught.value.field, caught.value.code) == ("parameters[1].grid", "missing_key")

    def test_missing_bounds(self) -> None:
        parameters = [
            Parameter(name="z", type=ParameterType.INT, grid=[1, 2]),
            Parameter(name="a", type=ParameterType.DOUBLE),
        ]
        with pytest.raises(InvalidRequest) as caught:
            Space.from_parameters(parameters)
        assert caught.value.message == "Parameter a must have `bounds`"
        assert (caught.value.field, caught.value.code) == ("parameters[1].bounds", "missing_key")
