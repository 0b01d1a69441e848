"""Interval bound propagation and CROWN: exactness, references, soundness."""

import copy

import numpy as np
import pytest
import torch
from _bound_checks import (
    assert_contains,
    assert_margins_hold,
    raw_bounds,
    sample_region,
    torch_view,
)
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer
from sklearn.svm import SVC

from skrobust import as_differentiable
from skrobust.attacks import PGD
from skrobust.certification import (
    AffineBound,
    bound_layer,
    interval_bounds,
    margin_bounds,
)
from skrobust.certification.bounds import (
    bound_graph,
    bound_tensors,
    chain_graph,
    layer_rules,
    margin_spec,
)
from skrobust.certification.bounds._region import Region

METHODS = ["ibp", "crown-ibp", "crown"]


@pytest.fixture(scope="module")
def iris_logreg():
    X, y = load_iris(return_X_y=True)
    return LogisticRegression(max_iter=1000).fit(X, y), X, y


# -- closed forms and references ----------------------------------------------


@pytest.mark.parametrize("norm, dual", [("linf", 1), ("l2", 2), ("l1", np.inf)])
def test_single_linear_layer_is_the_exact_interval(iris_logreg, norm, dual):
    clf, X, _ = iris_logreg
    eps = np.array([0.1, 0.2, 0.05, 0.3])  # per feature: the scaled ball
    lower, upper = interval_bounds(clf, X, eps=eps, norm=norm)
    z = clf.decision_function(X)
    radius = np.linalg.norm(clf.coef_ * eps, ord=dual, axis=1)
    np.testing.assert_allclose(lower, z - radius, rtol=0, atol=1e-10)
    np.testing.assert_allclose(upper, z + radius, rtol=0, atol=1e-10)
    for method in ("crown-ibp", "crown"):  # exact too: one affine layer
        lo, up = interval_bounds(clf, X, eps=eps, norm=norm, method=method)
        np.testing.assert_allclose(lo, lower, atol=1e-10)
        np.testing.assert_allclose(up, upper, atol=1e-10)


def test_linear_margins_are_exact(iris_logreg):
    """The margin specification folded into one linear layer: the exact minimum."""
    clf, X, y = iris_logreg
    margins = margin_bounds(clf, X, y, eps=0.1)
    z = clf.decision_function(X)
    W = clf.coef_
    expected = z[np.arange(len(y)), y][:, None] - z
    expected -= 0.1 * np.abs(W[y][:, None, :] - W[None]).sum(axis=2)
    np.testing.assert_allclose(margins, expected, atol=1e-10)


def _mlp_weights(clf):
    module = as_differentiable(clf).module
    linears = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
    return [
        (m.weight.detach().double().numpy(), m.bias.detach().double().numpy())
        for m in linears
    ]


def _reference_ibp(weights, lower, upper):
    """Textbook IBP: ``W+ l + W- u + b`` per layer, ReLU in between."""
    for i, (W, b) in enumerate(weights):
        pos, neg = np.clip(W, 0, None), np.clip(W, None, 0)
        lower, upper = (
            lower @ pos.T + upper @ neg.T + b,
            upper @ pos.T + lower @ neg.T + b,
        )
        if i < len(weights) - 1:
            lower, upper = np.maximum(lower, 0), np.maximum(upper, 0)
    return lower, upper


