"""Lipschitz certificates: exact on linear models, upper bounds everywhere else."""

import numpy as np
import pytest
import torch
from _bound_checks import torch_view
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skrobust import as_differentiable
from skrobust.attacks import PGD
from skrobust.certification.lipschitz import (
    Constant,
    certified_radius,
    certify,
    lipschitz_constant,
    lipschitz_layer,
)
from skrobust.certification.lipschitz._layers import pieces
from skrobust.certification.lipschitz._operators import AffineRun, circular_conv_norm
from skrobust.nn import GroupSort

DUAL = {"l2": 2, "linf": 1, "l1": np.inf}
ORD = {"l2": 2, "linf": np.inf, "l1": 1}


def _exact_linear_radius(W, b, X, norm):
    """``min_k (z_c - z_k) / ||w_c - w_k||_q`` at the predicted class ``c``."""
    z = X @ W.T + b
    c = z.argmax(axis=1)
    gap = z[np.arange(len(X)), c][:, None] - z
    norms = np.linalg.norm(W[c][:, None, :] - W[None], ord=DUAL[norm], axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(norms > 0, gap / norms, np.inf)
    ratio[np.arange(len(X)), c] = np.inf
    return ratio.min(axis=1)


@pytest.mark.parametrize("norm", ["l2", "linf", "l1"])
def test_radius_is_exact_on_linear_models(norm):
    X, y = load_iris(return_X_y=True)
    clf = LogisticRegression(max_iter=1000).fit(X, y)
    exact = _exact_linear_radius(clf.coef_, clf.intercept_, X, norm)
    radius = certified_radius(clf, X, y, norm=norm)
    correct = clf.predict(X) == y
    assert np.all(np.isnan(radius) == ~correct)
    np.testing.assert_allclose(radius[correct], exact[correct], rtol=1e-9)


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_radius_is_exact_through_a_scaler(norm):
    """A binary pipeline: ``|w . (x - m) / s + b| / ||w / s||_q`` in raw units."""
    X, y = load_breast_cancer(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    scaler, clf = model[0], model[1]
    w = clf.coef_[0] / scaler.scale_
    d = model.decision_function(X)
    exact = np.abs(d) / np.linalg.norm(w, ord=DUAL[norm])
    np.testing.assert_allclose(certified_radius(model, X, norm=norm), exact, rtol=1e-9)
    # and the margin radius is where the decision flips: a step just past it
    direction = -np.sign(d)[:, None] * np.sign(w) if norm == "linf" else None
    if norm == "linf":
        X_past = X + direction * exact[:, None] * 1.001
        assert np.all(model.predict(X_past) != model.predict(X))


def _odd_net():
    """Conv, batch norm, max pooling, GroupSort, LeakyReLU, tanh: every rule."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.BatchNorm2d(4),
        torch.nn.LeakyReLU(0.1),
        torch.nn.MaxPool2d(3, stride=2, padding=1),
        GroupSort(2),
        torch.nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=2),
        torch.nn.Tanh(),
        torch.nn.Flatten(),
        torch.nn.Linear(16, 3),
    )
    bn = net[1]
    bn.running_mean.uniform_(-0.5, 0.5)
    bn.running_var.uniform_(0.5, 2.0)
    return torch_view(net, 3)


def _models(digits_mlp, digits_cnn):
    X, y = load_iris(return_X_y=True)
    tanh = make_pipeline(
        StandardScaler(),
        MLPClassifier((8, 8), activation="tanh", max_iter=3000, random_state=0),
    ).fit(X, y)
    rng = np.random.default_rng(0)
    return [
        (digits_mlp, rng.uniform(0, 1, (64, 64)).astype(np.float32)),
        (digits_cnn, rng.uniform(0, 1, (64, 1, 8, 8)).astype(np.float32)),
        (tanh, X[:64] + rng.normal(0, 0.3, (64, 4))),
        (_odd_net(), rng.normal(size=(64, 1, 8, 8))),
    ]


@pytest.mark.parametrize("norm", ["l2", "linf", "l1"])
def test_constants_bound_sampled_gradients(digits_mlp, digits_cnn, norm):
    """``K[j, k] >= ||grad (z_j - z_k)||_q`` and ``L >= ||dz|| / ||dx||``."""
    for model, X in _models(digits_mlp, digits_cnn):
        view = as_differentiable(model)
        kw = dict(norm=norm, input_shape=X.shape[1:])
        K = lipschitz_constant(model, margins=True, **kw)
        L = lipschitz_constant(model, **kw)
        x = view.to_input(X).requires_grad_(True)
        with view.evaluating():
            z = view(x)
            n_classes = z.shape[1]
            for j in range(n_classes):
                for k in range(j + 1, n_classes):
                    (g,) = torch.autograd.grad(
                        (z[:, j] - z[:, k]).sum(), x, retain_graph=True
                    )
                    grad = g.flatten(1).norm(p=DUAL[norm], dim=1).max().item()
                    assert grad <= K[j, k] * (1 + 1e-5), (model, j, k)
                    assert K[j, k] == K[k, j]
            # finite differences between nearby random pairs
            x2 = x + 1e-2 * torch.randn_like(x)
            dz = (view(x2) - z).flatten(1).norm(p=ORD[norm], dim=1)
            dx = (x2 - x).flatten(1).norm(p=ORD[norm], dim=1)
            assert (dz / dx).max().item() <= L * (1 + 1e-5)
        assert np.all(np.diag(K) == 0)
        if norm == "l2":  # the row-difference bound never exceeds sqrt(2) L
            assert K.max() <= np.sqrt(2) * L * (1 + 1e-9)


def _conv_operator(conv, shape):
    n = int(np.prod(shape))
    eye = torch.eye(n, dtype=torch.float64).reshape(n, *shape)
    with torch.no_grad():
        out = conv(eye) - conv(torch.zeros(1, *shape, dtype=torch.float64))
    return out.reshape(n, -1).T


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(padding=1),
        dict(padding=1, stride=2),
        dict(padding=2, dilation=2),
        dict(padding=0, groups=2),
    ],
)
def test_conv_norms_bracket_the_exact_operator_norm(kwargs):
    """Power iteration (on conv / conv_transpose) <= exact <= certified bounds."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(4, 6, 3, **kwargs).double()
    shape = (4, 7, 7)
    exact = torch.linalg.matrix_norm(_conv_operator(conv, shape), ord=2).item()
    [rule] = [p for _, p in pieces(conv)]
    run = AffineRun([rule], shape, dtype=torch.float64, device="cpu")
    power = run.power_norm(n_iter=500, tol=1e-12)
    assert exact * (1 - 1e-6) <= run.norm("l2") <= exact * (1 + 1e-9)
    assert exact * (1 - 1e-4) <= power <= exact * (1 + 1e-9)
    circular = circular_conv_norm(conv, shape)
    assert exact * (1 - 1e-9) <= circular <= 1.5 * exact
    # without materializing: the circulant / Schur bound, still above
    assert run.norm("l2", max_elements=1) >= exact * (1 - 1e-9)
    matrix = _conv_operator(conv, shape)
    for p, value in (
        ("linf", matrix.abs().sum(1).max().item()),
        ("l1", matrix.abs().sum(0).max().item()),
    ):
        assert run.norm(p, max_elements=1) == pytest.approx(value, rel=1e-9)


@pytest.mark.parametrize("norm, eps", [("l2", 0.3), ("linf", 0.01)])
def test_certified_points_survive_pgd(digits_mlp, digits_data, norm, eps):
    X, y = digits_data.X_test[:300], digits_data.y_test[:300]
    certified = certify(digits_mlp, X, y, eps=eps, norm=norm)
    assert certified.sum() >= 10
    attack = PGD(
        digits_mlp, eps=eps, norm=norm, n_iter=50, n_restarts=5, random_state=0
    )
    X_adv = attack.generate(X[certified], y[certified])
    assert np.all(digits_mlp.predict(X_adv) == y[certified])
    radius = certified_radius(digits_mlp, X, y, norm=norm)
    np.testing.assert_array_equal(certified, np.nan_to_num(radius, nan=-1) > eps)


def test_softmax_tail_keeps_the_margins():
    """A network ending in LogSoftmax certifies as the network without it."""
    torch.manual_seed(0)
    body = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)
    )
    X = np.random.default_rng(0).normal(size=(50, 4))
    plain = torch_view(body, 3)
    tail = torch_view(torch.nn.Sequential(body, torch.nn.LogSoftmax(dim=1)), 3)
    for norm in ("l2", "linf"):
        a = certified_radius(plain, X, norm=norm)
        b = certified_radius(tail, X, norm=norm)
        np.testing.assert_allclose(a, b, rtol=1e-9)
    middle = torch.nn.Sequential(torch.nn.Softmax(dim=1), torch.nn.Linear(4, 3))
    with pytest.raises(TypeError, match="Softmax inside the network"):
        certified_radius(torch_view(middle, 3), X)


