"""A training script written for `sigopt optimize`, run unchanged by `orchestrator run`
(configs/sigopt_script.yaml): it reads its parameters from `sigopt.params` and reports
with `sigopt.log_metric`, or gives up with `sigopt.log_failure()`. The same file runs
under SigOpt's own CLI:

    sigopt optimize -e experiment.yml python examples/sigopt_optimize_script.py

The model is a stand-in (a noisy quadratic of the learning rate and depth), so the
example needs nothing beyond the `sigopt` package.
"""

from __future__ import annotations

import math
import random

import sigopt


def train(learning_rate: float, depth: int, optimizer: str) -> float:
    """Validation accuracy of the stand-in model."""
    penalty = (math.log10(learning_rate) + 2.0) ** 2 * 0.05 + (depth - 5) ** 2 * 0.01
    bonus = 0.02 if optimizer == "adam" else 0.0
    return 0.95 - penalty + bonus + random.gauss(0.0, 0.005)


def main() -> None:
    learning_rate = sigopt.params.learning_rate
    depth = sigopt.params.depth
    optimizer = sigopt.params.optimizer
    sigopt.log_metadata("framework", "stand-in")
    if learning_rate > 0.3:
        # Diverges: no metric to report, the suggestion is a failed observation.
        sigopt.log_failure()
        return
    accuracy = train(learning_rate, depth, optimizer)
    for epoch in range(1, 4):
        sigopt.log_checkpoint({"accuracy": accuracy * epoch / 3})
    sigopt.log_metric("accuracy", accuracy)


if __name__ == "__main__":
    main()
