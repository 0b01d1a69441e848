"""``n_jobs`` of MILP verification: the same answers from parallel programs."""

import joblib
import numpy as np
from sklearn.datasets import load_iris
from sklearn.neural_network import MLPClassifier

from skrobust.certification.mip import certify, verify


def test_parallel_verification_equals_one_by_one():
    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier((8,), solver="lbfgs", max_iter=500, random_state=0)
    clf = clf.fit(X, y)
    X, y = X[::10], y[::10]
    one = verify(clf, X, y, eps=0.3)
    with joblib.parallel_backend("threading"):
        two = verify(clf, X, y, eps=0.3, n_jobs=2)
        certified = certify(clf, X, y, eps=0.3, n_jobs=2)
    assert {"verified", "falsified"} <= set(one.status)  # both kinds decided
    np.testing.assert_array_equal(one.status, two.status)
    np.testing.assert_array_equal(one.counterexample, two.counterexample)
    np.testing.assert_allclose(one.margin_lower, two.margin_lower)
    np.testing.assert_array_equal(certified, one.status == "verified")
