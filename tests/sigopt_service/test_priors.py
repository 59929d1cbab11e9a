"""Issue 15, item 1: a double parameter's `prior` is validated as sigopt-server does
(`parameters/from_json.py`) and used: the `random` experiment type and the model-based
engine's startup phase draw that parameter from its prior, not the uniform."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from scipy import stats
from sigopt import Connection
from sigopt.exception import ApiException
from sigopt.ratelimit import failed_status_rate_limit

from sigopt_service.engine import Engine
from sigopt_service.engine.space import Space
from sigopt_service.models import Parameter
from sigopt_service.store import InMemoryStore
from sigopt_service.usecases import suggest_and_store
from tests.sigopt_service.api_cases import refused_body
from tests.sigopt_service.engine_helpers import make_experiment, observe, study_of

X = dict(name="x", type="double", bounds=dict(min=0.0, max=1.0))
NORMAL = dict(name="normal", mean=0.5, scale=0.05)
BETA = dict(name="beta", shape_a=2.0, shape_b=5.0)
N = 200
#: Kolmogorov-Smirnov critical value for n = 200 at the 0.1% level: 1.95 / sqrt(200).
KS_CRITICAL = 0.138


def ks(sample: Sequence[float], cdf: Callable[[float], float]) -> float:
    """The Kolmogorov-Smirnov statistic of `sample` against `cdf`."""
    xs = sorted(sample)
    n = len(xs)
    return max(max((i + 1) / n - cdf(x), cdf(x) - i / n) for i, x in enumerate(xs))


def normal_cdf(low: float, high: float) -> Callable[[float], float]:
    a, b = (low - 0.5) / 0.05, (high - 0.5) / 0.05
    return lambda x: float(stats.truncnorm.cdf(x, a, b, loc=0.5, scale=0.05))


def beta_cdf(low: float, high: float) -> Callable[[float], float]:
    return lambda x: float(stats.beta.cdf(x, 2.0, 5.0, loc=low, scale=high - low))


def uniform_cdf(low: float, high: float) -> Callable[[float], float]:
    return lambda x: min(1.0, max(0.0, (x - low) / (high - low)))


def refused(
    conn: Connection, prior: Any, parameter: dict[str, Any] | None = None
) -> tuple[str | None, str | None]:
    """`field` and `code` of the 400 answering a create whose second parameter (a double
    on [0, 1] unless `parameter` says otherwise) has `prior`."""
    second = dict(parameter or dict(X, name="y"), prior=prior)
    body = refused_body(lambda: conn.experiments().create(name="prior", parameters=[X, second]))
    return body.get("field"), body.get("code")


class TestValidation:
    """Priors SigOpt refuses are a 400 naming the field; valid ones are kept as sent."""

    @pytest.mark.parametrize(
        ("prior", "field", "code"),
        [
            (dict(NORMAL, mean=1.5), "parameters[1].prior.mean", "invalid_value"),
            (dict(NORMAL, mean=-0.01), "parameters[1].prior.mean", "invalid_value"),
            (dict(NORMAL, scale=0), "parameters[1].prior.scale", "invalid_value"),
            (dict(NORMAL, scale=-1), "parameters[1].prior.scale", "invalid_value"),
            (dict(NORMAL, mean="0.5"), "parameters[1].prior.mean", "invalid_value"),
            (dict(name="normal", mean=0.5), "parameters[1].prior.scale", "missing_key"),
            (dict(NORMAL, shape_a=1.0), "parameters[1].prior.shape_a", "unknown_key"),
            (dict(NORMAL, object="beta_prior"), "parameters[1].prior.object", "invalid_value"),
            (dict(BETA, shape_a=0), "parameters[1].prior.shape_a", "invalid_value"),
            (dict(BETA, shape_b=-2), "parameters[1].prior.shape_b", "invalid_value"),
            (dict(BETA, mean=0.5), "parameters[1].prior.mean", "unknown_key"),
            (dict(name="uniform"), "parameters[1].prior.name", "invalid_value"),
            (dict(mean=0.5, scale=0.1), "parameters[1].prior.name", "missing_key"),
            ("normal", "parameters[1].prior", "invalid_value"),
        ],
    )
    def test_invalid_prior(self, conn: Connection, prior: Any, field: str, code: str) -> None:
        assert refused(conn, prior) == (field, code)

    @pytest.mark.parametrize(
        "parameter",
        [
            dict(name="y", type="int", bounds=dict(min=0, max=5)),
            dict(name="y", type="categorical", categorical_values=["a", "b"]),
            dict(name="y", type="double", grid=[0.1, 0.5, 0.9]),
            dict(X, name="y", bounds=dict(min=0.01, max=1.0), transformation="log"),  # as SigOpt
        ],
        ids=["int", "categorical", "grid", "log"],
    )
    def test_not_on_this_parameter(self, conn: Connection, parameter: dict[str, Any]) -> None:
        assert refused(conn, NORMAL, parameter) == ("parameters[1].prior", "invalid_value")

    def test_valid_priors_kept_as_sent(self, conn: Connection) -> None:
        normal = dict(NORMAL, object="normal_prior")
        parameters = [dict(X, prior=normal), dict(X, name="y", prior=BETA)]
        e = conn.experiments().create(name="prior", parameters=parameters)
        priors = [p.prior.to_json() for p in conn.experiments(e.id).fetch().parameters]
        assert priors == [normal, BETA]

    def test_update_checks_the_same(self, conn: Connection) -> None:
        eid = conn.experiments().create(name="prior", parameters=[dict(X, prior=NORMAL)]).id
        for body, field in [
            (dict(name="x", prior=dict(NORMAL, scale=-1)), "parameters[0].prior.scale"),
            (dict(name="x", prior=dict(name="cauchy")), "parameters[0].prior.name"),
            # New bounds that leave the kept prior's mean outside: nothing invalid is stored.
            (dict(name="x", bounds=dict(min=0.6, max=1.0)), "parameters[0].prior.mean"),
        ]:
            with pytest.raises(ApiException) as info:
                conn.experiments(eid).update(parameters=[body])
            failed_status_rate_limit.clear()
            assert (info.value.status_code, info.value.to_json()["field"]) == (400, field)
        assert conn.experiments(eid).fetch().parameters[0].prior.to_json() == NORMAL
        e = conn.experiments(eid).update(parameters=[dict(name="x", prior=BETA)])
        assert e.parameters[0].prior.to_json() == BETA
        e = conn.experiments(eid).update(parameters=[dict(name="x", prior=None)])
        assert e.parameters[0].prior is None


def first_suggestions(conn: Connection, **experiment: Any) -> dict[str, list[float]]:
    """The first `N` suggestions of a new experiment, per parameter, none observed."""
    e = conn.experiments().create(name="prior", **experiment)
    drawn = [conn.experiments(e.id).suggestions().create().assignments for _ in range(N)]
    return {name: [float(a[name]) for a in drawn] for name in drawn[0]}


class TestDrawnFromThePrior:
    """The first suggestions follow the prior (KS statistic below the 0.1% critical value)
    and not the uniform (far above it); a parameter without a prior stays uniform. The
    service's seed is fixed (`service_config`), so the statistics are too: measured 0.041
    (normal) and 0.056 (beta) against the prior, 0.38 and 0.39 against the uniform."""

    @pytest.mark.parametrize("kind", ["random", "offline"])
    @pytest.mark.parametrize(
        ("prior", "bounds", "cdf"),
        [(NORMAL, (0.0, 1.0), normal_cdf), (BETA, (-2.0, 3.0), beta_cdf)],
        ids=["normal", "beta"],
    )
    def test_first_suggestions(
        self,
        conn: Connection,
        kind: str,
        prior: dict[str, Any],
        bounds: tuple[float, float],
        cdf: Callable[[float, float], Callable[[float], float]],
    ) -> None:
        low, high = bounds
        x = dict(X, bounds=dict(min=low, max=high), prior=prior)
        # `offline` is model-based: with nothing observed it stays in its startup phase.
        drawn = first_suggestions(conn, type=kind, parameters=[x, X | dict(name="u")])
        assert all(low <= v <= high for v in drawn["x"])
        assert ks(drawn["x"], cdf(low, high)) < KS_CRITICAL
        assert ks(drawn["x"], uniform_cdf(low, high)) > 2 * KS_CRITICAL
        assert ks(drawn["u"], uniform_cdf(0.0, 1.0)) < KS_CRITICAL


class TestModelBasedStartup:
    """The startup points come from the prior and are told like any other observation;
    once enough are observed, the sampler's model takes over (no more fixed points)."""

    def test_startup_then_model(self) -> None:
        store = InMemoryStore()
        engine = Engine(store, seed=3, use_gp=False)
        parameters = [dict(X, prior=NORMAL)]
        experiment = make_experiment(store, parameters, metrics=[{"name": "loss"}])
        n_startup = 8  # clamp(dims + 2, 8, 30), see `_model._n_startup_trials`
        for _ in range(n_startup + 3):
            suggestion = suggest_and_store(engine, store, experiment)
            x = float(suggestion.assignments["x"])
            observe(engine, store, experiment, suggestion, (x - 0.4) ** 2)
        assert engine._models[int(experiment.id)].n_startup == n_startup
        trials = study_of(engine, experiment).get_trials(deepcopy=False)
        fixed = ["fixed_params" in t.system_attrs for t in trials]
        assert fixed == [True] * n_startup + [False] * 3
        assert all(t.values is not None for t in trials)  # the model learns from all