@pytest.mark.parametrize("bounds", [None, (0, 1)])
def test_ibp_equals_reference_propagation(digits_mlp, digits_data, bounds):
    X = digits_data.X_test[:50]
    lower, upper = interval_bounds(digits_mlp, X, eps=0.03, bounds=bounds, method="ibp")
    box = (
        (X - 0.03, X + 0.03)
        if bounds is None
        else (
            np.clip(X - 0.03, 0, 1),
            np.clip(X + 0.03, 0, 1),
        )
    )
    ref = _reference_ibp(_mlp_weights(digits_mlp), *box)
    np.testing.assert_allclose(lower, ref[0], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(upper, ref[1], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("n_labels", [3, 10])  # label groups, all rows at once
def test_ibp_margins_equal_the_folded_reference(digits_mlp, digits_data, n_labels):
    """IBP of ``z_y - z_k``: the rows ``W2_y - W2_k`` over the hidden box."""
    keep = digits_data.y_test < n_labels
    X, y = digits_data.X_test[keep][:60], digits_data.y_test[keep][:60]
    margins = margin_bounds(digits_mlp, X, y, eps=0.03, bounds=(0, 1), method="ibp")
    (W1, b1), (W2, b2) = _mlp_weights(digits_mlp)
    box = (np.clip(X - 0.03, 0, 1), np.clip(X + 0.03, 0, 1))
    lower, upper = _reference_ibp([(W1, b1)], *box)
    lower, upper = np.maximum(lower, 0), np.maximum(upper, 0)
    mid, rad = (upper + lower) / 2, (upper - lower) / 2
    rows = W2[y][:, None, :] - W2[None]  # (n, 10, hidden)
    expected = (
        np.einsum("nkh,nh->nk", rows, mid)
        + (b2[y][:, None] - b2[None])
        - np.einsum("nkh,nh->nk", np.abs(rows), rad)
    )
    expected[np.arange(len(y)), y] = 0
    np.testing.assert_allclose(margins, expected, rtol=1e-4, atol=1e-4)


def test_crown_equals_reference_on_one_hidden_layer(digits_mlp, digits_data):
    """CROWN by hand for ``W2 relu(W1 x + b1) + b2`` (adaptive lower slopes)."""
    X = digits_data.X_test[:30].astype(np.float64)
    eps, y = 0.05, digits_data.y_test[:30]
    (W1, b1), (W2, b2) = _mlp_weights(digits_mlp)
    pre = X @ W1.T + b1
    rad = eps * np.abs(W1).sum(axis=1)
    lo, up = pre - rad, pre + rad
    unstable = (lo < 0) & (up > 0)
    width = np.where(unstable, up - lo, 1)
    up_slope = np.where(unstable, up / width, (lo >= 0).astype(float))
    up_icpt = np.where(unstable, -lo * up / width, 0)
    low_slope = np.where(unstable, (up > -lo).astype(float), (lo >= 0).astype(float))
    C = np.eye(10)[y][:, None, :] - np.eye(10)[None]  # (n, 10, 10)
    A = C @ W2  # (n, 10, hidden)
    slope = np.where(A >= 0, low_slope[:, None], up_slope[:, None])
    bias = C @ b2 + (np.where(A >= 0, 0, up_icpt[:, None]) * A).sum(2)
    A = A * slope
    bias += A @ b1
    Ax = A @ W1  # (n, 10, 64)
    expected = np.einsum("nkd,nd->nk", Ax, X) - eps * np.abs(Ax).sum(2) + bias

    view = torch_view(copy.deepcopy(digits_mlp.net_.module_), 10)  # float64
    rules = [rule for _, rule in layer_rules(view.module)]
    x = torch.tensor(X)
    region = Region(x, torch.tensor(eps, dtype=torch.float64), "linf")
    spec = margin_spec(torch.tensor(y), 10, torch.float64)
    f64 = torch.float64
    traced = bound_graph(view.module, (64,), f64, x.device)
    chain = chain_graph(rules, (64,), f64, x.device)  # the chain: a special case
    for graph in (traced, chain):
        with view.evaluating(), torch.no_grad():
            lower, _ = bound_tensors(
                graph, region, method="crown-ibp", spec=spec, beta=1.0
            )
        np.testing.assert_allclose(lower.numpy(), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("norm", ["l1", "l2"])
def test_region_concretizes_a_ball_by_its_dual_norm(norm):
    # min of a.x over {||x - x0||_p <= eps}: a.x0 - eps ||a||_q, q the dual of p
    rng = np.random.default_rng(0)
    a, x0, eps = rng.normal(size=(3, 5)), rng.normal(size=(1, 5)), 0.3
    A = torch.tensor(a)[None]  # (1, 3, 5)
    region = Region(torch.tensor(x0), torch.tensor(eps, dtype=torch.float64), norm)
    q = np.inf if norm == "l1" else 2
    expected = a @ x0[0] - eps * np.linalg.norm(a, ord=q, axis=1)
    got = region.concretize(A, upper=False)[0].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    up = region.concretize(A, upper=True)[0].numpy()
    np.testing.assert_allclose(up, 2 * (a @ x0[0]) - expected, rtol=1e-12)


def test_region_refuses_a_norm_without_a_dual():
    x0 = torch.zeros(1, 2, dtype=torch.float64)
    region = Region(x0, torch.tensor(0.1, dtype=torch.float64), "l3")
    with pytest.raises(ValueError, match="No dual norm for norm='l3'"):
        region.concretize(torch.ones(1, 1, 2, dtype=torch.float64), upper=False)


# -- soundness ------------------------------------------------------------------


def _check_sound(model, X, y, *, eps, norm="linf", bounds=None, n=100, pgd=True):
    """Bounds hold at sampled and PGD-attacked points, for every method.

    Returns the bounds of each method.
    """
    view = as_differentiable(model)
    points = sample_region(X, eps, norm, bounds, n=n)
    logits = view.logits(points)
    y_index = np.searchsorted(view.classes_, y)
    attacked = []
    if pgd:
        attack = PGD(
            model, eps=eps, norm=norm, bounds=bounds, n_iter=20, random_state=0
        )
        attacked.append(attack.generate(X, y))
        for k in range(len(view.classes_)):  # push every logit up
            attacked.append(attack.generate(X, target=view.classes_[k]))
    adv_logits = np.stack([view.logits(a) for a in attacked], axis=1) if pgd else None
    out = {}
    for method in METHODS:
        kw = dict(eps=eps, norm=norm, bounds=bounds, method=method)
        lower, upper = interval_bounds(model, X, **kw)
        margins = margin_bounds(model, X, y, **kw)
        assert_contains(lower, upper, logits)
        assert_margins_hold(margins, logits, y_index)
        if pgd:
            assert_contains(lower, upper, adv_logits)
            assert_margins_hold(margins, adv_logits, y_index)
        out[method] = (lower, upper, margins)
        if method != "ibp":
            lower, upper = raw_bounds(model, X, **kw)
            margins = raw_bounds(model, X, y, **kw)
            for points in (logits, adv_logits) if pgd else (logits,):
                assert_contains(lower, upper, points)
                assert_margins_hold(margins, points, y_index)
    # CROWN methods are inside IBP, and tighter on the whole
    ibp_l, ibp_u, ibp_m = out["ibp"]
    for method in ("crown-ibp", "crown"):
        lower, upper, margins = out[method]
        assert np.all(lower >= ibp_l - 1e-6) and np.all(upper <= ibp_u + 1e-6)
        assert np.all(margins >= ibp_m - 1e-6)
    assert np.all(out["crown"][2] >= out["crown-ibp"][2] - 1e-5)
    return out


def test_sound_on_digits_mlp_with_input_bounds(digits_mlp, digits_data):
    X, y = digits_data.X_test[:20], digits_data.y_test[:20]
    out = _check_sound(digits_mlp, X, y, eps=0.05, bounds=(0, 1))
    widths = {m: (u - lo).mean() for m, (lo, u, _) in out.items()}
    assert widths["crown"] < widths["ibp"]


def test_sound_on_digits_cnn(digits_cnn, digits_data):
    X, y = digits_data.images_test[:8], digits_data.y_test[:8]
    _check_sound(digits_cnn, X, y, eps=0.02, bounds=(0, 1), n=150)


def test_sound_on_pipeline_with_scaler(cancer_mlp_pipeline, cancer_data):
    X, y = cancer_data.X_test.iloc[:20], cancer_data.y_test.iloc[:20]
    eps = 0.2 * cancer_data.X_train.std().to_numpy()  # per-feature budget
    _check_sound(cancer_mlp_pipeline, X, y.to_numpy(), eps=eps, n=150)


@pytest.mark.parametrize("norm, eps", [("l2", 0.5), ("l1", 1.0)])
def test_sound_for_l2_and_l1_balls(digits_mlp, digits_data, norm, eps):
    X, y = digits_data.X_test[:15], digits_data.y_test[:15]
    out = _check_sound(digits_mlp, X, y, eps=eps, norm=norm, bounds=(0, 1), n=150)
    # the exact image of the ball through the first layer beats the box
    box_l, box_u = interval_bounds(digits_mlp, X, eps=eps, bounds=(0, 1), method="ibp")
    assert (out["ibp"][1] - out["ibp"][0]).mean() < (box_u - box_l).mean()


def _randomize_batch_norm(module, seed=0):
    gen = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.3)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.num_features, generator=gen))
    return module


