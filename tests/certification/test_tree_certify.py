"""certify / certified_radius(method="milp") on tree ensembles, through the
dispatcher: sound against the tree attacks, exact against the exact attack."""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import QuantileTransformer, StandardScaler

from skrobust.attacks import DecisionTreeExactAttack, LeafTupleAttack
from skrobust.certification import certified_radius, certify
from skrobust.certification.mip import verify

MODELS = {
    "gb": GradientBoostingClassifier(n_estimators=4, max_depth=2, random_state=0),
    "hgb": HistGradientBoostingClassifier(max_iter=3, max_depth=3, random_state=0),
    "scaled-rf": make_pipeline(
        StandardScaler(),
        RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0),
    ),
    "quantile-gb": make_pipeline(
        QuantileTransformer(n_quantiles=20),
        GradientBoostingClassifier(n_estimators=3, max_depth=2, random_state=0),
    ),
}


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    X = X[::12, :5]
    X = (X - X.mean(axis=0)) / X.std(axis=0)  # unit budgets on every feature
    return X, y[::12]


@pytest.mark.parametrize("name", MODELS)
def test_milp_certificates_are_sound_and_exact(cancer, name):
    X, y = cancer
    model = MODELS[name].fit(X, y)
    eps, low, high = 0.3, X.min(axis=0), X.max(axis=0)
    certified = certify(model, X, y, eps=eps, bounds=(low, high), method="milp")
    status = verify(model, X, y, eps=eps, bounds=(low, high)).status
    np.testing.assert_array_equal(certified, status == "verified")
    assert 0 < certified.sum() < (model.predict(X) == y).sum()
    # no tree attack breaks a certified point; the exact one breaks all others
    for attack in (
        LeafTupleAttack(model, eps=eps, bounds=(low, high), random_state=0),
        DecisionTreeExactAttack(model, norm="linf", eps=eps, bounds=(low, high)),
    ):
        broken = model.predict(attack.generate(X, y)) != y
        assert not (broken & certified).any()
    np.testing.assert_array_equal(broken, ~certified)


def test_milp_counterexamples_are_in_the_ball_and_box_and_misclassified(cancer):
    X, y = cancer
    model = MODELS["gb"].fit(X, y)
    mask = [0, 1, 3, 4]
    low, high = X.min(axis=0), X.max(axis=0)
    result = verify(model, X, y, eps=0.3, bounds=(low, high), feature_mask=mask)
    fooled = result.status == "falsified"
    assert fooled.sum() > (model.predict(X) != y).sum()  # points really broken
    C = result.counterexample[fooled]
    assert (np.abs(C - X[fooled]) <= 0.3 + 1e-12).all()
    assert ((C >= low) & (C <= high)).all()
    np.testing.assert_array_equal(C[:, 2], X[fooled, 2])
    assert (model.predict(C) != y[fooled]).all()
    # the dispatcher gives the same answer for the same threat model
    certified = certify(
        model, X, y, eps=0.3, bounds=(low, high), feature_mask=mask, method="milp"
    )
    np.testing.assert_array_equal(certified, result.status == "verified")


@pytest.mark.parametrize("norm", ["linf", "l1"])
def test_milp_radius_is_the_exact_attacks_minimal_norm(cancer, norm):
    X, y = cancer
    model = MODELS["scaled-rf"].fit(X, y)
    X, y = X[:16], y[:16]
    radius = certified_radius(model, X, y, norm=norm, method="milp", max_eps=2.0)
    wrong = model.predict(X) != y
    assert np.isnan(radius[wrong]).all() and not np.isnan(radius[~wrong]).any()
    exact = DecisionTreeExactAttack(model, norm=norm).minimal_norms(X, y)
    np.testing.assert_allclose(
        radius[~wrong], np.minimum(exact[~wrong], 2.0), rtol=1e-6, atol=1e-9
    )
    # certified just inside the radius, not just outside it
    inside = ~wrong & (radius < 2.0)
    for i in np.flatnonzero(inside)[:3]:
        x, label = X[i : i + 1], y[i : i + 1]
        r = radius[i]
        assert certify(model, x, label, eps=0.99 * r, norm=norm, method="milp")[0]
        assert not certify(model, x, label, eps=1.01 * r, norm=norm, method="milp")[0]
