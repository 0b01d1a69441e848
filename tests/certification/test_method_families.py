"""certify / certified_radius reach the Lipschitz and MILP families by method."""

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.neural_network import MLPClassifier

from skrobust.certification import certified_radius, certify, lipschitz, mip


@pytest.fixture(scope="module")
def iris_mlp():
    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier((8,), max_iter=3000, random_state=0).fit(X, y)
    return clf, X[::10], y[::10]


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_lipschitz_method(iris_mlp, norm):
    clf, X, y = iris_mlp
    own = lipschitz.certified_radius(clf, X, y, norm=norm)
    radius = certified_radius(clf, X, y, norm=norm, method="lipschitz", max_eps=0.5)
    np.testing.assert_array_equal(np.isnan(radius), np.isnan(own))
    ok = ~np.isnan(own)
    np.testing.assert_allclose(radius[ok], np.minimum(own[ok], 0.5))
    for eps in (0.05, 0.2):
        np.testing.assert_array_equal(
            certify(clf, X, y, eps=eps, norm=norm, method="lipschitz"),
            np.nan_to_num(own, nan=-1) > eps,
        )
    # freezing features leaves a smaller set: radii can only grow
    frozen = certified_radius(
        clf, X, y, norm=norm, method="lipschitz", feature_mask=[0, 1], max_eps=9.0
    )
    assert np.all(frozen[ok] >= np.minimum(own[ok], 9.0) - 1e-12)


def test_milp_method(iris_mlp):
    clf, X, y = iris_mlp
    for eps in (0.1, 0.3):
        np.testing.assert_array_equal(
            certify(clf, X, y, eps=eps, method="milp"),
            mip.certify(clf, X, y, eps=eps),
        )
    radius = certified_radius(clf, X, y, method="milp", max_eps=1.0)
    np.testing.assert_allclose(
        radius, mip.certified_radius(clf, X, y, max_eps=1.0), equal_nan=True
    )
    # the exact radius is never below a sound bound's
    crown = certified_radius(clf, X, y, method="crown", max_eps=1.0)
    ok = ~np.isnan(radius)
    assert np.all(crown[ok] <= radius[ok] + 1e-6)
    with pytest.raises(ValueError, match="method must be one of"):
        certify(clf, X, y, eps=0.1, method="exact")
