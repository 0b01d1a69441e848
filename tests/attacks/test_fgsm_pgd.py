"""FGSM and PGD: closed forms, reference loops, the transformer contract, errors."""

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.special import softmax
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_digits, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from skrobust import NotDifferentiableError
from skrobust.attacks import FGSM, PGD


@pytest.fixture(scope="module")
def binary():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)[:200]
    y = y[:200]
    return X, y, LogisticRegression(max_iter=1000).fit(X, y)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X, y = X[:300] / 16.0, y[:300]
    return X, y, LogisticRegression(max_iter=2000).fit(X, y)


# -- closed forms ------------------------------------------------------------


def test_fgsm_linf_binary_linear_closed_form(binary):
    X, y, clf = binary
    w = clf.coef_[0]
    # d CE / dx = (p - y) w, and p < 1, p > 0: the sign is sign(w) * (1 - 2y)
    expected = X + 0.1 * np.sign(w) * (1 - 2 * y)[:, None]
    np.testing.assert_allclose(FGSM(clf, eps=0.1).generate(X, y), expected)


def test_fgsm_l2_binary_linear_closed_form(binary):
    X, y, clf = binary
    w = clf.coef_[0]
    expected = X + 0.5 * (w / np.linalg.norm(w)) * (1 - 2 * y)[:, None]
    got = FGSM(clf, eps=0.5, norm="l2").generate(X, y)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_fgsm_multiclass_linear_closed_form_with_bounds(digits):
    X, y, clf = digits
    p = softmax(X @ clf.coef_.T + clf.intercept_, axis=1)
    p[np.arange(len(y)), y] -= 1
    grad = p @ clf.coef_  # d CE / dx = W^T (p - e_y)
    expected = np.clip(X + 0.2 * np.sign(grad), 0, 1)
    got = FGSM(clf, eps=0.2, bounds=(0, 1)).generate(X, y)
    np.testing.assert_allclose(got, expected)


def test_fgsm_l1_moves_the_largest_gradient_coordinate(binary):
    X, y, clf = binary
    w = clf.coef_[0]
    j = np.argmax(np.abs(w))
    expected = X.copy()
    expected[:, j] += 2.0 * np.sign(w[j]) * (1 - 2 * y)
    np.testing.assert_allclose(FGSM(clf, eps=2.0, norm="l1").generate(X, y), expected)


def _reference_pgd(clf, X, y, eps, alpha, n_iter, low, high):
    """Hand-written linf PGD without random start on a linear softmax model."""
    W = torch.as_tensor(clf.coef_)
    b = torch.as_tensor(clf.intercept_)
    x0 = torch.as_tensor(X)
    x = x0.clone()
    for _ in range(n_iter):
        x.requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(
            x @ W.T + b, torch.as_tensor(y), reduction="sum"
        )
        (g,) = torch.autograd.grad(loss, x)
        x = x.detach() + alpha * g.sign()
        x = torch.min(torch.max(x, x0 - eps), x0 + eps).clamp(low, high)
    return x.numpy()


def test_pgd_without_random_start_equals_reference_loop(digits):
    X, y, clf = digits
    got = PGD(
        clf, eps=0.1, n_iter=7, step_size=0.03, random_init=False, bounds=(0, 1)
    ).generate(X, y)
    expected = _reference_pgd(clf, X, y, 0.1, 0.03, 7, 0.0, 1.0)
    np.testing.assert_allclose(got, expected, atol=1e-12)


# -- the transformer contract ------------------------------------------------


def test_transform_attacks_own_predictions(digits):
    X, y, clf = digits
    attack = PGD(clf, eps=0.1, n_iter=5, random_state=0)
    np.testing.assert_array_equal(
        attack.transform(X), attack.generate(X, clf.predict(X))
    )


def test_fit_transform_equals_fit_then_transform(digits):
    X, y, clf = digits
    attack = PGD(clf, eps=0.1, n_iter=5, bounds="data", random_state=3)
    np.testing.assert_array_equal(
        attack.fit_transform(X, y), clone(attack).fit(X, y).transform(X)
    )


def test_reproducible_with_random_state(digits):
    X, y, clf = digits
    a = PGD(clf, eps=0.1, n_iter=3, random_state=0).generate(X, y)
    b = PGD(clf, eps=0.1, n_iter=3, random_state=0).generate(X, y)
    c = PGD(clf, eps=0.1, n_iter=3, random_state=1).generate(X, y)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_fitted_estimator_is_not_refitted(digits):
    X, y, clf = digits
    coef = clf.coef_.copy()
    attack = PGD(clf, eps=0.1, n_iter=2).fit(X[:50], y[:50])
    assert not hasattr(attack, "estimator_")
    np.testing.assert_array_equal(clf.coef_, coef)


