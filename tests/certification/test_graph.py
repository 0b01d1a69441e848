"""Bounds of traced graphs: networks with their own ``forward``."""

import numpy as np
import pytest
import torch
from _bound_checks import (
    assert_contains,
    assert_margins_hold,
    pgd_points,
    sample_region,
)
from _nets import CustomMLP, FunctionalCNN, ResidualCNN, ShapeControl, TwoBranch

from skrobust.certification import AffineBound, bound_layer
from skrobust.certification.bounds._bounds import margin_spec
from skrobust.certification.bounds._graph import bound_graph
from skrobust.certification.bounds._graph_crown import bound_tensors
from skrobust.certification.bounds._region import Region

METHODS = ["ibp", "crown-ibp", "crown"]
F64 = torch.float64


def graph_bounds(module, X, *, eps, norm="linf", bounds=None, method="ibp", y=None):
    """Logit bounds (no ``y``) or margin lower bounds of a float64 module."""
    x = torch.as_tensor(np.asarray(X), dtype=F64)
    graph = bound_graph(module, tuple(x.shape[1:]), F64, x.device)
    low = high = None
    if bounds is not None:
        low, high = (torch.tensor(float(b), dtype=F64) for b in bounds)
    region = Region(x, torch.tensor(float(eps), dtype=F64), norm, low=low, high=high)
    spec = None
    if y is not None:
        spec = margin_spec(torch.as_tensor(y), module(x[:1]).shape[1], F64)
    with torch.no_grad():
        lower, upper = bound_tensors(graph, region, method=method, spec=spec)
    return (lower.numpy(), upper.numpy()) if y is None else lower.numpy()


def _net(cls, **kwargs):
    torch.manual_seed(0)
    return cls(**kwargs).double().eval()


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X[:12] / 16.0
    return X, X.reshape(-1, 1, 8, 8), y[:12]


EQUIVALENT = {
    "custom-forward MLP": (CustomMLP, True, {}),
    "functional F.relu / x.view": (FunctionalCNN, False, {}),
    "two branches and torch.cat": (TwoBranch, True, {}),
    "control flow (torch.export)": (ShapeControl, True, {}),
    # 4 channels: both skips, every op of the 8-channel net, a quarter the cost
    "residual CNN (skips as extra channels)": (ResidualCNN, False, {"channels": 4}),
}


@pytest.mark.parametrize("name", sorted(EQUIVALENT))
@pytest.mark.parametrize("norm, eps", [("linf", 0.05), ("l2", 0.4)])
def test_custom_forwards_equal_their_sequential(digits, name, norm, eps):
    cls, flat, kwargs = EQUIVALENT[name]
    X_flat, images, y = digits
    X = X_flat if flat else images[:4]  # CROWN on convolutions: fewer samples
    net = _net(cls, **kwargs)
    seq = net.sequential()
    for method in METHODS:
        kw = dict(eps=eps, norm=norm, bounds=(0, 1), method=method)
        for a, b in zip(graph_bounds(net, X, **kw), graph_bounds(seq, X, **kw)):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
        margins = graph_bounds(net, X, y=y[: len(X)], **kw)
        expected = graph_bounds(seq, X, y=y[: len(X)], **kw)
        np.testing.assert_allclose(margins, expected, rtol=0, atol=1e-5)


SOUND = {
    "custom-forward MLP": (CustomMLP, {}, True),
    "functional F.relu / x.view": (FunctionalCNN, {}, False),
    "two branches (relu, tanh)": (TwoBranch, {"activation": "tanh"}, True),
    "residual CNN": (ResidualCNN, {"channels": 4}, False),
}


