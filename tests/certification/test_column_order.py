"""Certificates read a DataFrame's columns as the model was fitted on them."""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skrobust.certification import certified_radius


@pytest.fixture(scope="module")
def frame_model():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X, y = X.iloc[:60, :5], y[:60]
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    return model, X, y


@pytest.mark.parametrize("method", ["ibp", "crown", "lipschitz", "milp"])
def test_reordered_columns_get_sklearns_error(frame_model, method):
    model, X, y = frame_model
    # a permutation whose values would be silently misread by position
    shuffled = X[[X.columns[i] for i in (1, 0, 2, 4, 3)]]
    with pytest.raises(ValueError, match="feature names"):
        certified_radius(model, shuffled, y, method=method, max_eps=1.0)
    reversed_ = X[X.columns[::-1]]  # a negative-stride view once crashed torch
    with pytest.raises(ValueError, match="feature names"):
        certified_radius(model, reversed_, y, method=method, max_eps=1.0)


def test_strided_arrays_read_as_their_copies():
    X, y = load_breast_cancer(return_X_y=True)
    X, y = X[:60, :5], y[:60]
    flipped = X[:, ::-1]  # negative strides
    model = LogisticRegression(max_iter=1000).fit(flipped.copy(), y)
    np.testing.assert_array_equal(
        certified_radius(model, flipped, y), certified_radius(model, flipped.copy(), y)
    )
