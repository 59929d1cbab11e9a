"""Quickstart objective, run as a subprocess worker: an SVM on scikit-learn's digits data.

    python examples/train_svm.py --C 1.0 --gamma 0.001 --kernel rbf

Prints one JSON line, `{"value": <mean 3-fold CV accuracy>}`, as the worker contract asks.
"""

from __future__ import annotations

import argparse
import json


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--C", type=float, required=True)
    parser.add_argument("--gamma", type=float, required=True)
    parser.add_argument("--kernel", choices=["rbf", "sigmoid", "poly"], required=True)
    args = parser.parse_args()

    from sklearn.datasets import load_digits
    from sklearn.model_selection import cross_val_score
    from sklearn.svm import SVC

    features, labels = load_digits(return_X_y=True)
    model = SVC(C=args.C, gamma=args.gamma, kernel=args.kernel)
    scores = cross_val_score(model, features / 16.0, labels, cv=3, n_jobs=1)
    print(json.dumps({"value": float(scores.mean())}))


if __name__ == "__main__":
    main()
