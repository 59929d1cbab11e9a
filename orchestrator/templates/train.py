"""The objective of tune.yaml, written by `orchestrator init`: one run of this script per
suggestion, as `python train.py --x1 <value> --x2 <value>`.

It prints its result as the last line of stdout, one JSON object mapping each metric of
tune.yaml to a number. A non-zero exit, or no such line, is reported as a failed
observation (stderr.log in the evaluation's folder says why) and the run goes on.
Replace `train` with your own training; try it alone first:

    python train.py --x1 1.0 --x2 2.0
"""

from __future__ import annotations

import argparse
import json
import math
import time


def train(x1: float, x2: float) -> float:
    """A stand-in for training: the Branin function (its minimum is 0.397887), after a
    short sleep so that the workers visibly run side by side."""
    time.sleep(0.5)
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def main() -> None:
    parser = argparse.ArgumentParser(description="Train once; print the loss as JSON.")
    parser.add_argument("--x1", type=float, required=True)
    parser.add_argument("--x2", type=float, required=True)
    args = parser.parse_args()
    loss = train(args.x1, args.x2)
    print(json.dumps({"loss": loss}))


if __name__ == "__main__":
    main()
