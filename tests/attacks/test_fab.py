"""FAB: the hyperplane projection, minimal norms, curves from one run, FAB-T."""

import numpy as np
import pytest
import torch
from scipy.optimize import linprog
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from skrobust.attacks import FAB
from skrobust.attacks._functional import hyperplane_projection
from skrobust.metrics import robustness_curve

# -- the projection onto a hyperplane inside a box -----------------------------


def _random_problem(rng, d):
    w = rng.normal(size=d)
    w[rng.random(d) < 0.2] = 0
    low, high = -rng.exponential(size=d), rng.exponential(size=d)
    low[rng.random(d) < 0.2] = -np.inf
    high[rng.random(d) < 0.2] = np.inf
    frozen = rng.random(d) < 0.1
    low[frozen] = high[frozen] = 0
    return w, rng.normal() * 2, low, high


def _lp_optimum(norm, w, g, low, high):
    """min ||d|| s.t. w.d = g, low <= d <= high, as a linear program."""
    d = len(w)
    box = [
        (None if np.isinf(lo) else lo, None if np.isinf(hi) else hi)
        for lo, hi in zip(low, high)
    ]
    if norm == "linf":  # variables (d, t): min t, -t <= d_i <= t
        A = np.r_[np.c_[np.eye(d), -np.ones(d)], np.c_[-np.eye(d), -np.ones(d)]]
        res = linprog(
            np.r_[np.zeros(d), 1],
            A_ub=A,
            b_ub=np.zeros(2 * d),
            A_eq=np.r_[w, 0][None],
            b_eq=[g],
            bounds=box + [(0, None)],
        )
    else:  # l1: d = p - q, p, q >= 0
        pos = [(0, None if np.isinf(hi) else hi) for hi in high]
        neg = [(0, None if np.isinf(lo) else -lo) for lo in low]
        res = linprog(
            np.ones(2 * d), A_eq=np.r_[w, -w][None], b_eq=[g], bounds=pos + neg
        )
    return res.fun if res.status == 0 else None


def _l2_by_bisection(w, g, low, high):
    """The KKT solution d = clip(lambda w, low, high), lambda found by bisection."""
    lo, hi = (0.0, 1e8) if g >= 0 else (-1e8, 0.0)
    for _ in range(200):
        mid = (lo + hi) / 2
        if w @ np.clip(mid * w, low, high) < g:
            lo = mid
        else:
            hi = mid
    d = np.clip(hi * w, low, high) if g >= 0 else np.clip(lo * w, low, high)
    return np.linalg.norm(d) if abs(w @ d - g) < 1e-6 else None


def test_hyperplane_projection_is_the_minimal_norm_point_in_the_box():
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(150):
        w, g, low, high = _random_problem(rng, int(rng.integers(1, 8)))
        for norm in ("linf", "l2", "l1"):
            d = hyperplane_projection(
                norm,
                torch.tensor(w)[None],
                torch.tensor([g], dtype=torch.float64),
                torch.tensor(low)[None],
                torch.tensor(high)[None],
            )[0].numpy()
            assert np.all(d >= low) and np.all(d <= high)
            if norm == "l2":
                best = _l2_by_bisection(w, g, low, high)
            else:
                best = _lp_optimum(norm, w, g, low, high)
            if best is None:  # the hyperplane misses the box: the closest corner
                assert abs(w @ d - g) <= abs(g) + 1e-12
                continue
            size = {"linf": np.abs(d).max(initial=0), "l2": np.linalg.norm(d)}.get(
                norm, np.abs(d).sum()
            )
            np.testing.assert_allclose(w @ d, g, atol=1e-9)
            np.testing.assert_allclose(size, best, rtol=1e-6, atol=1e-9)
            checked += 1
    assert checked > 300


# -- minimal norms ---------------------------------------------------------------


@pytest.fixture(scope="module")
def cancer_linear():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)[:120]
    return X, y[:120], LogisticRegression(max_iter=1000).fit(X, y[:120])


@pytest.mark.parametrize("norm, dual", [("linf", 1), ("l2", 2), ("l1", np.inf)])
def test_fab_finds_the_exact_minimal_norm_of_a_linear_model(cancer_linear, norm, dual):
    X, y, clf = cancer_linear
    w = clf.coef_[0]
    exact = np.abs(clf.decision_function(X)) / np.linalg.norm(w, dual)
    exact[clf.predict(X) != y] = 0
    norms = FAB(clf, norm=norm, n_iter=20).minimal_norms(X, y)
    # never below the exact minimum; above it by at most the overshoot that
    # the steps from inside the ball leave (eta = 1.05 weighted by alpha)
    assert np.all(norms >= exact * (1 - 1e-6))
    assert np.all(norms <= exact * 1.01)


@pytest.fixture(scope="module")
def mlp_norms(digits_mlp, digits_data):
    X, y = digits_data.X_test[:100], digits_data.y_test[:100]
    fab = FAB(digits_mlp, norm="linf", n_iter=30, bounds=(0, 1))
    return X, y, fab, fab.minimal_norms(X, y)


