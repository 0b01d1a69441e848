"""Exact attacks: closed forms, LP references, 1.0001x / 0.999x, trees."""

import numpy as np
import pytest
from scipy.optimize import linprog
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from skrobust.attacks import PGD, DecisionTreeExactAttack, LinearExactAttack
from skrobust.metrics import robustness_curve

NORMS = ["l2", "linf", "l1"]
DUAL = {"l2": 2, "linf": 1, "l1": np.inf}


def _size(delta, norm):
    return {
        "l2": np.linalg.norm(delta, axis=1),
        "linf": np.abs(delta).max(axis=1),
        "l1": np.abs(delta).sum(axis=1),
    }[norm]


@pytest.fixture(scope="module", params=["binary", "multiclass"])
def linear(request):
    X, y = (load_breast_cancer if request.param == "binary" else load_wine)(
        return_X_y=True
    )
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    clf.fit(X, y)
    return X[::4], y[::4], clf


def _raw_logits(clf):
    """Raw-unit weights and biases of every class, from the fitted steps."""
    scaler, lr = clf[0], clf[-1]
    W = lr.coef_ / scaler.scale_
    b = lr.intercept_ - W @ scaler.mean_
    if len(W) == 1:  # binary: logits -d/2, d/2
        W, b = np.vstack([-W / 2, W / 2]), np.array([-b[0] / 2, b[0] / 2])
    return W, b


