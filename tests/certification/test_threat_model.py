"""Certificates under the attacks' threat model: masks, eps by column, direction,
bounds learned from data; sound against PGD with the same constraints."""

import numpy as np
import pandas as pd
import pytest
import torch
from _bound_checks import assert_contains, assert_margins_hold, torch_view
from skorch import NeuralNetClassifier
from skorch.utils import to_tensor

from skrobust import as_differentiable
from skrobust.attacks import PGD
from skrobust.certification import (
    IBPClassifier,
    certified_radius,
    certify,
    interval_bounds,
    margin_bounds,
)
from skrobust.nn import MLP

METHODS = ["ibp", "crown-ibp", "crown"]
FROZEN, CONSTANT = 2, 0.3


@pytest.fixture(scope="module")
def frozen_pair():
    """A random float64 MLP on 6 features, and the same MLP with feature 2
    removed (its constant value folded into the first bias), with data whose
    feature 2 is that constant."""
    torch.manual_seed(0)
    full = torch.nn.Sequential(
        torch.nn.Linear(6, 16),
        torch.nn.ReLU(),
        torch.nn.Linear(16, 12),
        torch.nn.ReLU(),
        torch.nn.Linear(12, 3),
    ).double()
    others = [i for i in range(6) if i != FROZEN]
    first = torch.nn.Linear(5, 16).double()
    with torch.no_grad():
        first.weight.copy_(full[0].weight[:, others])
        first.bias.copy_(full[0].bias + CONSTANT * full[0].weight[:, FROZEN])
    reduced = torch.nn.Sequential(first, *list(full)[1:])
    X = np.random.default_rng(0).uniform(-1, 1, (60, 6))
    X[:, FROZEN] = CONSTANT
    full_view, reduced_view = torch_view(full, 3), torch_view(reduced, 3)
    y = full_view.predict(X)
    y[::5] = (y[::5] + 1) % 3  # some misclassified points
    np.testing.assert_allclose(
        full_view.logits(X), reduced_view.logits(X[:, others]), atol=1e-12
    )
    return full_view, reduced_view, X, y, others


@pytest.mark.parametrize("norm", ["linf", "l2", "l1"])
@pytest.mark.parametrize("method", METHODS)
def test_frozen_feature_is_a_removed_feature(frozen_pair, method, norm):
    full, reduced, X, y, others = frozen_pair
    kw = dict(eps=0.15, norm=norm, method=method)
    expected = margin_bounds(reduced, X[:, others], y, **kw)
    columns = [f"f{i}" for i in range(6)]
    frame = pd.DataFrame(X, columns=columns)
    per_feature = np.where(np.arange(6) == FROZEN, 0.0, 0.15)
    ways = {
        "feature_mask": dict(kw, feature_mask=others),
        "mask by name": dict(kw, feature_mask=[columns[i] for i in others]),
        "eps by column": dict(kw, eps={columns[i]: 0.15 for i in others}),
        "eps per feature": dict(kw, eps=per_feature),
    }
    for name, kwargs in ways.items():
        data = X if name in ("feature_mask", "eps per feature") else frame
        margins = margin_bounds(full, data, y, **kwargs)
        np.testing.assert_allclose(margins, expected, atol=1e-10, err_msg=name)
    np.testing.assert_array_equal(
        certify(full, X, y, feature_mask=others, **kw),
        certify(reduced, X[:, others], y, **kw),
    )
    radius_kw = dict(norm=norm, method=method, max_eps=2.0, tol=1e-3)
    radius = certified_radius(full, X, y, feature_mask=others, **radius_kw)
    np.testing.assert_allclose(
        radius, certified_radius(reduced, X[:, others], y, **radius_kw), atol=1e-9
    )
    assert np.all(np.isnan(radius[::5])) and not np.any(np.isnan(radius[1::5]))