@pytest.mark.parametrize("name", sorted(SOUND))
def test_sound_on_custom_networks(digits, name):
    """Bounds hold at sampled and PGD points; CROWN is inside IBP."""
    cls, kwargs, flat = SOUND[name]
    X_flat, images, y = digits
    X, y = (X_flat if flat else images)[:6], y[:6]
    net = _net(cls, **kwargs)
    eps, bounds = 0.03, (0, 1)
    attacked = torch.as_tensor(pgd_points(net, X, eps, bounds, n_iter=10))
    with torch.no_grad():
        sampled = net(torch.as_tensor(sample_region(X, eps, bounds=bounds, n=100)))
        attacked = net(attacked.reshape(-1, *X.shape[1:]))
    out = {}
    for method in METHODS:
        kw = dict(eps=eps, bounds=bounds, method=method)
        lower, upper = graph_bounds(net, X, **kw)
        margins = graph_bounds(net, X, y=y, **kw)
        for logits in (sampled.numpy(), attacked.numpy()):
            assert_contains(lower, upper, logits, atol=1e-9)
            assert_margins_hold(margins, logits, y, atol=1e-9)
        out[method] = lower, upper, margins
    for method in ("crown-ibp", "crown"):
        assert np.all(out[method][0] >= out["ibp"][0] - 1e-9)
        assert np.all(out[method][2] >= out["ibp"][2] - 1e-9)
    width = {m: (u - lo).mean() for m, (lo, u, _) in out.items()}
    assert width["crown"] <= width["crown-ibp"] + 1e-9 < width["ibp"]


def test_l2_balls_on_a_residual_network(digits):
    _, images, _ = digits
    net = _net(ResidualCNN)
    X = images[:4]
    with torch.no_grad():
        logits = net(torch.as_tensor(sample_region(X, 0.5, "l2", n=200))).numpy()
    for method in METHODS:
        assert_contains(
            *graph_bounds(net, X, eps=0.5, norm="l2", method=method), logits
        )


class _Product(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x) * x


class _Exp(torch.nn.Module):
    def forward(self, x):
        return torch.exp(x)


class _Outer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = _Exp()
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(self.inner(x))


class _BatchMean(torch.nn.Module):
    def forward(self, x):
        return x - x.mean(0)


@pytest.mark.parametrize(
    "module, match",
    [
        (_Outer(), r"function 'exp' at node 'exp'.*in module 'inner' \(_Exp\)"),
        (_Product(), "product of two input-dependent tensors.*at node 'mul'"),
        (_BatchMean(), "mixes the samples"),
        (torch.nn.Sequential(torch.nn.GELU()), "GELU.*node"),
    ],
)
def test_unsupported_operations_are_named(module, match):
    with pytest.raises(TypeError, match=match):
        graph_bounds(module.double(), np.zeros((2, 4)), eps=0.1)


class _DataDependent(torch.nn.Module):
    """Untraceable (control flow on values): only its registered rule works."""

    def forward(self, x):
        return 2 * x if bool((x > -1e9).all()) else x


def test_registered_layers_stay_calls_inside_a_traced_forward():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = _DataDependent()
            self.fc = torch.nn.Linear(4, 3)

        def forward(self, x):
            return self.fc(torch.relu(self.scale(x)))

    net = Net().double()
    with pytest.raises(TypeError, match="could not trace"):
        graph_bounds(net, np.zeros((2, 4)), eps=0.1)

    @bound_layer.register(_DataDependent)
    def _(layer):
        return AffineBound(lambda x: 2 * x, lambda r: 2 * r, elementwise=True)

    net = Net().double()  # a new module: the failed trace is not cached
    X = np.random.default_rng(0).normal(size=(5, 4))
    with torch.no_grad():
        logits = net(torch.as_tensor(sample_region(X, 0.1))).numpy()
    for method in METHODS:
        assert_contains(*graph_bounds(net, X, eps=0.1, method=method), logits)


def test_parameters_are_read_at_every_call(digits):
    """The trace is cached per module; its weights are not."""
    X, _, _ = digits
    net = _net(CustomMLP)
    before = graph_bounds(net, X, eps=0.05)
    with torch.no_grad():
        net.net[1].weight.mul_(2.0)
    after = graph_bounds(net, X, eps=0.05)
    fresh = graph_bounds(_copy(net), X, eps=0.05)
    np.testing.assert_allclose(after[0], fresh[0], atol=1e-12)
    assert not np.allclose(before[0], after[0])


def _copy(net):
    import copy

    return copy.deepcopy(net)
