"""The attack estimators for tree ensembles: exact (MILP) and leaf-tuple search."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skrobust.attacks import (
    DecisionTreeExactAttack,
    HopSkipJump,
    LeafTupleAttack,
    SquareAttack,
)
from skrobust.certification.mip import verify
from skrobust.metrics import make_robust_scorer, robust_accuracy_score


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    X, y = X[::6, :6], y[::6]  # 95 points, 6 features
    gb = GradientBoostingClassifier(n_estimators=5, max_depth=2, random_state=0)
    return X, y, gb.fit(X, y)


def _linf(delta):
    return np.abs(delta).max(axis=1)


def test_exact_ensemble_norms_are_sharp(cancer):
    X, y, gb = cancer
    X, y = X[:15], y[:15]
    attack = DecisionTreeExactAttack(gb, norm="linf")
    r = attack.minimal_norms(X, y)
    X_adv = attack.generate(X, y)
    ok = gb.predict(X) == y
    found = np.isfinite(r)
    assert (gb.predict(X_adv[found]) != y[found]).all()
    assert (_linf(X_adv - X)[ok & found] <= r[ok & found] * (1 + 1e-9) + 1e-12).all()
    # nothing adversarial within 0.999 r along the example
    shrunk = X + 0.999 * (X_adv - X)
    assert (gb.predict(shrunk)[ok & found] == y[ok & found]).all()
    # a budget just above r breaks the point, just below it does not
    for i in np.flatnonzero(ok & found)[:3]:
        above = DecisionTreeExactAttack(gb, norm="linf", eps=r[i] * 1.001)
        below = DecisionTreeExactAttack(gb, norm="linf", eps=r[i] * 0.999)
        assert gb.predict(above.generate(X[i : i + 1], y[i : i + 1]))[0] != y[i]
        assert gb.predict(below.generate(X[i : i + 1], y[i : i + 1]))[0] == y[i]


def test_exact_robust_accuracy_equals_milp_verification(cancer):
    X, y, gb = cancer
    eps = 0.3 * X.std(axis=0)
    attack = DecisionTreeExactAttack(gb, norm="linf", eps=eps)
    robust = robust_accuracy_score(gb, X, y, attack=attack)
    status = verify(gb, X, y, eps=eps).status
    assert robust == pytest.approx(np.mean(status == "verified"))
    assert robust < gb.score(X, y)


def test_exact_attack_raw_units_through_a_scaler_and_targets():
    X, y = load_wine(return_X_y=True)
    X, y = X[::12, :5], y[::12]
    forest = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0)
    pipe = make_pipeline(StandardScaler(), forest).fit(X, y)
    bare = forest.fit(StandardScaler().fit(X).transform(X), y)
    scale = StandardScaler().fit(X).scale_
    r_raw = DecisionTreeExactAttack(pipe, norm="linf", eps=scale).minimal_norms(X, y)
    Z = StandardScaler().fit(X).transform(X)
    r_std = DecisionTreeExactAttack(bare, norm="linf").minimal_norms(Z, y)
    np.testing.assert_allclose(r_raw, r_std, rtol=1e-5)  # float32 splits
    target = (y + 1) % 3
    X_adv = DecisionTreeExactAttack(pipe, norm="l2").generate(X, y, target=target)
    assert (pipe.predict(X_adv) == target).mean() > 0.5


def test_leaf_tuple_attack_is_valid_and_as_strong_as_exact(cancer):
    X, y, gb = cancer
    eps = 0.3
    mask = np.ones(X.shape[1], dtype=bool)
    mask[2] = False
    attack = LeafTupleAttack(
        gb, eps=eps, eps_units="std", feature_mask=mask, bounds="data", random_state=0
    ).fit(X)
    X_adv = attack.generate(X, y)
    std = X.std(axis=0)
    assert (np.abs(X_adv - X) <= eps * std * (1 + 1e-9)).all()
    np.testing.assert_array_equal(X_adv[:, 2], X[:, 2])
    assert (X_adv >= X.min(0)).all() and (X_adv <= X.max(0)).all()
    exact = verify(gb, X, y, eps=eps * std * mask, bounds=(X.min(0), X.max(0))).status
    fooled = gb.predict(X_adv) != y
    assert not (fooled & (exact == "verified")).any()  # sound
    np.testing.assert_array_equal(fooled, exact == "falsified")  # and complete
    report = attack.verify(X, y)
    assert set(report.status) <= {"certified", "broken", "undecided"}
    np.testing.assert_array_equal(report.status == "broken", fooled)
    assert not ((report.status == "certified") & (exact != "verified")).any()
    assert (report.status == "certified").mean() > 0.5
    # score- and decision-based attacks never break a verified point
    budget = eps * std * mask
    square = SquareAttack(gb, eps=budget, n_queries=300, random_state=0)
    hsj = HopSkipJump(gb, eps=budget, norm="linf", max_iter=10, random_state=0)
    for black_box in (square, hsj):
        broken = gb.predict(black_box.generate(X, y)) != y
        assert not (broken & (exact == "verified")).any()
        assert broken.sum() <= fooled.sum()


def test_leaf_tuple_minimal_norms_bound_the_exact_ones(cancer):
    X, y, gb = cancer
    exact = DecisionTreeExactAttack(gb, norm="l1").minimal_norms(X[:20], y[:20])
    fast = LeafTupleAttack(gb, norm="l1", random_state=0).minimal_norms(X[:20], y[:20])
    assert (fast >= exact * (1 - 1e-9)).all()
    assert np.median(fast / np.where(exact > 0, exact, 1)) < 1.05
    with pytest.raises(ValueError, match="verify needs a budget"):
        LeafTupleAttack(gb).verify(X, y)


def test_tree_attack_scores_a_grid_search(cancer):
    X, y, _ = cancer
    eps = 0.3 * X.std(axis=0)
    split = [(np.arange(0, 95, 2), np.arange(1, 95, 2))]
    scorer = make_robust_scorer(LeafTupleAttack(eps=eps, random_state=0))
    gb = GradientBoostingClassifier(n_estimators=3, random_state=0)
    search = GridSearchCV(gb, {"max_depth": [1, 2]}, scoring=scorer, cv=split)
    search.fit(X, y)
    (train, test), scores = split[0], search.cv_results_["mean_test_score"]
    for depth, score in zip((1, 2), scores):
        model = clone(gb).set_params(max_depth=depth).fit(X[train], y[train])
        attack = LeafTupleAttack(model, eps=eps, random_state=0)
        expected = robust_accuracy_score(model, X[test], y[test], attack=attack)
        assert score == pytest.approx(expected)