NETS = {
    "conv1d-bn-leaky-avgpool": lambda: torch.nn.Sequential(
        torch.nn.Unflatten(1, (1, 16)),
        torch.nn.Conv1d(1, 4, 3, padding=1),
        torch.nn.BatchNorm1d(4),
        torch.nn.LeakyReLU(0.1),
        torch.nn.AvgPool1d(2),
        torch.nn.Flatten(),
        torch.nn.Dropout(0.5),
        torch.nn.Linear(32, 3),
    ),
    "conv2d-bn-tanh-maxpool-sigmoid": lambda: torch.nn.Sequential(
        torch.nn.Unflatten(1, (1, 4, 4)),
        torch.nn.Conv2d(1, 3, 3, stride=1, padding=1),
        torch.nn.BatchNorm2d(3),
        torch.nn.Tanh(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(12, 8),
        torch.nn.Sigmoid(),
        torch.nn.Linear(8, 8),
        torch.nn.LeakyReLU(1.5),  # concave: the relaxation lines swap
        torch.nn.Linear(8, 3),
    ),
    "tanh-sigmoid-mlp": lambda: torch.nn.Sequential(
        torch.nn.Linear(16, 12),
        torch.nn.Tanh(),
        torch.nn.Linear(12, 12),
        torch.nn.Sigmoid(),
        torch.nn.Linear(12, 3),
    ),
    "strided-conv-adaptive-pool": lambda: torch.nn.Sequential(
        torch.nn.Unflatten(1, (1, 4, 4)),
        torch.nn.Conv2d(1, 2, 3, stride=2, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(2, 3),
        torch.nn.Identity(),
    ),
}


@pytest.mark.parametrize("name", sorted(NETS))
@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_sound_on_every_supported_layer(name, norm):
    torch.manual_seed(0)
    view = torch_view(_randomize_batch_norm(NETS[name]()), 3)
    X = np.random.default_rng(0).normal(size=(6, 16))
    eps = 0.3
    logits = view.logits(sample_region(X, eps, norm, n=400))
    y = view.predict(X)
    out = {}
    for method in METHODS:
        lower, upper = interval_bounds(view, X, eps=eps, norm=norm, method=method)
        assert_contains(lower, upper, logits)
        margins = margin_bounds(view, X, y, eps=eps, norm=norm, method=method)
        assert_margins_hold(margins, logits, y)
        out[method] = lower, upper
        if method != "ibp":
            kw = dict(eps=eps, norm=norm, method=method)
            assert_contains(*raw_bounds(view, X, **kw), logits)
            assert_margins_hold(raw_bounds(view, X, y, **kw), logits, y)
    assert np.all(out["crown"][0] >= out["ibp"][0] - 1e-9)


def test_margins_beat_logit_differences(digits_mlp, digits_data):
    X, y = digits_data.X_test[:40], digits_data.y_test[:40]
    lower, upper = interval_bounds(digits_mlp, X, eps=0.03, method="ibp")
    margins = margin_bounds(digits_mlp, X, y, eps=0.03, method="ibp")
    naive = lower[np.arange(len(y)), y][:, None] - upper
    naive[np.arange(len(y)), y] = 0
    assert np.all(margins >= naive - 1e-5)
    assert (margins - naive).mean() > 0.1


def test_binary_models_and_float64_views(
    cancer_logreg_pipeline, cancer_data, digits_mlp, digits_data
):
    X, y = cancer_data.X_test.iloc[:10], cancer_data.y_test.iloc[:10].to_numpy()
    eps = 0.1 * cancer_data.X_train.std().to_numpy()
    _check_sound(cancer_logreg_pipeline, X, y, eps=eps, n=100, pgd=False)
    view = as_differentiable(digits_mlp, dtype=torch.float64)  # with Cast layers
    X = digits_data.X_test[:10].astype(np.float64)  # the input's dtype comes out
    low64, up64 = interval_bounds(view, X, eps=0.03)
    low32, up32 = interval_bounds(digits_mlp, X, eps=0.03)
    assert low64.dtype == low32.dtype == np.float64
    np.testing.assert_allclose(low64, low32, atol=1e-4)


# -- the registry and errors ----------------------------------------------------


class _Doubler(torch.nn.Module):
    def forward(self, x):
        return 2 * x


class _Tripler(_Doubler):  # registered by a test
    def forward(self, x):
        return 3 * x


class _Exp(torch.nn.Module):
    def forward(self, x):
        return torch.exp(x)


def test_layers_without_rules_are_traced_through():
    # no rule for _Doubler: its forward (a product with a constant) is traced
    view = torch_view(torch.nn.Sequential(_Doubler(), torch.nn.Linear(4, 2)), 2)
    X = np.random.default_rng(0).normal(size=(5, 4))
    eps = np.array([0.1, 0.2, 0.0, 0.3])
    linear = view.module[-1]
    W, b = linear.weight.detach().numpy(), linear.bias.detach().numpy()
    for method in METHODS:
        lower, upper = interval_bounds(view, X, eps=eps, method=method)
        radius = 2 * np.abs(W) @ eps  # exact for one affine map
        np.testing.assert_allclose(lower, 2 * X @ W.T + b - radius, atol=1e-10)
        np.testing.assert_allclose(upper, 2 * X @ W.T + b + radius, atol=1e-10)


def test_unsupported_layers_are_named():
    view = torch_view(torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.GELU()), 4)
    with pytest.raises(TypeError, match="GELU"):
        interval_bounds(view, np.zeros((2, 4)), eps=0.1)
    view = torch_view(torch.nn.Sequential(_Doubler(), _Exp()), 4)
    match = r"'exp' at node .* in module '1' \(_Exp\).*bound_layer.register"
    with pytest.raises(TypeError, match=match):
        interval_bounds(view, np.zeros((2, 4)), eps=0.1)
    X, y = load_iris(return_X_y=True)
    normalized = make_pipeline(Normalizer(), LogisticRegression()).fit(X, y)
    with pytest.raises(TypeError, match="Normalize"):
        interval_bounds(normalized, X[:2], eps=0.1)
    with pytest.raises(TypeError, match="KernelLayer"):
        interval_bounds(SVC().fit(X, y), X[:2], eps=0.1)


def test_users_register_their_layers():
    view = torch_view(torch.nn.Sequential(_Tripler(), torch.nn.Linear(4, 2)), 2)

    @bound_layer.register(_Tripler)
    def _(layer):
        return AffineBound(layer, lambda r: 3 * r, elementwise=True)

    X = np.random.default_rng(0).normal(size=(5, 4))
    for method in METHODS:
        lower, upper = interval_bounds(view, X, eps=0.1, method=method)
        assert_contains(lower, upper, view.logits(sample_region(X, 0.1)))


def test_model_left_as_it_was(digits_mlp, digits_data):
    module = digits_mlp.net_.module_
    module.train()
    flags = [p.requires_grad for p in module.parameters()]
    state = {k: v.clone() for k, v in module.state_dict().items()}
    for method in METHODS:
        interval_bounds(digits_mlp, digits_data.X_test[:5], eps=0.05, method=method)
    assert module.training and all(m.training for m in module.modules())
    assert [p.requires_grad for p in module.parameters()] == flags
    for key, value in module.state_dict().items():
        assert torch.equal(value, state[key])
    for m in module.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks
    module.eval()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(eps=-0.1), "eps must be"),
        (dict(eps=0.1, norm="l3"), "norm must be"),
        (dict(eps=0.1, method="exact"), "method must be"),
        (dict(eps=0.1, bounds=(0.5, 1)), "outside `bounds`"),
        (dict(eps=[0.1, 0.2]), "eps"),
    ],
)
def test_input_errors(digits_mlp, digits_data, kwargs, match):
    with pytest.raises(ValueError, match=match):
        interval_bounds(digits_mlp, digits_data.X_test[:5], **kwargs)


