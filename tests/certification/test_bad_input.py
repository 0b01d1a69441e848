"""Bad input to the certificates: a clear error naming the problem, or a
documented conversion with the correct answer (issue 16's matrix, for every
method of ``certify`` / ``certified_radius``)."""

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.neural_network import MLPClassifier

from skrobust import NotDifferentiableError
from skrobust.certification import certified_radius, certify

METHODS = ["ibp", "crown", "lipschitz", "milp"]
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    X = X / 8  # inside [0, 1]
    clf = MLPClassifier((8,), max_iter=2000, random_state=0).fit(X, y)
    return clf, X[::15], y[::15]


@pytest.fixture(scope="module")
def iris_strings():
    """The same network fitted on the class names."""
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])
    clf = MLPClassifier((8,), max_iter=2000, random_state=0).fit(X / 8, names[y])
    return clf, names


def _call(function, clf, X, y, method, **kw):
    if function == "certify":
        return certify(clf, X, y, eps=kw.pop("eps", 0.05), method=method, **kw)
    kw.pop("eps", None)
    return certified_radius(clf, X, y, method=method, max_eps=0.5, **kw)


def _nan(X):
    X = X.copy()
    X[1, 2] = np.nan
    return X


def _inf(X):
    X = X.copy()
    X[0, 0] = np.inf
    return X


# case -> (arguments from (clf, X, y), error type, message)
ERRORS = {
    "NaN in X": (lambda c, X, y: (c, _nan(X), y, {}), ValueError, "NaN or infinity"),
    "inf in X": (lambda c, X, y: (c, _inf(X), y, {}), ValueError, "NaN or infinity"),
    "1-d X": (lambda c, X, y: (c, X[0], y[:1], {}), ValueError, "2-d or more"),
    "wrong n_features": (
        lambda c, X, y: (c, X[:, :3], y, {}),
        ValueError,
        r"samples of shape \(3,\), but the model expects \(4,\)",
    ),
    "object X": (lambda c, X, y: (c, X.astype(object), y, {}), TypeError, "numeric"),
    "y too short": (lambda c, X, y: (c, X, y[:-1], {}), ValueError, "entries for"),
    "unknown label": (
        lambda c, X, y: (c, X, np.full(len(y), 7), {}),
        ValueError,
        "not one of the model's classes",
    ),
    "unknown norm": (lambda c, X, y: (c, X, y, {"norm": "l3"}), ValueError, "norm"),
    "reversed bounds": (
        lambda c, X, y: (c, X, y, {"bounds": (1, 0)}),
        ValueError,
        "lower bounds exceed",
    ),
    "X outside bounds": (
        lambda c, X, y: (c, X, y, {"bounds": (0.5, 1)}),
        ValueError,
        "outside `bounds`",
    ),
    "wrong-length eps": (
        lambda c, X, y: (c, X, y, {"eps": [0.1, 0.1]}),
        ValueError,
        "`eps` has shape",
    ),
    "unfitted estimator": (
        lambda c, X, y: (MLPClassifier(), X, y, {}),
        NotFittedError,
        "not fitted",
    ),
    "non-differentiable estimator": (
        lambda c, X, y: (RandomForestClassifier(3).fit(X, y), X, y, {}),
        NotDifferentiableError,
        "no differentiable torch view",
    ),
}
CERTIFY_ONLY = {"wrong-length eps"}


@pytest.mark.parametrize("function", ["certify", "certified_radius"])
@pytest.mark.parametrize("case", list(ERRORS))
@pytest.mark.parametrize("method", METHODS)
def test_bad_input_is_refused(iris, method, case, function):
    if case in CERTIFY_ONLY and function != "certify":
        pytest.skip("certified_radius takes no eps")
    if case == "non-differentiable estimator" and method == "milp":
        pytest.skip("MILP verifies tree ensembles exactly (test_mip_trees.py)")
    make, error, message = ERRORS[case]
    clf, X, y, kw = make(*iris)
    with pytest.raises(error, match=message):
        _call(function, clf, X, y, method, **kw)


@pytest.mark.parametrize("method", METHODS)
def test_bad_eps_is_refused(iris, method):
    clf, X, y = iris
    for eps in (-0.1, np.nan, np.inf):
        with pytest.raises(ValueError, match="eps must be a non-negative finite"):
            certify(clf, X, y, eps=eps, method=method)


@pytest.mark.parametrize("function", ["certify", "certified_radius"])
@pytest.mark.parametrize("method", METHODS)
def test_documented_conversions(iris, iris_strings, method, function):
    """One row, float16 / int input, string labels; inputs unchanged."""
    clf, X, y = iris
    X_before, y_before = X.copy(), y.copy()
    full = _call(function, clf, X, y, method, bounds=(0, 1))
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)
    assert full.shape == (len(X),)
    # 0 rows: scikit-learn's error (tests/test_zero_rows.py), naming the function
    with pytest.raises(ValueError, match=f"0 sample.*required by {function}"):
        _call(function, clf, X[:0], y[:0], method)
    one = _call(function, clf, X[3:4], y[3:4], method, bounds=(0, 1))
    np.testing.assert_allclose(one, full[3:4], rtol=1e-6)
    # float16 and int inputs are read as their float64 values
    for converted in (X.astype(np.float16), np.round(X * 8).astype(int)):
        np.testing.assert_allclose(
            _call(function, clf, converted, y, method),
            _call(function, clf, converted.astype(np.float64), y, method),
            rtol=1e-6,
        )
    # string labels: the same answers as the integer labels they encode
    strings, names = iris_strings
    np.testing.assert_allclose(
        _call(function, strings, X, names[y], method),
        _call(function, clf, X, y, method),
        rtol=1e-6,
    )