def test_fab_examples_are_misclassified_at_the_reported_norm(digits_mlp, mlp_norms):
    X, y, fab, norms = mlp_norms
    assert np.isfinite(norms).all()
    X_adv = fab.generate(X, y)  # eps=None: the minimal examples themselves
    assert np.all(digits_mlp.predict(X_adv) != y)
    sizes = np.abs(X_adv.astype(np.float64) - X).max(axis=1)
    np.testing.assert_array_equal(sizes, norms)
    assert X_adv.min() >= 0 and X_adv.max() <= 1
    assert np.all(norms[digits_mlp.predict(X) != y] == 0)


def test_fab_budget_breaks_every_point_within_it(digits_mlp, mlp_norms):
    X, y, fab, norms = mlp_norms
    # per point: a budget of 1.0001 x its reported norm breaks it
    for i in np.argsort(norms)[::12]:
        point = FAB(**{**fab.get_params(deep=False), "eps": 1.0001 * norms[i]})
        out = point.generate(X[i : i + 1], y[i : i + 1])
        assert digits_mlp.predict(out)[0] != y[i]
        assert np.abs(out - X[i]).max() <= 1.0001 * norms[i] + 1e-7
    # one budget: outputs stay in the ball and break every point within it
    eps = float(np.median(norms))
    out = FAB(**{**fab.get_params(deep=False), "eps": eps}).generate(X, y)
    assert np.abs(out - X).max() <= eps + 1e-7
    within = norms * 1.0001 <= eps
    assert np.all(digits_mlp.predict(out)[within] != y[within])


def test_robustness_curve_from_one_fab_run(digits_mlp, mlp_norms):
    X, y, fab, norms = mlp_norms
    epsilons = [0.0, 0.02, 0.05, 0.1, 0.2]
    _, acc = robustness_curve(digits_mlp, X, y, attack=fab, epsilons=epsilons)
    expected = [(norms > e).mean() for e in epsilons]
    np.testing.assert_allclose(acc, expected)
    assert np.all(np.diff(acc) <= 0)


def test_fab_t_and_restarts_do_not_increase_norms(digits_mlp, digits_data):
    X, y = digits_data.X_test[:40], digits_data.y_test[:40]
    kwargs = dict(norm="l2", n_iter=20, bounds=(0, 1), random_state=0)
    base = FAB(digits_mlp, **kwargs).minimal_norms(X, y)
    restarts = FAB(digits_mlp, n_restarts=3, **kwargs).minimal_norms(X, y)
    assert np.all(restarts <= base * (1 + 1e-6))
    fab_t = FAB(digits_mlp, n_target_classes=3, **kwargs)
    norms_t = fab_t.minimal_norms(X, y)
    assert np.isfinite(norms_t).all()
    out = fab_t.generate(X, y)
    assert np.all(digits_mlp.predict(out) != y)


def test_fab_t_fused_and_stopped_within_budget_breaks_the_same_points(
    digits_mlp, digits_data, monkeypatch
):
    # AutoAttack's FAB-T: the targets in one batch, a point dropped once
    # broken within the budget, against one target after another to the end
    import skrobust.attacks._fab as module

    X, y = digits_data.X_test[:60], digits_data.y_test[:60]
    attack = FAB(digits_mlp, eps=0.06, n_iter=10, n_target_classes=4, bounds=(0, 1))
    attack._stop_in_budget = True
    fused = digits_mlp.predict(attack.generate(X, y)) == y
    attack._stop_in_budget = False
    monkeypatch.setattr(module, "FUSE_ELEMENTS", 0)
    separate = digits_mlp.predict(attack.generate(X, y)) == y
    np.testing.assert_array_equal(fused, separate)
    assert 0 < separate.sum() < digits_mlp.score(X, y) * len(y)


def test_fab_explicit_targets_are_reached(digits_mlp, digits_data):
    X = digits_data.X_test[:30]
    target = (digits_mlp.predict(X) + 3) % 10
    out = FAB(digits_mlp, norm="l2", n_iter=30, bounds=(0, 1)).generate(
        X, target=target
    )
    assert np.mean(digits_mlp.predict(out) == target) > 0.9


def test_fab_immutable_features_and_per_feature_budget(cancer_linear):
    X, y, clf = cancer_linear
    mask = np.zeros(X.shape[1], dtype=bool)
    mask[:10] = True
    fab = FAB(clf, norm="l2", n_iter=20, feature_mask=mask)
    out = fab.generate(X, y)
    np.testing.assert_array_equal(out[:, ~mask], X[:, ~mask])
    # per-feature eps: norms in units of the budget (robust if > 1)
    eps = np.full(X.shape[1], 0.5)
    norms = FAB(clf, norm="l2", n_iter=20, eps=eps).minimal_norms(X, y)
    np.testing.assert_allclose(
        norms, FAB(clf, norm="l2", n_iter=20).minimal_norms(X, y) / 0.5, rtol=1e-6
    )


def test_fab_eps_zero_is_identity_and_eps_validated(cancer_linear):
    X, y, clf = cancer_linear
    np.testing.assert_array_equal(FAB(clf, eps=0.0, n_iter=3).generate(X, y), X)
    with pytest.raises(ValueError, match="eps"):
        FAB(clf, eps=[-1.0] * X.shape[1]).generate(X, y)