def test_nan_and_labels_rejected(digits_mlp, digits_data):
    X = digits_data.X_test[:3].copy()
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        interval_bounds(digits_mlp, X, eps=0.1)
    with pytest.raises(ValueError, match="not one of the model's classes"):
        margin_bounds(digits_mlp, digits_data.X_test[:2], [0, 42], eps=0.1)


@pytest.mark.parametrize("net_dtype", [torch.float32, torch.float64])
def test_bounds_come_in_the_input_dtype(net_dtype):
    """float32 in, float32 out (rounded outwards: the float64 bounds of a
    float64 net stay inside); float64 and integer in, float64 out."""
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)
    )
    view = torch_view(module, 3, dtype=net_dtype)
    X, y = load_iris(return_X_y=True)
    X, y = np.rint(X[::15] * 8) / 8, y[::15]  # the same points in float32
    kw = dict(eps=0.3, method="crown")
    wide = interval_bounds(view, X, **kw), margin_bounds(view, X, y, **kw)
    for X_in, dtype in [(X.astype(np.float32), np.float32), (X, np.float64)]:
        (lower, upper), margins = (
            interval_bounds(view, X_in, **kw),
            margin_bounds(view, X_in, y, **kw),
        )
        assert lower.dtype == upper.dtype == margins.dtype == dtype
        if net_dtype == torch.float64:  # the float64 bounds, rounded outwards
            assert np.all(lower <= wide[0][0]) and np.all(upper >= wide[0][1])
            assert np.all(margins <= wide[1])
            np.testing.assert_allclose(lower, wide[0][0], rtol=1e-6, atol=1e-6)
    X_int = np.rint(X * 10).astype(np.int64)
    assert interval_bounds(view, X_int, **kw)[0].dtype == np.float64
