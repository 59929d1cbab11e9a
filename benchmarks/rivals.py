"""The tools users would pick instead, run on the same workloads: Optuna and Ray Tune.

- Optuna: `study.optimize(objective, n_trials=N, n_jobs=W)`, the way its docs run
  parallel trials in one process (a thread per job), in memory (`InMemoryStorage`) and on
  a SQLite file (`RDBStorage("sqlite:///...")` in a temporary folder). The samplers are
  Optuna's defaults for the counterpart of each of our engines: `TPESampler` for
  `offline`, `RandomSampler` for `random`. The space is the suite's 4 parameters
  (double, log double, int, categorical), as in `benchmarks.common.experiment_body`.
- Ray Tune, only where `import ray` works: `Tuner(..., max_concurrent_trials=W)` with
  `num_samples=N`, in a child process (`python -m benchmarks.rivals ray N W`) so that
  Ray's cluster, logging and signal handlers stay out of the benchmark's process. Ray
  is told to bind 127.0.0.1 and not to send usage statistics.

```python
wall_s = optuna_wall_s("tpe", storage="memory", trials=400, jobs=16, objective="sleep")
```
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any, Literal

import optuna

from benchmarks.objectives import EVALUATION_S

Storage = Literal["memory", "sqlite"]
Sampler = Literal["tpe", "random"]
Objective = Literal["sleep", "noop"]

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _suggest(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "a": trial.suggest_float("a", 0.0, 1.0),
        "b": trial.suggest_float("b", 1e-7, 1e-1, log=True),
        "c": trial.suggest_int("c", 1, 10),
        "d": trial.suggest_categorical("d", ["x", "y", "z"]),
    }


def _value(p: dict[str, Any]) -> float:
    return float((p["a"] - 0.3) ** 2 + (p["c"] - 4.0) ** 2 / 10.0)


def _sleep_objective(trial: optuna.Trial) -> float:
    params = _suggest(trial)
    time.sleep(EVALUATION_S)  # Optuna's n_jobs runs objectives in threads
    return _value(params)


def _noop_objective(trial: optuna.Trial) -> float:
    _suggest(trial)
    return 1.0


def _sampler(kind: Sampler, seed: int) -> optuna.samplers.BaseSampler:
    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


def optuna_wall_s(
    sampler: Sampler,
    *,
    storage: Storage,
    trials: int,
    jobs: int,
    objective: Objective,
    seed: int = 0,
) -> float:
    """Wall time of `study.optimize` alone (storage set-up and study creation excluded)."""
    fn = _sleep_objective if objective == "sleep" else _noop_objective
    with TemporaryDirectory(prefix="bench-optuna-") as folder:
        store: optuna.storages.BaseStorage
        if storage == "sqlite":
            store = optuna.storages.RDBStorage(f"sqlite:///{Path(folder) / 'optuna.db'}")
        else:
            store = optuna.storages.InMemoryStorage()
        study = optuna.create_study(storage=store, sampler=_sampler(sampler, seed))
        start = time.perf_counter()
        study.optimize(fn, n_trials=trials, n_jobs=jobs)
        wall_s = time.perf_counter() - start
        done = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
        if isinstance(store, optuna.storages.RDBStorage):
            store.engine.dispose()
    if done != trials:
        raise RuntimeError(f"optuna finished {done} of {trials} trials")
    return wall_s


# -- Ray Tune ---------------------------------------------------------------------------
def ray_status() -> str | None:
    """None when Ray Tune can be imported, else why not."""
    if importlib.util.find_spec("ray") is None:
        return 'not installed: `pip install "ray[tune]"` is not part of the project'
    return None


def ray_wall_s(trials: int, concurrent: int, *, timeout_s: float = 900.0) -> dict[str, Any]:
    """Run Ray Tune in a child process; its start-up (`ray.init`) is reported apart."""
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_DEDUP_LOGS": "0"}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.rivals", "ray", str(trials), str(concurrent)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=env,
        check=False,
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            result: dict[str, Any] = json.loads(line)
            return result
    raise RuntimeError(f"ray tune run failed ({proc.returncode}): {proc.stderr[-2000:]}")


def _ray_main(trials: int, concurrent: int) -> None:  # pragma: no cover - child process
    import ray
    from ray import tune

    start = time.perf_counter()
    # Logical CPUs: each trial sleeps, so 16 of them fit on 2 cores, as in our run.
    ray.init(
        num_cpus=concurrent,
        include_dashboard=False,
        logging_level=logging.ERROR,
        log_to_driver=False,
        _node_ip_address="127.0.0.1",
    )
    init_s = time.perf_counter() - start

    def objective(config: dict[str, Any]) -> dict[str, float]:
        time.sleep(EVALUATION_S)
        return {"value": _value(config)}

    space = {
        "a": tune.uniform(0.0, 1.0),
        "b": tune.loguniform(1e-7, 1e-1),
        "c": tune.randint(1, 11),
        "d": tune.choice(["x", "y", "z"]),
    }
    with TemporaryDirectory(prefix="bench-ray-") as folder:
        tuner = tune.Tuner(
            objective,
            param_space=space,
            tune_config=tune.TuneConfig(
                num_samples=trials, max_concurrent_trials=concurrent, metric="value", mode="min"
            ),
            run_config=tune.RunConfig(storage_path=folder, verbose=0),
        )
        start = time.perf_counter()
        results = tuner.fit()
        wall_s = time.perf_counter() - start
    ray.shutdown()
    print(
        json.dumps(
            {
                "wall_s": wall_s,
                "init_s": init_s,
                "trials": len(results),
                "errors": results.num_errors,
                "version": ray.__version__,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":  # pragma: no cover
    if len(sys.argv) == 4 and sys.argv[1] == "ray":
        _ray_main(int(sys.argv[2]), int(sys.argv[3]))
    else:
        raise SystemExit("usage: python -m benchmarks.rivals ray TRIALS CONCURRENT")