def _closed_form(clf, X, y, norm):
    W, b = _raw_logits(clf)
    g = X @ W.T + b
    out = np.full(len(y), np.inf)
    for k in range(len(W)):
        gap = g[np.arange(len(y)), y] - g[:, k]
        dual = np.linalg.norm(W[y] - W[k], ord=DUAL[norm], axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(k == y, np.inf, np.maximum(gap, 0) / dual)
        out = np.minimum(out, r)
    return out


@pytest.mark.parametrize("norm", NORMS)
def test_linear_minimal_norm_is_the_closed_form(linear, norm):
    X, y, clf = linear
    got = LinearExactAttack(clf, norm=norm).minimal_norms(X, y)
    np.testing.assert_allclose(got, _closed_form(clf, X, y, norm), rtol=1e-9)


@pytest.mark.parametrize("norm", NORMS)
def test_linear_1_0001_flips_every_point_0_999_none(linear, norm):
    X, y, clf = linear
    attack = LinearExactAttack(clf, norm=norm)
    r = attack.minimal_norms(X, y)
    delta = attack.generate(X, y) - X
    ok = clf.predict(X) == y
    np.testing.assert_allclose(_size(delta, norm)[ok], r[ok], rtol=1e-8)
    assert (clf.predict(X + 1.0001 * delta) != y).all()
    assert (clf.predict(X + 0.999 * delta)[ok] == y[ok]).all()
    # no attack does better: PGD breaks only points whose exact norm fits
    for eps in np.quantile(r[ok], [0.2, 0.5, 0.8]):
        pgd = PGD(clf, eps=eps, norm=norm, n_iter=50, random_init=False, loss="cw")
        broken = clf.predict(pgd.generate(X, y)) != y
        assert (r[broken & ok] <= eps * (1 + 1e-9)).all()
        if norm != "l1":  # and it finds most of them (sparse l1 steps are weaker)
            assert broken.sum() >= 0.75 * (r <= 0.999 * eps).sum()


@pytest.mark.parametrize("norm", ["linf", "l1"])
def test_linear_bounded_case_matches_linear_programming(linear, norm):
    X, y, clf = linear
    X, y = X[:8], y[:8]
    low, high = X.min(0) - 0.1 * X.std(0), X.max(0) + 0.1 * X.std(0)
    mask = np.arange(X.shape[1]) % 3 != 0
    direction = np.where(np.arange(X.shape[1]) % 4 == 1, 1, 0)
    got = LinearExactAttack(
        clf, norm=norm, bounds=(low, high), feature_mask=mask, direction=direction
    ).minimal_norms(X, y)
    W, b = _raw_logits(clf)
    d = X.shape[1]
    for i in range(len(y)):
        lo = np.where(mask, low - X[i], 0.0)
        hi = np.where(mask, high - X[i], 0.0)
        lo = np.where(direction > 0, 0.0, lo)
        best = np.inf
        for k in set(range(len(W))) - {y[i]}:
            a = W[k] - W[y[i]]  # need a . delta >= gap
            gap = (W[y[i]] - W[k]) @ X[i] + b[y[i]] - b[k]
            eye = np.eye(d)
            if norm == "linf":  # variables delta, t
                A = np.vstack(
                    [np.r_[-a, 0], np.c_[eye, -np.ones(d)], np.c_[-eye, -np.ones(d)]]
                )
                cost = np.r_[np.zeros(d), 1.0]
                extra = [(0, None)]
            else:  # variables delta, s >= |delta|
                A = np.vstack(
                    [np.r_[-a, np.zeros(d)], np.c_[eye, -eye], np.c_[-eye, -eye]]
                )
                cost = np.r_[np.zeros(d), np.ones(d)]
                extra = [(0, None)] * d
            res = linprog(
                cost,
                A_ub=A,
                b_ub=np.r_[-gap, np.zeros(2 * d)],
                bounds=list(zip(lo, hi)) + extra,
            )
            if res.status == 0:
                best = min(best, res.fun)
        np.testing.assert_allclose(got[i], best, rtol=1e-6, atol=1e-9)


def test_linear_per_feature_budget_gives_exact_robust_accuracy(linear):
    X, y, clf = linear
    eps = 0.3 * X.std(0)
    eps[::2] = 0.0  # immutable
    attack = LinearExactAttack(clf, eps=eps, norm="linf")
    r = attack.minimal_norms(X, y)  # in multiples of the budget
    ok = clf.predict(X) == y
    X_adv = attack.generate(X, y)
    np.testing.assert_array_equal(X_adv[:, ::2], X[:, ::2])
    assert (np.abs(X_adv - X)[:, 1::2] <= eps[1::2] * (1 + 1e-9)).all()
    assert clf.score(X_adv, y) == np.mean(ok & (r > 1))
    # the curve at every budget from one call
    _, curve = robustness_curve(
        clf, X, y, attack=LinearExactAttack(norm="l2"), epsilons=[0, 1, 10, 100]
    )
    r2 = LinearExactAttack(clf).minimal_norms(X, y)
    np.testing.assert_array_equal(
        curve, [np.mean(ok & (r2 > e)) for e in (0, 1, 10, 100)]
    )


def test_linear_targeted_binary_and_errors(linear):
    X, y, clf = linear
    if len(clf.classes_) == 2:
        X_adv = LinearExactAttack(clf).generate(X, y, target=1 - y)
        assert (clf.predict(X_adv) == 1 - y).all()
    else:
        with pytest.raises(ValueError, match="binary models only"):
            LinearExactAttack(clf).generate(X, y, target=(y + 1) % 3)
    mlp = MLPClassifier((8,), max_iter=50, random_state=0).fit(X, y)
    with pytest.raises(TypeError, match="affine"):
        LinearExactAttack(mlp).generate(X, y)


# -- decision trees ---------------------------------------------------------------


@pytest.fixture(scope="module")
def wine_tree():
    X, y = load_wine(return_X_y=True)
    tree = DecisionTreeClassifier(max_depth=5, random_state=0).fit(X, y)
    return X, y, tree


def _reference_tree_norms(tree, X, y, norm, low=None, high=None):
    """Leaf boxes from parent walks, distances by brute force (numpy)."""
    t = tree.tree_
    parent = {}
    for node in range(t.node_count):
        for child, side in (
            (t.children_left[node], "L"),
            (t.children_right[node], "R"),
        ):
            if child != -1:
                parent[child] = (node, side)
    out = np.full(len(X), np.inf)
    for leaf in np.flatnonzero(t.children_left == -1):
        lo, hi = np.full(X.shape[1], -np.inf), np.full(X.shape[1], np.inf)
        node = leaf
        while node in parent:
            node, side = parent[node]
            f, thr = t.feature[node], t.threshold[node]
            if side == "L":
                hi[f] = min(hi[f], thr)
            else:
                lo[f] = max(lo[f], thr)
        if low is not None:
            if np.any(np.maximum(lo, low) >= np.minimum(hi, high)):
                continue
            lo, hi = np.maximum(lo, low), np.minimum(hi, high)
        wrong = tree.classes_[np.argmax(t.value[leaf, 0])] != y
        dist = _size(np.clip(X, lo, hi) - X, norm)
        out = np.where(wrong, np.minimum(out, dist), out)
    return out


@pytest.mark.parametrize("norm", NORMS)
def test_tree_minimal_norm_matches_brute_force(wine_tree, norm):
    X, y, tree = wine_tree
    # the reference compares float64 inputs with the stored thresholds; the
    # tree compares float32 inputs, whose exact raw boundaries the attack
    # uses: they differ by at most half a float32 step (~3e-5 at 1000)
    tol = dict(rtol=1e-6, atol=1e-4)
    got = DecisionTreeExactAttack(tree, norm=norm).minimal_norms(X, y)
    np.testing.assert_allclose(got, _reference_tree_norms(tree, X, y, norm), **tol)
    low, high = X.min(0), X.max(0)
    bounded = DecisionTreeExactAttack(tree, norm=norm, bounds=(low, high))
    expected = _reference_tree_norms(tree, X, y, norm, low, high)
    np.testing.assert_allclose(bounded.minimal_norms(X, y), expected, **tol)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("pipeline", [False, True])
def test_tree_1_0001_flips_every_point_0_999_none(wine_tree, norm, pipeline):
    X, y, tree = wine_tree
    model = make_pipeline(StandardScaler(), tree).fit(X, y) if pipeline else tree
    attack = DecisionTreeExactAttack(model, norm=norm)
    r = attack.minimal_norms(X, y)
    X_adv = attack.generate(X, y)
    ok = model.predict(X) == y
    assert (model.predict(X_adv) != y).all()
    assert (_size(X_adv - X, norm)[ok] <= 1.0001 * r[ok]).all()
    # nothing within 0.999 r: the shrunk example, and every axis step
    assert (model.predict(X + 0.999 * (X_adv - X))[ok] == y[ok]).all()
    for j in range(X.shape[1]):
        for sign in (-1, 1):
            step = X.copy()
            step[:, j] += sign * 0.999 * r
            assert (model.predict(step)[ok] == y[ok]).all()
    if pipeline:  # the scaled tree has the same splits in raw units
        raw = DecisionTreeExactAttack(tree.fit(X, y), norm=norm).minimal_norms(X, y)
        np.testing.assert_allclose(r, raw, rtol=1e-5, atol=1e-6)  # float32 splits


def test_tree_threat_model_targets_and_curve(wine_tree):
    X, y, tree = wine_tree
    mask = np.ones(X.shape[1], dtype=bool)
    mask[[6, 9, 12]] = False
    attack = DecisionTreeExactAttack(
        tree, norm="linf", eps=0.4, eps_units="std", bounds="data", feature_mask=mask
    ).fit(X)
    X_adv = attack.generate(X, y)
    np.testing.assert_array_equal(X_adv[:, ~mask], X[:, ~mask])
    assert (np.abs(X_adv - X) <= 0.4 * X.std(0) * (1 + 1e-9)).all()
    assert (X_adv >= X.min(0)).all() and (X_adv <= X.max(0)).all()
    r = attack.minimal_norms(X, y)
    assert tree.score(X_adv, y) == np.mean((tree.predict(X) == y) & (r > 0.4))
    target = (y + 1) % 3
    hit = tree.predict(DecisionTreeExactAttack(tree).generate(X, y, target=target))
    assert (hit == target).all()
    _, curve = robustness_curve(
        tree, X, y, attack=DecisionTreeExactAttack(), epsilons=[0.0, 0.5, 5.0]
    )
    r = DecisionTreeExactAttack(tree).minimal_norms(X, y)
    expected = [np.mean((tree.predict(X) == y) & (r > e)) for e in (0.0, 0.5, 5.0)]
    np.testing.assert_array_equal(curve, expected)


def test_tree_after_a_non_affine_step_acts_on_its_output(wine_tree):
    X, y, _ = wine_tree
    model = make_pipeline(
        StandardScaler(), PCA(4), DecisionTreeClassifier(random_state=0)
    )
    model.fit(X, y)
    Z_adv = DecisionTreeExactAttack(model).generate(X, y)
    assert Z_adv.shape == (len(X), 4)
    assert (model[-1].predict(Z_adv) != y).all()
    forest = RandomForestClassifier(n_estimators=2, random_state=0).fit(X, y)
    X_adv = DecisionTreeExactAttack(forest).generate(X[:10], y[:10])
    assert (forest.predict(X_adv) != y[:10]).all()
    with pytest.raises(TypeError, match="needs a fitted tree model"):
        linear = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
        DecisionTreeExactAttack(linear).generate(X, y)