class TestSpace:
    """Draws stay within the bounds in every corner; a prior the engine cannot use (one
    stored before priors were validated) means uniform draws, never an error."""

    @pytest.mark.parametrize(
        "prior",
        [
            dict(NORMAL, mean=0.0),  # half the normal cut off
            dict(NORMAL, mean=1.0, scale=1e-9),  # all the mass at the upper bound
            dict(NORMAL, scale=1e12),  # flat across the bounds: uniform
            dict(BETA, shape_a=0.01, shape_b=0.01),  # mass at both ends
        ],
    )
    def test_within_bounds(self, prior: dict[str, Any]) -> None:
        space = Space.from_parameters([Parameter.model_validate(dict(X, prior=prior))])
        rng = random.Random(5)
        drawn = [float(space.random_assignments(rng)["x"]) for _ in range(2000)]
        assert space.has_prior() and all(0.0 <= v <= 1.0 for v in drawn)

    @pytest.mark.parametrize(
        "prior",
        [
            dict(name="cauchy"),
            dict(NORMAL, mean=7.0),
            dict(NORMAL, scale="wide"),
            dict(BETA, shape_b=0),
        ],
    )
    def test_unusable_prior_is_uniform(self, prior: dict[str, Any]) -> None:
        with_prior = Space.from_parameters([Parameter.model_validate(dict(X, prior=prior))])
        without = Space.from_parameters([Parameter.model_validate(X)])
        a, b = random.Random(9), random.Random(9)
        assert not with_prior.has_prior()
        assert [with_prior.random_assignments(a) for _ in range(5)] == [
            without.random_assignments(b) for _ in range(5)
        ]
