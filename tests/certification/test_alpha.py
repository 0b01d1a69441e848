"""alpha-CROWN and the margin-by-margin certificate cascade."""

import numpy as np
import pytest
import torch
from _bound_checks import assert_margins_hold, pgd_points, sample_region
from _nets import FunctionalCNN, TwoBranch
from scipy.optimize import linprog

from skrobust.certification.bounds._bounds import margin_spec
from skrobust.certification.bounds._graph import bound_graph
from skrobust.certification.bounds._graph_certify import (
    certify_margins,
    counterexample,
)
from skrobust.certification.bounds._graph_crown import bound_tensors
from skrobust.certification.bounds._region import Region

F64 = torch.float64


def _region(X, eps, bounds=None):
    x = torch.as_tensor(np.asarray(X), dtype=F64)
    low = high = None
    if bounds is not None:
        low, high = (torch.tensor(float(b), dtype=F64) for b in bounds)
    return Region(x, torch.tensor(float(eps), dtype=F64), "linf", low=low, high=high)


def _margins(net, X, y, eps, method, bounds=None):
    region = _region(X, eps, bounds)
    graph = bound_graph(net, tuple(region.x0.shape[1:]), F64, region.x0.device)
    spec = margin_spec(torch.as_tensor(y), net(region.x0[:1]).shape[1], F64)
    with torch.no_grad():
        return bound_tensors(graph, region, method=method, spec=spec, upper=False)[0]


def _triangle_lp(W1, b1, W2, b2, x, eps, c):
    """min c . (W2 relu(W1 x' + b1) + b2) over the l-inf ball, ReLUs relaxed by
    their triangle (the best convex relaxation of each unit): a linear program."""
    lo_x, hi_x = x - eps, x + eps
    pre = W1 @ x + b1
    rad = np.abs(W1) @ np.full_like(x, eps)
    low, up = pre - rad, pre + rad
    d, h = len(x), len(b1)
    # variables: x' (d), z (h), a (h): z = W1 x' + b1, a = relu relaxed
    cost = np.concatenate([np.zeros(d + h), W2.T @ c])
    A_eq = np.hstack([W1, -np.eye(h), np.zeros((h, h))])
    rows, rhs = [], []
    for i in range(h):
        if up[i] <= 0:  # a = 0
            rows.append(np.eye(d + 2 * h)[d + h + i])
            rhs.append(0.0)
            rows.append(-np.eye(d + 2 * h)[d + h + i])
            rhs.append(0.0)
        elif low[i] >= 0:  # a = z
            e = np.zeros(d + 2 * h)
            e[d + h + i], e[d + i] = 1, -1
            rows += [e, -e]
            rhs += [0.0, 0.0]
        else:  # a >= 0, a >= z, a <= u (z - l) / (u - l)
            e = np.zeros(d + 2 * h)
            e[d + h + i] = -1
            rows.append(e.copy())
            rhs.append(0.0)
            e[d + i] = 1
            rows.append(e.copy())
            rhs.append(0.0)
            e = np.zeros(d + 2 * h)
            e[d + h + i] = 1
            e[d + i] = -up[i] / (up[i] - low[i])
            rows.append(e)
            rhs.append(-up[i] * low[i] / (up[i] - low[i]))
    bounds = [(a, b) for a, b in zip(lo_x, hi_x)] + [(None, None)] * (2 * h)
    res = linprog(cost, A_ub=np.array(rows), b_ub=np.array(rhs), A_eq=A_eq,
                  b_eq=-b1, bounds=bounds, method="highs")  # fmt: skip
    assert res.status == 0
    return res.fun + c @ b2