def test_unfitted_estimator_is_cloned_and_fitted(digits):
    X, y, _ = digits
    base = LogisticRegression(max_iter=2000)
    attack = PGD(base, eps=0.1, n_iter=2, random_state=0).fit(X, y)
    assert hasattr(attack.estimator_, "coef_") and not hasattr(base, "coef_")


def test_attack_step_in_pipeline_is_a_transfer_attack(digits):
    X, y, _ = digits
    pipe = make_pipeline(
        PGD(LogisticRegression(max_iter=2000), eps=0.05, n_iter=3, random_state=0),
        LogisticRegression(max_iter=2000),
    )
    assert pipe.fit(X, y).predict(X).shape == y.shape


def test_sample_count_order_dtype_and_no_mutation(digits):
    X, y, clf = digits
    X32 = X.astype(np.float32)
    before = X32.copy()
    out = PGD(clf, eps=0.1, n_iter=3, random_state=0).generate(X32[::-1], y[::-1])
    assert out.dtype == np.float32 and out.shape == X32.shape
    np.testing.assert_array_equal(X32, before)
    single = PGD(clf, eps=0.1, n_iter=3, random_state=0).generate(X32[-1:], y[-1:])
    np.testing.assert_allclose(out[:1], single, atol=0.2 + 1e-6)


def test_eps_zero_is_identity(digits):
    X, y, clf = digits
    out = PGD(clf, eps=0.0, n_iter=3).generate(X, y)
    np.testing.assert_array_equal(out, X)
    assert out is not X


def test_targeted_attack_reaches_target(digits):
    X, y, clf = digits
    keep = y != 3
    out = PGD(clf, eps=0.3, n_iter=30, random_state=0).generate(
        X[keep], y[keep], target=3
    )
    assert (clf.predict(out) == 3).mean() > 0.9


def test_targeted_dlr_uses_true_labels(digits):
    """Targeted DLR maximises z_t - z_y (y the true class): it must rise."""
    X, y, clf = digits
    keep = y != 3
    X, y = X[keep], y[keep]
    out = PGD(clf, eps=0.3, n_iter=30, loss="dlr", random_state=0).generate(
        X, y, target=3
    )

    def gap(Z):
        z = clf.decision_function(Z)
        return z[:, 3] - z[np.arange(len(y)), y]

    assert (gap(out) > gap(X)).all()
    assert (gap(out) > 0).mean() > 0.5


def test_restarts_never_worse_than_one_run(digits):
    X, y, clf = digits
    one = PGD(clf, eps=0.05, n_iter=5, random_state=0).generate(X, y)
    many = PGD(clf, eps=0.05, n_iter=5, n_restarts=4, random_state=0).generate(X, y)
    assert clf.score(many, y) <= clf.score(one, y)


def test_early_stop_leaves_misclassified_points_untouched(digits):
    X, y, clf = digits
    wrong = clf.predict(X) != y
    y_noisy = np.where(np.arange(len(y)) % 5 == 0, (y + 1) % 10, y)
    wrong = clf.predict(X) != y_noisy
    out = PGD(clf, eps=0.1, n_iter=10, random_init=False, early_stop=True).generate(
        X, y_noisy
    )
    np.testing.assert_array_equal(out[wrong], X[wrong])
    full = PGD(clf, eps=0.1, n_iter=10, random_init=False).generate(X, y_noisy)
    # points stopped early are adversarial, the others got the full attack
    assert (clf.predict(out) != y_noisy).sum() >= (clf.predict(full) != y_noisy).sum()


# -- the tabular threat model ------------------------------------------------


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    return X, y, clf


def test_dataframe_end_to_end_raw_units(cancer):
    X, y, clf = cancer
    eps = 0.1 * X.std().to_numpy()  # raw units, per feature
    out = PGD(clf, eps=eps, n_iter=20, random_state=0).generate(X, y)
    assert isinstance(out, pd.DataFrame)
    assert out.index.equals(X.index) and out.columns.equals(X.columns)
    assert (np.abs(out - X).to_numpy() <= eps + 1e-9).all()
    assert clf.score(out, y) < clf.score(X, y) - 0.05


def test_eps_in_std_units_equals_raw_per_feature_eps(cancer):
    X, y, clf = cancer
    std = PGD(clf, eps=0.2, eps_units="std", n_iter=5, random_state=0).fit(X)
    raw = PGD(clf, eps=0.2 * X.std(ddof=0).to_numpy(), n_iter=5, random_state=0)
    np.testing.assert_allclose(std.generate(X, y), raw.generate(X, y))


def test_mask_direction_bounds_by_name(cancer):
    X, y, clf = cancer
    attack = PGD(
        clf,
        eps=0.5,
        eps_units="std",
        n_iter=10,
        bounds="data",
        random_state=0,
        feature_mask=[c for c in X.columns if c != "mean radius"],
        direction={"mean texture": 1, "worst area": -1},
    ).fit(X)
    out = attack.generate(X, y)
    np.testing.assert_array_equal(out["mean radius"], X["mean radius"])
    assert (out["mean texture"] >= X["mean texture"]).all()
    assert (out["worst area"] <= X["worst area"]).all()
    assert (out >= X.min()).all().all() and (out <= X.max()).all().all()


