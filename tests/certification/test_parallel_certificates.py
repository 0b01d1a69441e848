"""``n_jobs`` in certification: parallel MILP programs and smoothing counts
give the same answers as one process."""

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


def test_smoothing_counts_do_not_depend_on_n_jobs():
    from sklearn.linear_model import LogisticRegression

    from skrobust.certification import RandomizedSmoothingClassifier

    X, y = load_iris(return_X_y=True)  # 150 points: three chunks of 64
    rs = RandomizedSmoothingClassifier(
        LogisticRegression(), sigma=0.5, n_samples=200, n_samples_select=20,
        n_samples_predict=50, random_state=0, n_jobs=1,
    ).fit(X, y)  # fmt: skip
    pred_one, radius_one = rs.certify(X)
    with joblib.parallel_backend("threading"):
        pred_two, radius_two = rs.set_params(n_jobs=2).certify(X)
        proba_two = rs.predict_proba(X)
    np.testing.assert_array_equal(pred_one, pred_two)
    np.testing.assert_array_equal(radius_one, radius_two)
    np.testing.assert_array_equal(proba_two, rs.set_params(n_jobs=1).predict_proba(X))
    assert (radius_one > 0).mean() > 0.5  # real certificates
    # the first chunk keeps random_state's stream: one chunk equals n_jobs=None
    first = rs.set_params(n_jobs=None).certify(X[:64])
    np.testing.assert_array_equal(first[1], rs.set_params(n_jobs=1).certify(X[:64])[1])
    # chunks come back in order: the other noise gives (almost) the same votes
    pred_none, _ = rs.set_params(n_jobs=None).certify(X)
    assert (pred_none == pred_one).mean() > 0.9


def test_parallel_tree_verification_equals_one_by_one():
    from sklearn.ensemble import GradientBoostingClassifier

    X, y = load_iris(return_X_y=True)
    gb = GradientBoostingClassifier(n_estimators=3, max_depth=2, random_state=0)
    gb = gb.fit(X, y)
    X, y = X[::10], y[::10]
    one = verify(gb, X, y, eps=0.3)
    with joblib.parallel_backend("threading"):
        two = verify(gb, X, y, eps=0.3, n_jobs=2)
    assert {"verified", "falsified"} <= set(one.status)
    np.testing.assert_array_equal(one.status, two.status)
    np.testing.assert_array_equal(one.counterexample, two.counterexample)
    np.testing.assert_allclose(one.margin_lower, two.margin_lower)


def test_parallel_minimal_distances_equal_one_by_one():
    from sklearn.ensemble import GradientBoostingClassifier

    from skrobust.certification.mip import certified_radius, minimal_distance

    X, y = load_iris(return_X_y=True)
    mlp = MLPClassifier((8,), solver="lbfgs", max_iter=500, random_state=0)
    gb = GradientBoostingClassifier(n_estimators=3, max_depth=2, random_state=0)
    X_small, y_small = X[::30], y[::30]
    for model in (mlp.fit(X, y), gb.fit(X, y)):
        one = minimal_distance(model, X_small, y_small, max_eps=2.0)
        with joblib.parallel_backend("threading"):
            two = minimal_distance(model, X_small, y_small, max_eps=2.0, n_jobs=2)
            radius = certified_radius(model, X_small, y_small, max_eps=2.0, n_jobs=2)
        assert np.isfinite(one.radius).any()
        np.testing.assert_array_equal(one.radius, two.radius)
        np.testing.assert_array_equal(one.exact, two.exact)
        np.testing.assert_array_equal(one.boundary, two.boundary)
        np.testing.assert_array_equal(radius, one.radius)
