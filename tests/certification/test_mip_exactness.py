"""MILP exactness beyond the plain ball: verification flips at the exact
distance, and one-hot groups and ``max_changes`` give the minimum over their
discrete choices, computed here by enumeration."""

import numpy as np
import pytest
import torch
from _bound_checks import torch_view
from _enumeration import affine_layers, enumerated_distance

from skrobust.certification.mip import minimal_distance, verify

ORD = {"linf": np.inf, "l1": 1}


def _net(sizes, seed):
    torch.manual_seed(seed)
    layers = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    layers.append(torch.nn.Linear(sizes[-2], sizes[-1]))
    return torch.nn.Sequential(*layers).double()


@pytest.mark.parametrize("norm", ["linf", "l1"])
def test_verification_flips_at_the_exact_distance(norm):
    """Verified just inside the minimal distance, falsified just outside."""
    view = torch_view(_net([2, 5, 3], seed=2), 3)
    X = np.random.default_rng(2).uniform(-1, 1, size=(5, 2))
    y = view.predict(X)
    dist = minimal_distance(view, X, norm=norm, max_eps=3.0)
    near = np.flatnonzero(dist.radius < 3.0)
    assert len(near) >= 3 and dist.exact.all()
    for i in near:
        r = dist.radius[i]
        inside = verify(view, X[[i]], y[[i]], eps=0.99 * r, norm=norm)
        assert inside.status[0] == "verified"
        outside = verify(view, X[[i]], y[[i]], eps=1.01 * r, norm=norm)
        assert outside.status[0] == "falsified"
        adv = outside.counterexample[0]
        assert np.linalg.norm(adv - X[i], ord=ORD[norm]) <= 1.01 * r + 1e-9
        assert view.predict(adv[None])[0] != y[i]


@pytest.mark.parametrize("norm, switch", [("linf", 1.0), ("l1", 2.0)])
def test_one_hot_group_distance_is_the_best_category(norm, switch):
    """Two continuous features (budget 0.25) and a one-hot group of three: the
    distance is the smallest, over the categories, of the continuous distance
    with that category set, plus (l1) or at least (l-inf) the cost of
    switching."""
    net = _net([5, 4, 3], seed=7)
    view = torch_view(net, 3)
    rng = np.random.default_rng(7)
    cont, cats = rng.uniform(-1, 1, size=(4, 2)), rng.integers(0, 3, size=4)
    X = np.hstack([cont, np.eye(3)[cats]])
    labels = view.predict(X)
    s, cap = 0.25, 4.0
    result = minimal_distance(
        view, X, norm=norm, eps=[s, s, 1, 1, 1], max_eps=cap, one_hot_groups=[[2, 3, 4]]
    )
    (W1, W2), (b1, b2) = affine_layers(net)
    switched = 0
    for i in range(len(X)):
        stay, move = cap, cap
        for c in range(3):  # category c folded into the first bias: a 2-D net
            d = (
                enumerated_distance(
                    [W1[:, :2], W2],
                    [b1 + W1[:, 2 + c], b2],
                    cont[i],
                    labels[i],
                    norm,
                    cap * s,
                )
                / s
            )
            if c == cats[i]:
                stay = d
            else:
                move = min(move, switch + d if norm == "l1" else max(switch, d))
        best = min(stay, move)
        switched += move < stay
        assert result.radius[i] == pytest.approx(min(best, cap), abs=1e-4)
        if best < cap:  # the boundary point's group is one-hot
            group = result.boundary[i, 2:]
            np.testing.assert_allclose(np.sort(group), [0, 0, 1], atol=1e-9)
    assert switched  # the nearest boundary is in another category somewhere


def test_max_changes_is_the_best_choice_of_moving_features():
    """``max_changes`` caps the integer features that move: the distance is
    the smallest over which of them may move."""
    view = torch_view(_net([4, 6, 3], seed=5), 3)
    X = np.random.default_rng(5).uniform(-1, 1, size=(6, 4))
    X[:, :2] = np.round(3 * X[:, :2])
    y = view.predict(X)
    kw = dict(eps=[0.5, 0.5, 0.2, 0.2], max_eps=4.0, integer_features=[0, 1])
    free = minimal_distance(view, X, y, **kw).radius
    none = minimal_distance(view, X, y, max_changes=0, **kw)
    one = minimal_distance(view, X, y, max_changes=1, **kw)
    two = minimal_distance(view, X, y, max_changes=2, **kw).radius
    frozen = minimal_distance(view, X, y, feature_mask=[2, 3], **kw).radius
    only_0 = minimal_distance(view, X, y, feature_mask=[0, 2, 3], **kw).radius
    only_1 = minimal_distance(view, X, y, feature_mask=[1, 2, 3], **kw).radius
    np.testing.assert_allclose(none.radius, frozen, atol=1e-6)
    np.testing.assert_allclose(one.radius, np.minimum(only_0, only_1), atol=1e-6)
    np.testing.assert_allclose(two, free, atol=1e-6)
    assert np.any(one.radius > free + 1e-3)  # the cap binds somewhere
    for result, cap in ((none, 0), (one, 1)):
        moved = ~np.isnan(result.boundary).any(axis=1)
        steps = np.abs(result.boundary[moved, :2] - X[moved, :2]) > 1e-9
        assert np.all(steps.sum(axis=1) <= cap)
    # verification: counterexamples respect the cap too
    result = verify(
        view,
        X,
        y,
        eps=np.array([3.0, 3.0, 0.6, 0.6]),
        max_changes=1,
        integer_features=[0, 1],
    )
    falsified = result.status == "falsified"
    adv = result.counterexample[falsified]
    assert falsified.any()
    assert np.all((np.abs(adv[:, :2] - X[falsified, :2]) > 1e-9).sum(axis=1) <= 1)
    assert np.all(view.predict(adv) != y[falsified])


@pytest.mark.parametrize("norm", ["linf", "l1"])
def test_integer_feature_distance_is_the_best_integer_step(norm):
    """An integer feature (budget 1) beside a continuous one (budget 0.25):
    the distance is the smallest, over integer steps ``k``, of the continuous
    distance with the step taken, combined with ``|k|``; the continuous
    relaxation of the same feature is closer somewhere."""
    net = _net([2, 3, 3], seed=8)
    view = torch_view(net, 3)
    rng = np.random.default_rng(8)
    X = np.column_stack([rng.integers(-1, 2, size=4), rng.uniform(-1, 1, size=4)])
    X = X.astype(float)
    labels = view.predict(X)
    s, cap = 0.25, 2.0
    kw = dict(norm=norm, eps=[1.0, s], max_eps=cap)
    result = minimal_distance(view, X, integer_features=[0], **kw)
    relaxed = minimal_distance(view, X, **kw)
    (W1, W2), (b1, b2) = affine_layers(net)
    for i in range(len(X)):
        best = cap
        for k in range(-2, 3):  # the step folded into the first bias: a 1-D net
            bias = b1 + W1[:, 0] * (X[i, 0] + k)
            d = enumerated_distance(
                [W1[:, 1:], W2], [bias, b2], X[i, 1:], labels[i], norm, cap * s
            )
            d /= s
            best = min(best, abs(k) + d if norm == "l1" else max(abs(k), d))
        assert result.radius[i] == pytest.approx(best, abs=1e-4)
    assert np.any(result.radius > relaxed.radius + 1e-3)
