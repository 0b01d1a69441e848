"""Carlini-Wagner L2: minimal perturbations, binary search, targets, errors."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from skrobust import NotDifferentiableError
from skrobust.attacks import PGD, CarliniWagnerL2, LinearExactAttack


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    mlp = MLPClassifier((32,), max_iter=300, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X[:800], y[:800])
    linear = LogisticRegression(max_iter=2000).fit(X[:800], y[:800])
    return X[800:830], y[800:830], mlp, linear


def _cw(model, **kwargs):
    # fewer, larger Adam steps than the reference (10,000 of 0.01) keep tests fast
    kwargs = {"max_iter": 300, "learning_rate": 0.1, **kwargs}
    return CarliniWagnerL2(model, bounds=(0, 1), **kwargs)


def _l2(X_adv, X):
    return np.linalg.norm(X_adv - X, axis=1)


def test_cw_finds_smaller_perturbations_than_pgd_needs(digits):
    X, y, mlp, _ = digits
    ok = mlp.predict(X) == y
    norms = _cw(mlp, max_iter=500, learning_rate=0.01).minimal_norms(X, y)
    assert np.isfinite(norms[ok]).all()
    # the smallest budget (on a grid of 0.05) at which PGD-l2 breaks each point
    need = np.full(len(y), np.inf)
    for eps in np.arange(0.05, 3.0, 0.05):
        pgd = PGD(mlp, eps=eps, norm="l2", n_iter=30, bounds=(0, 1), random_init=False)
        broken = mlp.predict(pgd.set_params(early_stop=True).generate(X, y)) != y
        need = np.where(broken & np.isinf(need), eps, need)
    assert np.median(norms[ok]) < np.median(need[ok])
    assert np.mean(norms[ok] <= need[ok]) >= 0.9


def test_cw_output_is_the_smallest_success_and_stays_in_bounds(digits):
    X, y, mlp, _ = digits
    X, y = X[:15], y[:15]
    attack = _cw(mlp)
    X_adv = attack.generate(X, y)
    norms = attack.minimal_norms(X, y)
    assert (mlp.predict(X_adv) != y).all()
    np.testing.assert_allclose(_l2(X_adv, X), norms, rtol=1e-9)
    assert X_adv.min() >= 0 and X_adv.max() <= 1


def test_binary_search_beats_a_fixed_constant(digits):
    X, y, mlp, _ = digits
    ok = mlp.predict(X) == y
    full = _cw(mlp).minimal_norms(X, y)[ok]
    tiny = _cw(mlp, n_binary_search=1).minimal_norms(X, y)[ok]  # c = 1e-3
    large = _cw(mlp, n_binary_search=1, initial_const=10.0).minimal_norms(X, y)[ok]
    assert np.isinf(tiny).mean() > 0.5  # c = 1e-3 alone rarely succeeds
    assert np.isfinite(large).all()
    assert np.median(full) < 0.9 * np.median(large)
    assert (full <= large + 1e-9).mean() >= 0.9


def test_cw_on_a_linear_model_matches_the_exact_minimal_norm(digits):
    X, y, _, linear = digits
    exact = LinearExactAttack(linear, bounds=(0, 1)).minimal_norms(X, y)
    found = _cw(linear, max_iter=300).minimal_norms(X, y)
    ok = exact > 0
    ratio = found[ok] / exact[ok]
    assert ratio.min() >= 1 - 1e-9  # the exact norm is a lower bound
    assert np.median(ratio) < 1.03


def test_targeted_and_confidence(digits):
    X, y, mlp, _ = digits
    target = (y + 3) % 10
    X_adv = _cw(mlp, confidence=2.0).generate(X, y, target=target)
    proba = mlp.predict_proba(X_adv)
    hit = proba.argmax(1) == target
    assert hit.mean() > 0.9
    # the margin on logits = log-probabilities up to a shared constant
    log_p = np.log(proba[hit])
    own = log_p[np.arange(hit.sum()), target[hit]]
    log_p[np.arange(hit.sum()), target[hit]] = -np.inf
    assert (own - log_p.max(1) >= 2.0 - 1e-6).all()


def test_eps_projects_and_mask_freezes(digits):
    X, y, mlp, _ = digits
    mask = np.ones(64, dtype=bool)
    mask[:32] = False
    X_adv = _cw(mlp, eps=0.5, feature_mask=mask).generate(X, y)
    assert (_l2(X_adv, X) <= 0.5 + 1e-9).all()
    np.testing.assert_array_equal(X_adv[:, :32], X[:, :32])


def test_cw_errors(digits):
    X, y, mlp, _ = digits
    with pytest.raises(ValueError, match="finite bounds"):
        CarliniWagnerL2(mlp, bounds=None).generate(X, y)
    with pytest.raises(ValueError, match="finite bounds"):
        CarliniWagnerL2(mlp, bounds=(0, None)).generate(X, y)
    forest = RandomForestClassifier(n_estimators=2, random_state=0).fit(X, y)
    with pytest.raises(NotDifferentiableError, match="black-box"):
        CarliniWagnerL2(forest, bounds=(0, 1)).generate(X, y)
    with pytest.raises(Exception, match="fit"):
        CarliniWagnerL2(mlp).generate(X, y)  # bounds="data" needs fit
