"""Certificates of fitted models: exact on linear models, never broken by PGD."""

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from skrobust.attacks import PGD
from skrobust.certification import certified_radius, certify, margin_bounds


@pytest.fixture(scope="module")
def iris_logreg():
    X, y = load_iris(return_X_y=True)
    return LogisticRegression(max_iter=1000).fit(X, y), X, y


def test_linear_radius_is_the_exact_minimal_perturbation(iris_logreg):
    """For ``Wx + b`` the l-inf radius is ``min_k (z_y - z_k) / ||w_y - w_k||_1``."""
    clf, X, y = iris_logreg
    z = clf.decision_function(X)
    W = clf.coef_
    gap = z[np.arange(len(y)), y][:, None] - z
    norms = np.abs(W[y][:, None, :] - W[None]).sum(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        exact = np.where(norms > 0, gap / norms, np.inf).min(axis=1)
    exact = np.where(clf.predict(X) == y, exact, -1.0)
    tol = 1e-4
    for method in ("ibp", "crown"):
        radius = certified_radius(clf, X, y, method=method, max_eps=2.0, tol=tol)
        correct = exact >= 0
        assert np.all(np.isnan(radius[~correct]))  # NaN: misclassified
        assert not np.any(np.isnan(radius[correct]))
        assert np.all(radius[correct] <= exact[correct] + 1e-9)  # certified: sound
        assert np.all(radius[correct] >= exact[correct] - 2 * tol)  # and tight


def test_radius_agrees_with_certify(digits_mlp, digits_data):
    X, y = digits_data.X_test[:60], digits_data.y_test[:60]
    radius = certified_radius(digits_mlp, X, y, bounds=(0, 1), max_eps=0.5, tol=1e-3)
    for r in (0.01, 0.03):
        ok = certify(digits_mlp, X, y, eps=r, bounds=(0, 1))
        # bisection on CROWN: certified up to the radius, not beyond it + tol
        assert np.all(ok[radius >= r])
        assert not np.any(ok[(radius >= 0) & (radius < r - 2e-3)])
    assert np.all(~np.isnan(radius) == (digits_mlp.predict(X) == y))
    assert np.all(radius[~np.isnan(radius)] >= 0)


def test_certify_equals_positive_margins(digits_cnn, digits_data):
    """The cascade (CROWN-IBP, then full CROWN on the rest) changes nothing."""
    X, y = digits_data.images_test[:40], digits_data.y_test[:40]
    for method in ("ibp", "crown-ibp", "crown"):
        kw = dict(eps=0.01, bounds=(0, 1), method=method)
        margins = margin_bounds(digits_cnn, X, y, **kw)
        margins[np.arange(len(y)), y] = np.inf
        expected = margins.min(axis=1) > 0
        np.testing.assert_array_equal(certify(digits_cnn, X, y, **kw), expected)


@pytest.mark.parametrize(
    "fixture, images", [("digits_mlp", False), ("digits_cnn", True)]
)
def test_certified_points_survive_pgd(request, digits_data, fixture, images):
    model = request.getfixturevalue(fixture)
    X = digits_data.images_test if images else digits_data.X_test
    X, y = X[:150], digits_data.y_test[:150]
    eps = 0.02
    certified = certify(model, X, y, eps=eps, bounds=(0, 1))
    assert certified.sum() >= 30
    attack = PGD(model, eps=eps, bounds=(0, 1), n_iter=50, n_restarts=5, random_state=0)
    X_adv = attack.generate(X[certified], y[certified])
    assert np.all(model.predict(X_adv) == y[certified])
    # the attack is not idle: it breaks points that are not certified
    X_adv = attack.generate(X[~certified], y[~certified])
    assert np.mean(model.predict(X_adv) != y[~certified]) > 0


def test_argument_errors(iris_logreg):
    clf, X, y = iris_logreg
    with pytest.raises(ValueError, match="max_eps"):
        certified_radius(clf, X, y, max_eps=0)
    with pytest.raises(ValueError, match="`y` has 3 entries for 4 samples"):
        certify(clf, X[:4], y[:3], eps=0.1)


@pytest.mark.gpu
def test_certificates_on_the_gpu_match_the_cpu(digits_data):
    import torch
    from skorch import NeuralNetClassifier

    from skrobust import SkorchClassifier
    from skrobust.nn import SmallCNN

    X, y = digits_data.images_train[:300], digits_data.y_train[:300]
    results = []
    for device in ("cpu", "cuda"):
        net = NeuralNetClassifier(
            SmallCNN,
            criterion=torch.nn.CrossEntropyLoss,
            max_epochs=3,
            train_split=None,
            device=device,
            verbose=0,
        )
        clf = SkorchClassifier(net, random_state=0).fit(X, y)
        clf.net_.module_.to("cpu")
        state = {k: v.clone() for k, v in clf.net_.module_.state_dict().items()}
        clf.net_.module_.to(device)
        results.append((clf, state))
    (cpu, state), (gpu, _) = results
    gpu.net_.module_.load_state_dict(state)  # the same weights on both devices
    for method in ("ibp", "crown-ibp", "crown"):
        kw = dict(eps=0.02, bounds=(0, 1), method=method)
        a = certify(cpu, X[:100], y[:100], **kw)
        b = certify(gpu, X[:100], y[:100], **kw)
        assert (a != b).sum() <= 2  # float32 rounding differs across devices