def test_alpha_crown_closes_the_gap_to_the_triangle_relaxation():
    """One hidden layer: CROWN <= alpha-CROWN <= the LP of triangle relaxations
    (the best any choice of slopes can reach), and the slopes close most of the
    gap."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 12), torch.nn.ReLU(), torch.nn.Linear(12, 3)
    ).double()
    X = np.random.default_rng(0).normal(size=(4, 4))
    y = net(torch.as_tensor(X)).argmax(1).numpy()
    eps = 0.4
    crown = _margins(net, X, y, eps, "crown").numpy()
    alpha = _margins(net, X, y, eps, "alpha-crown").numpy()
    W1, b1 = (t.detach().numpy() for t in (net[0].weight, net[0].bias))
    W2, b2 = (t.detach().numpy() for t in (net[2].weight, net[2].bias))
    gaps = []
    for i in range(len(X)):
        for k in range(3):
            if k == y[i]:
                continue
            c = np.eye(3)[y[i]] - np.eye(3)[k]
            lp = _triangle_lp(W1, b1, W2, b2, X[i], eps, c)
            assert crown[i, k] <= alpha[i, k] + 1e-9 <= lp + 2e-9
            gaps.append((lp - alpha[i, k], lp - crown[i, k]))
    gaps = np.array(gaps)
    assert gaps[:, 1].sum() > 1e-3  # CROWN's slopes are not optimal here
    assert gaps[:, 0].sum() < 0.2 * gaps[:, 1].sum()


@pytest.mark.parametrize("cls, flat", [(FunctionalCNN, False), (TwoBranch, True)])
def test_alpha_crown_is_sound_and_never_looser(cls, flat):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X[:6] / 16.0
    X = X if flat else X.reshape(-1, 1, 8, 8)
    torch.manual_seed(0)
    net = cls().double().eval()
    y = net(torch.as_tensor(X)).argmax(1).numpy()
    eps, bounds = 0.04, (0, 1)
    crown = _margins(net, X, y, eps, "crown", bounds).numpy()
    alpha = _margins(net, X, y, eps, "alpha-crown", bounds).numpy()
    assert np.all(alpha >= crown - 1e-9)
    attacked = torch.as_tensor(pgd_points(net, X, eps, bounds, n_iter=10))
    with torch.no_grad():
        logits = [
            net(torch.as_tensor(sample_region(X, eps, bounds=bounds, n=100))),
            net(attacked.reshape(-1, *X.shape[1:])),
        ]
    for points in logits:
        assert_margins_hold(alpha, points.numpy(), y, atol=1e-9)


def _digits_cnn_problem(n, eps, bounds):
    """The first ``n`` digits as images, a float64 ``FunctionalCNN`` labelling
    them by its own predictions, their l-inf region and the traced graph."""
    from sklearn.datasets import load_digits

    X, _ = load_digits(return_X_y=True)
    X = X[:n].reshape(-1, 1, 8, 8) / 16.0
    torch.manual_seed(0)
    net = FunctionalCNN().double().eval()
    with torch.no_grad():
        logits = net(torch.as_tensor(X))
    region = _region(X, eps, bounds)
    graph = bound_graph(net, (1, 8, 8), F64, region.x0.device)
    return X, logits.argmax(1).numpy(), net, logits, region, graph


def test_certificates_margin_by_margin():
    """Each margin may be proven by another method: at least what each method
    proves alone, and nothing a PGD attack breaks."""
    eps, bounds = 0.01, (0, 1)
    X, y, net, logits, region, graph = _digits_cnn_problem(40, eps, bounds)
    labels = torch.as_tensor(y)
    other = np.arange(10)[None] != y[:, None]
    for method in ("ibp", "crown-ibp", "crown"):
        with torch.no_grad():
            ours = certify_margins(graph, region, labels, method, clean=logits)
        alone = (_margins(net, X, y, eps, method, bounds).numpy() > 0) | ~other
        assert np.all(ours.numpy() >= alone.all(1))
    assert 0 < ours.float().mean() < 1
    attacked = pgd_points(net, X, eps, bounds, n_iter=10)
    with torch.no_grad():
        z = net(torch.as_tensor(attacked).reshape(-1, 1, 8, 8)).reshape(40, -1, 10)
    broken = (z.argmax(2) != labels[:, None]).any(1)
    assert not bool((broken & ours).any())


def test_counterexamples_drop_only_samples_crown_cannot_certify():
    """Before full CROWN, samples misclassified at the corner of the box one
    gradient-sign step points to are dropped: none of them has CROWN-certified
    margins, the certificates are those of the cascade without the search,
    and the search is not idle where CROWN certifies more than CROWN-IBP."""
    eps, bounds = 0.03, (0, 1)
    X, y, net, logits, region, graph = _digits_cnn_problem(60, eps, bounds)
    labels = torch.as_tensor(y)
    found = counterexample(net, region, labels)
    assert 0 < int(found.sum()) < len(y)
    other = np.arange(10)[None] != y[:, None]
    alone = ((_margins(net, X, y, eps, "crown", bounds).numpy() > 0) | ~other).all(1)
    assert not np.any(alone & found.numpy())
    with torch.no_grad():
        cascade = {
            method: certify_margins(graph, region, labels, method, clean=logits)
            for method in ("crown-ibp", "crown", "alpha-crown")
        }
        for method in ("crown", "alpha-crown"):
            searched = certify_margins(
                graph, region, labels, method, clean=logits, model=net
            )
            assert torch.equal(searched, cascade[method])
    assert cascade["crown"].sum() > cascade["crown-ibp"].sum()
    # l2 balls: a corner of the box may lie outside, so nothing is searched
    ball = Region(region.x0, region.eps_feature, "l2", low=region.low, high=region.high)
    assert not counterexample(net, ball, labels).any()


def test_one_hidden_layer_skips_the_crown_stage(monkeypatch):
    """With one hidden layer no intermediate box can be tightened, so full
    CROWN is CROWN-IBP: its stage is skipped (no refinement runs) and the
    certificates equal those with the stage run."""
    from sklearn.datasets import load_digits

    from skrobust.certification.bounds import _graph_certify

    X, _ = load_digits(return_X_y=True)
    X = X[:60] / 16.0
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)
    ).double()
    with torch.no_grad():
        logits = net(torch.as_tensor(X))
    labels = logits.argmax(1)
    region = _region(X, 0.02, (0, 1))
    graph = bound_graph(net, (64,), F64, region.x0.device)
    refined = []
    propagate = _graph_certify.propagate
    monkeypatch.setattr(
        _graph_certify,
        "propagate",
        lambda *a, **k: refined.append(a[2:]) or propagate(*a, **k),
    )
    results = {}
    with torch.no_grad():
        for method in ("crown-ibp", "crown", "alpha-crown"):
            results[method] = certify_margins(
                graph, region, labels, method, clean=logits
            )
        assert not any(args for args in refined), "a refinement ran"
        assert 0 < int(results["crown"].sum()) < len(X)
        monkeypatch.setattr(_graph_certify, "_refines", lambda *a: True)
        for method in ("crown", "alpha-crown"):
            staged = certify_margins(graph, region, labels, method, clean=logits)
            assert torch.equal(staged, results[method])
    assert any(args for args in refined)
    assert torch.equal(results["crown"], results["crown-ibp"])
