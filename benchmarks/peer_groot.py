"""GROOT (groot-trees) robust forest: the peer of skrobust's GROOT-style forest.

Run by ``bench_tree_ensembles.py --groot-peer-python PY`` with an interpreter
that has ``groot-trees`` installed (with numba): loads the standardised
training features and labels and the test points (``DATA.npz``), fits
``GrootRandomForestClassifier`` with an l-inf attack model of ``eps`` in
every feature (the same units), and writes its fit seconds, its predictions on
the test points and every tree's nodes (compiled arrays: children, feature,
threshold, leaf value in [-1, 1]) to ``OUT.npz``, so that skrobust's exact
tree MILP can verify the forest outside this interpreter. With ``--predict``
it instead loads the pickled forest and writes its predictions on ``X``
(a black-box ``predict`` for attacks).

Usage: ``python peer_groot.py DATA.npz OUT.npz`` or
``python peer_groot.py --predict MODEL.pkl X.npy OUT.npy``.
"""

import pickle
import sys
import time
import types

import numpy as np

# groot-trees imports ``numpy.lib.function_base`` (gone in numpy 2): the alias
if "numpy.lib.function_base" not in sys.modules:
    shim = types.ModuleType("numpy.lib.function_base")
    shim.iterable = np.iterable
    sys.modules["numpy.lib.function_base"] = shim

from groot.model import GrootRandomForestClassifier  # noqa: E402


def fit(data, out):
    d = np.load(data)
    n_trees, depth, eps = int(d["n_trees"]), int(d["max_depth"]), float(d["eps"])
    forest = GrootRandomForestClassifier(
        n_estimators=n_trees,
        max_depth=depth,
        attack_model=[eps] * d["X_train"].shape[1],
        random_state=0,
    )
    forest.fit(d["X_train"][:2], d["y_train"][:2])  # numba compilation, not timed
    start = time.perf_counter()
    forest.fit(d["X_train"], d["y_train"])
    seconds = time.perf_counter() - start
    arrays = {"fit_seconds": seconds, "predict": forest.predict(d["X_test"])}
    for i, tree in enumerate(forest.estimators_):
        c = tree.compiled_root_
        for name in ("left_ids", "right_ids", "features", "thresholds", "values"):
            arrays[f"{i}_{name}"] = np.asarray(getattr(c, name))
    arrays["n_trees"] = len(forest.estimators_)
    np.savez(out, **arrays)
    with open(str(out) + ".pkl", "wb") as f:
        pickle.dump(forest, f)


def predict(model, X, out):
    with open(model, "rb") as f:
        forest = pickle.load(f)
    np.save(out, forest.predict(np.load(X)))


if __name__ == "__main__":
    if sys.argv[1] == "--predict":
        predict(*sys.argv[2:5])
    else:
        fit(sys.argv[1], sys.argv[2])