def test_integer_features_stay_integer_steps(cancer):
    X, y, clf = cancer
    X = X.copy()
    X["mean texture"] = X["mean texture"].round()
    clf = clone(clf).fit(X, y)
    out = PGD(
        clf, eps=3.0, n_iter=10, random_state=0, integer_features=["mean texture"]
    ).generate(X, y)
    moved = out["mean texture"] - X["mean texture"]
    np.testing.assert_array_equal(moved, np.round(moved))
    assert (moved != 0).any() and (np.abs(moved) <= 3).all()


def test_one_hot_groups_stay_one_hot():
    rng = np.random.default_rng(0)
    n = 300
    cat = rng.integers(0, 3, n)
    onehot = np.eye(3)[cat]
    num = rng.normal(size=(n, 2))
    X = np.hstack([num, onehot])
    y = ((num[:, 0] + (cat == 2)) > 0.5).astype(int)
    clf = LogisticRegression().fit(X, y)
    for eps, can_switch in [(0.5, False), (1.0, True)]:
        out = PGD(
            clf,
            eps=eps,
            n_iter=20,
            random_state=0,
            bounds=([-np.inf, -np.inf, 0, 0, 0], [np.inf, np.inf, 1, 1, 1]),
            one_hot_groups=[[2, 3, 4]],
        ).generate(X, y)
        group = out[:, 2:]
        assert set(np.unique(group)) <= {0.0, 1.0}
        np.testing.assert_array_equal(group.sum(axis=1), 1)
        assert (group != onehot).any() == can_switch
        assert (np.abs(out - X).max(axis=1) <= eps + 1e-12).all()


def test_image_shaped_arrays_and_per_pixel_mask():
    X, y = load_digits(return_X_y=True)
    X, y = X[:100] / 16.0, y[:100]
    clf = LogisticRegression(max_iter=2000).fit(X, y)
    mask = np.zeros((8, 8), dtype=bool)
    mask[2:6, 2:6] = True
    out = PGD(
        clf, eps=0.2, n_iter=5, feature_mask=mask, bounds=(0, 1), random_state=0
    ).generate(X, y)
    changed = (out != X).reshape(-1, 8, 8)
    assert not changed[:, ~mask].any() and changed[:, mask].any()


# -- errors --------------------------------------------------------------------


def test_errors_are_clear(digits, cancer):
    X, y, clf = digits
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        PGD(clf, eps=0.1).generate(bad, y)
    with pytest.raises((ValueError, InvalidParameterError), match="eps"):
        PGD(clf, eps=-0.1).generate(X, y)
    with pytest.raises(ValueError, match="non-negative"):
        PGD(clf, eps=[-1.0] * 64).generate(X, y)
    with pytest.raises(InvalidParameterError, match="norm"):
        PGD(clf, eps=0.1, norm="l3").generate(X, y)
    with pytest.raises(InvalidParameterError, match="loss"):
        PGD(clf, eps=0.1, loss="hinge").generate(X, y)
    with pytest.raises(ValueError, match="not one of the model's classes"):
        PGD(clf, eps=0.1).generate(X, y + 100)
    with pytest.raises(ValueError, match="expects"):
        PGD(clf, eps=0.1).generate(X[:, :10], y)
    with pytest.raises(ValueError, match="outside `bounds`"):
        PGD(clf, eps=0.1, bounds=(0.2, 1)).generate(X, y)
    with pytest.raises(NotFittedError, match="fit"):
        PGD(clf, eps=0.1, bounds="data").generate(X, y)
    with pytest.raises(ValueError, match="no estimator"):
        PGD(eps=0.1).generate(X, y)
    with pytest.raises(NotFittedError, match="not fitted"):
        PGD(LogisticRegression(), eps=0.1).generate(X, y)
    rf = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    with pytest.raises(NotDifferentiableError, match="black-box"):
        PGD(rf, eps=0.1).generate(X, y)
    Xc, yc, pipe = cancer
    with pytest.raises(ValueError, match="unknown columns"):
        PGD(pipe, eps=0.1, feature_mask=["nope"]).generate(Xc, yc)


def test_iris_three_classes_dlr_runs_and_two_classes_fall_back(binary):
    X, y = load_iris(return_X_y=True)
    clf = LogisticRegression(max_iter=1000).fit(X, y)
    out = PGD(clf, eps=0.5, loss="dlr", n_iter=10, random_state=0).generate(X, y)
    assert clf.score(out, y) < clf.score(X, y)
    Xb, yb, clfb = binary
    with pytest.warns(UserWarning, match="DLR"):
        PGD(clfb, eps=0.1, loss="dlr", n_iter=2).generate(Xb, yb)