def test_per_feature_budgets(digits_mlp, digits_data):
    X, y = digits_data.X_test[:200], digits_data.y_test[:200]
    same = certify(digits_mlp, X, y, eps=np.full(64, 0.2), norm="l2")
    np.testing.assert_array_equal(same, certify(digits_mlp, X, y, eps=0.2, norm="l2"))
    eps = np.full(64, 0.2)
    eps[::2] = 0.0  # half the pixels frozen: a smaller set, more certificates
    frozen = certify(digits_mlp, X, y, eps=eps, norm="l2")
    assert np.all(frozen[same]) and frozen.sum() > same.sum()
    # a frozen feature of a linear model does not enter its constant
    Xi, yi = load_iris(return_X_y=True)
    clf = LogisticRegression(max_iter=1000).fit(Xi, yi)
    r = certified_radius(clf, Xi, yi, norm="l2")
    unit = np.array([0.0, 1.0, 1.0, 1.0])
    for t in (0.5, 1.0):
        got = certify(clf, Xi, yi, eps=t * unit, norm="l2")
        z = clf.decision_function(Xi)
        gap = np.sort(z, axis=1)[:, -1:] - z
        W = clf.coef_[:, 1:]
        c = z.argmax(1)
        n = np.linalg.norm(W[c][:, None] - W[None], axis=2)
        with np.errstate(divide="ignore", invalid="ignore"):
            exact = np.where(n > 0, gap / n, np.inf)
        exact[np.arange(len(c)), c] = np.inf
        expected = (exact.min(1) > t) & ~np.isnan(r)
        np.testing.assert_array_equal(got, expected)


