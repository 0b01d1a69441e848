"""ART's clique verification of tree ensembles: the peer of skrobust's bounds.

Run by ``bench_tree_ensembles.py --peer-python PY`` with an interpreter that
has the Adversarial Robustness Toolbox installed with ``--no-deps`` (plus
numpy, scipy, scikit-learn of the same version as skrobust's environment):
loads the pickled fitted models and the points (features in [0, 1], as ART
requires) and, for each model and l-inf budget, runs
``RobustnessVerificationTreeModelsCliqueMethod.verify`` point by point (one
search step at the budget) and writes which points it certifies and its
seconds to a JSON file.

Usage: ``python peer_art_clique.py DATA.pkl OUT.json``.
"""

import json
import pickle
import sys
import time
import warnings

from art.estimators.classification import SklearnClassifier
from art.metrics import RobustnessVerificationTreeModelsCliqueMethod


def main(data, out):
    warnings.filterwarnings("ignore")
    with open(data, "rb") as f:
        d = pickle.load(f)
    X, y = d["X"], d["y"]
    results = {}
    for name, model in d["models"].items():
        try:
            clique = RobustnessVerificationTreeModelsCliqueMethod(
                SklearnClassifier(model), verbose=False
            )
        except Exception as exc:  # a model ART cannot read
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        for eps in d["eps"]:
            certified, start = [], time.perf_counter()
            for i in range(len(X)):
                _, error = clique.verify(
                    X[i : i + 1], y[i : i + 1], eps_init=eps, nb_search_steps=1
                )
                certified.append(bool(error == 0.0))
            seconds = (time.perf_counter() - start) / len(X)
            results[f"{name}@{eps}"] = {"certified": certified, "seconds": seconds}
    with open(out, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
