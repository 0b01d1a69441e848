"""Soundness at volume (issue 16): hypothesis draws the points, the norm, the
radius and the bound method; no point of a certified ball may change class,
neither PGD's nor points sampled in the ball (corners included).

Under ``HYPOTHESIS_PROFILE=deep`` (tests/conftest.py) each model gets 1,200
generated cases.
"""

import numpy as np
import pandas as pd
import pytest
from _bound_checks import sample_region
from hypothesis import given, settings
from hypothesis import strategies as st

from skrobust.attacks import PGD
from skrobust.certification import certify

MODELS = ["digits_mlp", "cancer_mlp_pipeline"]


def examples(n):
    """``n`` examples, or the loaded profile's when it asks for more."""
    return max(n, settings.default.max_examples)


def _data(request, name):
    """Test points, their labels, the bounds and the unit of the radius."""
    if name == "digits_mlp":
        d = request.getfixturevalue("digits_data")
        return d.X_test, np.asarray(d.y_test), (0.0, 1.0), 1.0
    d = request.getfixturevalue("cancer_data")
    return d.X_test, np.asarray(d.y_test), None, float(d.X_train.std().median())


@pytest.mark.parametrize("model_name", MODELS)
@settings(max_examples=examples(10))
@given(data=st.data())
def test_no_certified_point_is_broken(request, model_name, data):
    model = request.getfixturevalue(model_name)
    X, y, bounds, unit = _data(request, model_name)
    rows = data.draw(
        st.lists(st.integers(0, len(X) - 1), min_size=1, max_size=8, unique=True)
    )
    norm = data.draw(st.sampled_from(["linf", "l2"]))
    method = data.draw(st.sampled_from(["ibp", "crown-ibp", "crown"]))
    scale = 0.1 if norm == "linf" else 1.0
    eps = data.draw(st.floats(0.002, 1.0)) * scale * unit
    seed = data.draw(st.integers(0, 2**16))
    Xs = X.iloc[rows] if isinstance(X, pd.DataFrame) else X[rows]
    ys = y[rows]
    certified = certify(model, Xs, ys, eps=eps, norm=norm, bounds=bounds, method=method)
    assert certified.dtype == bool and certified.shape == ys.shape
    assert not (certified & (model.predict(Xs) != ys)).any()
    # PGD at the same radius breaks no certified point
    pgd = PGD(model, eps=eps, norm=norm, n_iter=10, bounds=bounds, random_state=seed)
    adversarial = pgd.generate(Xs, ys)
    assert not (certified & (model.predict(adversarial) != ys)).any()
    # nor do sampled points of the certified balls
    if certified.any():
        values = np.asarray(Xs, dtype=np.float64)[certified]
        points = sample_region(values, eps, norm, bounds, n=40, seed=seed)
        if isinstance(X, pd.DataFrame):
            points = pd.DataFrame(points, columns=X.columns)
        else:
            points = points.astype(X.dtype)
        labels = np.repeat(ys[certified], 40)
        np.testing.assert_array_equal(model.predict(points), labels)