def test_registry_and_errors():
    X, y = load_iris(return_X_y=True)
    clf = LogisticRegression(max_iter=1000).fit(X, y)
    with pytest.raises(ValueError, match="norm must be one of"):
        certified_radius(clf, X, norm="l3")
    with pytest.raises(ValueError, match="eps must be"):
        certify(clf, X, y, eps=-1.0)

    class Square(torch.nn.Module):
        def forward(self, x):
            return x**2

    net = torch.nn.Sequential(torch.nn.Linear(4, 3), Square(), torch.nn.Linear(3, 3))
    with pytest.raises(TypeError, match="lipschitz_layer.register"):
        certified_radius(torch_view(net, 3), X)

    @lipschitz_layer.register(Square)
    def _(layer):
        return [Constant(10.0, name="Square on [-5, 5]")]

    assert np.isfinite(certified_radius(torch_view(net, 3), X)).all()


def test_family_protocol_arguments():
    """The arguments certify / certified_radius pass to every method family."""
    X, y = load_iris(return_X_y=True)
    clf = LogisticRegression(max_iter=1000).fit(X, y)
    own = certified_radius(clf, X, y, norm="linf")
    capped = certified_radius(clf, X, y, norm="linf", method="lipschitz", max_eps=0.3)
    np.testing.assert_allclose(capped, np.minimum(own, 0.3), equal_nan=True)
    # frozen features: the constants of the rest, so radii can only grow
    frozen = certified_radius(clf, X, y, norm="linf", feature_mask=[2, 3])
    ok = ~np.isnan(own)
    assert np.all(frozen[ok] >= own[ok] - 1e-12) and np.any(frozen[ok] > own[ok])
    by_dict = certify(clf, X, y, eps={2: 0.2, 3: 0.2}, norm="linf", batch_size=7)
    np.testing.assert_array_equal(
        by_dict, certify(clf, X, y, eps=0.2, norm="linf", feature_mask=[2, 3])
    )
    with pytest.raises(ValueError, match="method must be one of"):
        certify(clf, X, y, eps=0.1, method="crown")
