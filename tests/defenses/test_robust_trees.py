"""GROOT-style robust trees: the adversarial Gini impurity, the splits it
chooses, and the robustness they buy (verified exactly by MILP)."""

import itertools

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer
from sklearn.tree import DecisionTreeClassifier

from skrobust._models import Region, TreeEnsemble
from skrobust.certification.mip import TreeEnsembleMILP
from skrobust.defenses._groot import adversarial_gini, split_counts, weighted_gini
from skrobust.defenses._robust_forest import RobustRandomForestClassifier
from skrobust.defenses._robust_tree import RobustDecisionTreeClassifier


def _grid_max(left, right, uncertain, steps=40):
    """The attacker's best impurity over a grid of moved weights."""
    grids = [np.linspace(0, u, steps + 1) for u in uncertain]
    best = -np.inf
    for m in itertools.product(*grids):
        m = np.array(m)
        value = weighted_gini(left + m) + weighted_gini(right + uncertain - m)
        best = max(best, float(value))
    return best


@pytest.mark.parametrize("n_classes", [2, 3])
def test_adversarial_gini_is_the_attackers_maximum(n_classes):
    rng = np.random.default_rng(n_classes)
    for _ in range(30):
        left, right, uncertain = (rng.integers(0, 8, n_classes) * 1.0 for _ in "abc")
        value, moved = adversarial_gini(left, right, uncertain)
        assert np.all((moved >= -1e-12) & (moved <= uncertain + 1e-12))
        achieved = weighted_gini(left + moved) + weighted_gini(
            right + uncertain - moved
        )
        np.testing.assert_allclose(value, achieved)
        grid = _grid_max(left, right, uncertain, steps=40 if n_classes == 2 else 12)
        assert value >= grid - 1e-9  # at least as good as any grid point
        total = left + right + uncertain
        assert value <= weighted_gini(total) + 1e-9  # never above the parent
        if not uncertain.any():
            np.testing.assert_allclose(
                value, weighted_gini(left) + weighted_gini(right)
            )


def test_split_counts_sort_samples_into_sure_and_movable():
    rng = np.random.default_rng(0)
    x = rng.normal(size=50)
    y = rng.integers(0, 2, 50)
    w = rng.uniform(0.5, 2, 50)
    lo, hi = x - 0.3, x + 0.3
    thresholds, left, uncertain, right = split_counts(lo, hi, y, w, 2)
    for t, sl, su, sr in zip(thresholds, left, uncertain, right):
        for k in range(2):
            mine = y == k
            expected = (
                w[mine & (hi <= t)].sum(),
                w[mine & (lo <= t) & (hi > t)].sum(),
                w[mine & (lo > t)].sum(),
            )
            np.testing.assert_allclose((sl[k], su[k], sr[k]), expected, atol=1e-12)


def _two_signals(n=300, seed=0):
    """Feature 0 separates the classes with a gap of 0.1; feature 1 with a
    gap of 2 but 10 % label noise: a 0.5-attacker defeats splits on 0."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    f0 = np.where(y == 1, 0.05 + rng.uniform(0, 1, n), -0.05 - rng.uniform(0, 1, n))
    noisy = np.where(rng.random(n) < 0.1, 1 - y, y)
    f1 = np.where(noisy == 1, 1.0, -1.0) + rng.uniform(-0.5, 0.5, n)
    return np.column_stack([f0, f1]), y


def test_robust_splits_avoid_features_an_attacker_can_cross():
    X, y = _two_signals()
    standard = DecisionTreeClassifier(max_depth=1).fit(X, y)
    plain = RobustDecisionTreeClassifier(max_depth=1).fit(X, y)
    robust = RobustDecisionTreeClassifier(eps=0.5, max_depth=1).fit(X, y)
    assert standard.tree_.feature[0] == plain.tree_.feature[0] == 0
    assert robust.tree_.feature[0] == 1
    # eps=0 is Gini's split: scikit-learn's threshold (to its float32 inputs)
    np.testing.assert_allclose(
        plain.tree_.threshold[0], standard.tree_.threshold[0], atol=1e-6
    )
    accuracy = {}
    for name, model in (("standard", standard), ("robust", robust)):
        ensemble = TreeEnsemble(model)
        milp = TreeEnsembleMILP(ensemble)
        ok = [
            milp.verify(Region(x, x - 9, x + 9, np.ones(2), "linf"), label, 0.5).status
            == "verified"
            for x, label in zip(X[:80], y[:80])
        ]
        accuracy[name] = np.mean(ok)
    assert accuracy["robust"] > accuracy["standard"] + 0.3


def test_reader_reproduces_robust_trees_and_forests():
    X, y = load_breast_cancer(return_X_y=True)
    X, y = X[::3, :8], y[::3]
    tree = RobustDecisionTreeClassifier(eps=0.1, eps_units="std", max_depth=3)
    forest = RobustRandomForestClassifier(
        n_estimators=4, eps=0.1, eps_units="std", max_depth=3, random_state=0
    )
    for model in (tree, forest):
        model.fit(X, y)
        ensemble = TreeEnsemble(model)
        np.testing.assert_allclose(ensemble.scores(X), model.predict_proba(X))
        np.testing.assert_array_equal(
            model.classes_[ensemble.predict(X)], model.predict(X)
        )


def test_forest_threat_model_by_name_and_immutable_features():
    import pandas as pd

    X, y = _two_signals()
    frame = pd.DataFrame(X, columns=["gap", "noisy"])
    forest = RobustRandomForestClassifier(
        n_estimators=3, eps={"gap": 0.5}, max_depth=1, max_features=None
    ).fit(frame, y)
    assert all(t.tree_.feature[0] == 1 for t in forest.estimators_)
    frozen = clone(forest).set_params(feature_mask=["noisy"]).fit(frame, y)
    # "gap" may not move: splitting on it is safe again
    assert all(t.tree_.feature[0] == 0 for t in frozen.estimators_)
    assert forest.predict(frame).shape == (len(y),)
