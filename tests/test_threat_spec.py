"""Ambiguous threat-model specs are refused or read by name, never resolved
silently the wrong way (issue 16, finding 4): one parser, ``_threat``."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from skrobust._threat import resolve_constraints
from skrobust.attacks import PGD
from skrobust.certification import certify


@pytest.fixture(scope="module")
def iris_frame():
    data = load_iris(as_frame=True)
    X, y = data.data, data.target.to_numpy()
    return LogisticRegression(max_iter=1000).fit(X, y), X, y


@pytest.mark.parametrize("name", ["feature_mask", "integer_features"])
def test_integer_zero_one_per_feature_is_ambiguous(name):
    spec = [0, 1, 1, 0]  # a mask, or the indices 0 and 1?
    with pytest.raises(ValueError, match="ambiguous.*Pass booleans"):
        resolve_constraints({"eps": 0.1, name: spec}, (4,))
    as_mask = resolve_constraints({"eps": 0.1, name: np.array(spec, bool)}, (4,))
    as_index = resolve_constraints({"eps": 0.1, name: [1, 2]}, (4,))
    if name == "feature_mask":
        np.testing.assert_array_equal(as_mask.scale, as_index.scale)
        np.testing.assert_array_equal(as_mask.scale, [0, 0.1, 0.1, 0])
    else:
        np.testing.assert_array_equal(as_mask.integer, as_index.integer)


def test_ambiguous_mask_refused_by_an_attack(iris_frame):
    clf, X, y = iris_frame
    attack = PGD(clf, eps=0.1, feature_mask=[1, 0, 0, 1], random_state=0)
    with pytest.raises(ValueError, match="ambiguous"):
        attack.generate(X.to_numpy()[:5], y[:5])


def test_eps_series_is_read_by_column_name(iris_frame):
    clf, X, y = iris_frame
    budgets = {name: 0.05 * (i + 1) for i, name in enumerate(X.columns)}
    series = pd.Series(budgets)[::-1]  # another order than X's columns
    by_name = resolve_constraints({"eps": series}, (4,), X.columns)
    np.testing.assert_allclose(by_name.scale, list(budgets.values()))
    np.testing.assert_array_equal(
        certify(clf, X, y, eps=series, method="crown"),
        certify(clf, X, y, eps=budgets, method="crown"),
    )
    # a positional Series (integer index) stays positional
    positional = resolve_constraints({"eps": pd.Series([0.1, 0.2, 0.3, 0.4])}, (4,))
    np.testing.assert_allclose(positional.scale, [0.1, 0.2, 0.3, 0.4])


@pytest.mark.parametrize("direction", [2, [1, 0, -3, 0], {"sepal width (cm)": 0.5}])
def test_direction_outside_minus_one_zero_one_is_refused(iris_frame, direction):
    clf, X, y = iris_frame
    with pytest.raises(ValueError, match="-1 .* 0 .* or \\+1"):
        resolve_constraints({"eps": 0.1, "direction": direction}, (4,), X.columns)
    with pytest.raises(ValueError, match="direction"):
        PGD(clf, eps=0.1, direction=direction).generate(X[:5], y[:5])