def _region_points(X, eps, mask, direction, bounds, n=100, seed=0):
    """Points of the constrained region: corners and uniform draws of the box,
    masked, signed by the direction, clipped to the bounds."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(-1, 1, size=(len(X), n, *X.shape[1:]))
    u[:, : n // 2] = np.sign(u[:, : n // 2])
    u = np.where(direction > 0, np.abs(u), np.where(direction < 0, -np.abs(u), u))
    points = np.clip(X[:, None] + eps * mask * u, *bounds)
    return points.reshape(-1, *X.shape[1:])


def test_constrained_bounds_are_sound_and_tighter(digits_mlp, digits_data):
    X, y = digits_data.X_test[:12], digits_data.y_test[:12]
    rng = np.random.default_rng(1)
    mask = rng.random(64) < 0.5
    direction = rng.choice([-1, 0, 1], size=64)
    threat = dict(eps=0.1, bounds=(0, 1), feature_mask=mask, direction=direction)
    points = _region_points(X, 0.1, mask, direction, (0, 1))
    view = as_differentiable(digits_mlp)
    logits = view.logits(points).reshape(len(X), -1, view.n_classes)
    for method in METHODS:
        lower, upper = interval_bounds(digits_mlp, X, method=method, **threat)
        margins = margin_bounds(digits_mlp, X, y, method=method, **threat)
        assert_contains(lower, upper, logits)
        assert_margins_hold(margins, logits, y)
    # a smaller region: interval bounds can only tighten
    free = margin_bounds(digits_mlp, X, y, eps=0.1, bounds=(0, 1), method="ibp")
    constrained = margin_bounds(digits_mlp, X, y, method="ibp", **threat)
    assert np.all(constrained >= free - 1e-5)
    assert (constrained - free).mean() > 0.1


def test_certified_points_survive_pgd_with_the_same_threat_model(
    digits_mlp, digits_data
):
    X, y = digits_data.X_test[:150], digits_data.y_test[:150]
    rng = np.random.default_rng(2)
    threat = dict(
        eps=0.08,
        bounds=(0, 1),
        feature_mask=rng.random(64) < 0.6,
        direction=rng.choice([-1, 0, 1], size=64),
    )
    certified = certify(digits_mlp, X, y, **threat)
    assert 20 <= certified.sum() < len(X)
    assert certified.sum() > certify(digits_mlp, X, y, eps=0.08, bounds=(0, 1)).sum()
    attack = PGD(digits_mlp, n_iter=50, n_restarts=3, random_state=0, **threat)
    X_adv = attack.generate(X[certified], y[certified])
    assert np.all(digits_mlp.predict(X_adv) == y[certified])
    # the attack is not idle: it breaks some of the points left uncertified
    X_adv = attack.generate(X[~certified], y[~certified])
    assert np.mean(digits_mlp.predict(X_adv) != y[~certified]) > 0


@pytest.fixture(scope="module")
def constrained_ibp(digits_data):
    net = NeuralNetClassifier(
        MLP,
        module__hidden_layer_sizes=(32,),
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        max_epochs=4,
        batch_size=128,
        train_split=None,
        verbose=0,
    )
    mask = np.arange(64) % 2 == 0
    direction = np.where(np.arange(64) < 32, 1, 0)
    clf = IBPClassifier(
        net,
        eps=0.05,
        bounds="data",
        feature_mask=mask,
        direction=direction,
        warmup_epochs=0,
        ramp_epochs=0,
        random_state=0,
    )
    return clf.fit(digits_data.X_train[:600], digits_data.y_train[:600])


def test_ibp_classifier_trains_and_certifies_in_its_threat_model(
    constrained_ibp, digits_data
):
    clf = constrained_ibp
    X, y = digits_data.X_test[:40], digits_data.y_test[:40]
    low, high = clf.data_min_, clf.data_max_
    np.testing.assert_array_equal(low, digits_data.X_train[:600].min(axis=0))
    threat = dict(feature_mask=clf.feature_mask, direction=clf.direction)
    # the training loss bounds the same region as margin_bounds
    net = clf.estimator_.net_
    x, labels = to_tensor(X, device="cpu"), to_tensor(y, device="cpu")
    with torch.no_grad():
        lower = net.objective.margin_lower(net, x, labels, factor=1.0, beta=0.0)
    inside = np.all((X >= low) & (X <= high), axis=1)  # data bounds hold as given
    assert 10 <= inside.sum() < len(X)
    expected = margin_bounds(
        clf, X[inside], y[inside], eps=0.05, bounds=(low, high), method="ibp", **threat
    )
    np.testing.assert_allclose(lower.numpy()[inside], expected, atol=1e-5)
    # its certificates are the module function's, with the learned bounds
    np.testing.assert_array_equal(
        clf.certify(X[inside], y[inside]),
        certify(clf, X[inside], y[inside], eps=0.05, bounds=(low, high), **threat),
    )
    # points beyond the data bounds are allowed: the box stretches to hold them
    beyond = X.copy()
    beyond[:, 0] = high[0] + 0.5
    assert clf.certify(beyond, y).shape == (len(y),)
    wrong = (clf.predict(beyond[:5]) + 1) % 10
    assert np.all(np.isnan(clf.certified_radius(beyond[:5], wrong)))
    assert np.all(clf.certified_radius(beyond[:5]) >= 0)  # its own predictions


def test_threat_model_errors(digits_mlp, digits_data):
    X, y = digits_data.X_test[:5], digits_data.y_test[:5]
    with pytest.raises(ValueError, match="no fit to learn"):
        certify(digits_mlp, X, y, eps=0.1, bounds="data")
    with pytest.raises(ValueError, match="names columns"):
        certify(digits_mlp, X, y, eps=0.1, feature_mask=["pixel_0"])
    with pytest.raises(ValueError, match="norm must be one of"):
        certify(digits_mlp, X, y, eps=0.1, norm="l3")
    with pytest.raises(ValueError, match=r"method must be one of \('ibp'"):
        certified_radius(digits_mlp, X, y, method="exact")
    with pytest.raises(ValueError, match="eps must be a non-negative"):
        margin_bounds(digits_mlp, X, y, eps=-0.1)
    with pytest.raises(ValueError, match="lie outside `bounds`"):
        interval_bounds(digits_mlp, X + 2, eps=0.1, bounds=(0, 1))
