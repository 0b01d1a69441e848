"""LipschitzClassifier: constrained training, honest l2 certificates."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from skorch import NeuralNetClassifier

from skrobust.attacks import PGD
from skrobust.certification.lipschitz import LipschitzClassifier, lipschitz_constant
from skrobust.certification.lipschitz._parametrize import AOL
from skrobust.certification.lipschitz._training import hinge_kr, margin_cross_entropy
from skrobust.metrics import make_certified_scorer
from skrobust.nn import MLP, GroupSort

F = torch.nn.functional


def _net(**kwargs):
    params = dict(
        module__hidden_layer_sizes=(32, 32),
        optimizer=torch.optim.Adam,
        lr=0.01,
        max_epochs=15,
        batch_size=64,
        train_split=None,
        verbose=0,
    )
    params.update(kwargs)
    return NeuralNetClassifier(MLP, **params)


@pytest.fixture(scope="module")
def lipschitz_digits(digits_data):
    clf = LipschitzClassifier(_net(), margin=0.5, constraint="aol", random_state=0)
    return clf.fit(digits_data.X_train, digits_data.y_train)


def test_trained_network_is_plain_and_1_lipschitz(lipschitz_digits, digits_data):
    module = lipschitz_digits.estimator_.net_.module_
    assert not any(
        torch.nn.utils.parametrize.is_parametrized(m) for m in module.modules()
    )
    assert any(isinstance(m, GroupSort) for m in module.modules())
    assert not any(isinstance(m, torch.nn.ReLU) for m in module.modules())
    # AOL guarantees a 1-Lipschitz logit map; the certificate computes it
    assert lipschitz_constant(lipschitz_digits) <= 1 + 1e-4
    assert lipschitz_digits.score(digits_data.X_test, digits_data.y_test) > 0.85
    restored = pickle.loads(pickle.dumps(lipschitz_digits))
    np.testing.assert_array_equal(
        restored.predict(digits_data.X_test),
        lipschitz_digits.predict(digits_data.X_test),
    )


def test_certificates_are_sound(lipschitz_digits, digits_data):
    X, y = digits_data.X_test[:200], digits_data.y_test[:200]
    radius = lipschitz_digits.certified_radius(X, y)
    assert np.all(np.isnan(radius) == (lipschitz_digits.predict(X) != y))
    eps = 0.3
    certified = lipschitz_digits.certify(X, y, eps=eps)
    np.testing.assert_array_equal(certified, np.nan_to_num(radius, nan=-1) > eps)
    assert certified.mean() > 0.3
    attack = PGD(
        lipschitz_digits, eps=eps, norm="l2", n_iter=50, n_restarts=5, random_state=0
    )
    X_adv = attack.generate(X[certified], y[certified])
    assert np.all(lipschitz_digits.predict(X_adv) == y[certified])
    # without labels: radii of the predictions, never NaN
    assert not np.isnan(lipschitz_digits.certified_radius(X)).any()


@pytest.mark.parametrize("constraint", ["orthogonal", "spectral"])
def test_other_constraints_and_losses(digits_data, constraint):
    X, y = digits_data.X_train[:400], digits_data.y_train[:400]
    clf = LipschitzClassifier(
        _net(max_epochs=5), constraint=constraint, loss="hinge-kr", random_state=0
    ).fit(X, y)
    assert clf.score(X, y) > 0.5
    if constraint == "orthogonal":  # orthogonal dense layers: exactly 1
        assert lipschitz_constant(clf) == pytest.approx(1.0, rel=1e-3)
    # the certificate reads the trained weights, whatever the constraint promised
    radius = clf.certified_radius(X, y)
    L = lipschitz_constant(clf, margins=True)
    z = clf.decision_function(X)
    top = z.argmax(1)
    gaps = (z[np.arange(len(z)), top][:, None] - z) / np.where(L[top] > 0, L[top], 1)
    gaps[np.arange(len(z)), top] = np.inf
    ok = ~np.isnan(radius)
    np.testing.assert_allclose(radius[ok], gaps.min(1)[ok], rtol=1e-4)


def test_margin_is_grid_searchable(digits_data):
    X, y = digits_data.X_train[:500], digits_data.y_train[:500]
    search = GridSearchCV(
        LipschitzClassifier(_net(max_epochs=4), constraint="aol", random_state=0),
        {"margin": [0.0, 0.6]},
        scoring=make_certified_scorer(radius=0.3),
        cv=2,
    ).fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert scores[1] > scores[0]  # asking for the margin certifies more
    assert clone(search.best_estimator_).get_params()["margin"] == 0.6


def test_losses():
    torch.manual_seed(0)
    z, labels = torch.randn(8, 4), torch.randint(0, 4, (8,))
    # no margin, temperature 1: the cross-entropy
    assert margin_cross_entropy(z, labels, 0.0, 1.0) == pytest.approx(
        F.cross_entropy(z, labels).item()
    )
    # the hinge is zero once every margin exceeds sqrt(2) * margin
    wide = F.one_hot(labels, 4).float() * 10.0
    kr = 10.0  # z_y - z_k for every other class
    assert hinge_kr(wide, labels, 1.0, 5.0).item() == pytest.approx(-kr)
    assert hinge_kr(z, labels, 1.0, 5.0) > hinge_kr(z, labels, 0.0, 5.0)


def test_aol_is_1_lipschitz():
    torch.manual_seed(0)
    W = AOL()(torch.randn(7, 5, dtype=torch.float64))
    assert torch.linalg.matrix_norm(W, ord=2) <= 1 + 1e-12
    conv = torch.nn.Conv2d(3, 4, 3, padding=1, stride=2, groups=1).double()
    with torch.no_grad():
        conv.weight.copy_(AOL()(conv.weight))
        eye = torch.eye(3 * 36, dtype=torch.float64).reshape(-1, 3, 6, 6)
        zero = torch.zeros(1, 3, 6, 6, dtype=torch.float64)
        operator = (conv(eye) - conv(zero)).reshape(len(eye), -1)
    assert torch.linalg.matrix_norm(operator, ord=2) <= 1 + 1e-12
