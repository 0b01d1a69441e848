"""Issue 16, finding 2: infinite input gradients (``sqrt`` at 0) used to turn
the l2 / l1 steps into NaN or zero: NaN rows, or the input returned
unchanged, and a robust accuracy equal to the clean one."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skrobust.attacks import APGD, FAB, FGSM, PGD
from skrobust.attacks._functional import (
    cross_entropy,
    finite_gradient,
    get_norm,
    projected_gradient,
)

ATTACKS = {
    "PGD-l2": lambda clf: PGD(clf, eps=2.0, norm="l2", n_iter=10),
    "PGD-l1": lambda clf: PGD(clf, eps=3.0, norm="l1", n_iter=10),
    "FGSM-l2": lambda clf: FGSM(clf, eps=2.0, norm="l2"),
    "APGD-l2": lambda clf: APGD(clf, eps=2.0, norm="l2", n_iter=10),
    "APGD-l1": lambda clf: APGD(clf, eps=3.0, norm="l1", n_iter=10),
    "FAB-l2": lambda clf: FAB(clf, eps=2.0, norm="l2", n_iter=10),
}


@pytest.fixture(scope="module")
def sqrt_model():
    """Digits in [0, 1] (many exact zeros) through sqrt: infinite gradients."""
    X, y = load_digits(return_X_y=True)
    X, y = X[:300] / 16.0, y[:300]
    clf = make_pipeline(
        FunctionTransformer(np.sqrt), LogisticRegression(max_iter=300)
    ).fit(X, y)
    return clf, X[:40], y[:40]


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_infinite_gradients_still_attack(sqrt_model, name):
    clf, X, y = sqrt_model
    attack = ATTACKS[name](clf).set_params(bounds=(0, 1), random_state=0)
    with pytest.warns(RuntimeWarning, match="gradient is infinite or NaN"):
        out = attack.generate(X, y)
    assert np.isfinite(out).all()
    assert out.min() >= 0 and out.max() <= 1
    order = 1 if name.endswith("l1") else 2
    size = np.linalg.norm(out - X, ord=order, axis=1)
    assert size.max() <= attack.eps * (1 + 1e-9)
    # the attack moved and broke points the clean model classifies right
    assert (out != X).any(axis=1).sum() >= len(X) // 2
    assert clf.score(out, y) < clf.score(X, y)


class _SqrtLinear(torch.nn.Module):
    """Logits ``W sqrt(x)``: infinite input gradients at exact zeros, and NaN
    ones (0 * inf) where a column of ``W`` is zero."""

    def __init__(self, weight):
        super().__init__()
        self.weight = torch.nn.Parameter(weight, requires_grad=False)

    def forward(self, x):
        return torch.sqrt(x) @ self.weight.T


@pytest.mark.parametrize("zero_column", [False, True], ids=["inf", "inf-and-nan"])
@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_steps_equal_the_per_step_repair(zero_column, norm):
    """The l-inf loop reads no gradient: torch's sign is already what the
    repair makes of inf (+-1) and NaN (0) entries. Each norm's steps equal a
    loop repairing every gradient, and only the repaired (l2) steps warn."""
    assert torch.sign(torch.tensor([np.nan, np.inf, -np.inf])).tolist() == [0, 1, -1]
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(3, 8, generator=gen, dtype=torch.float64)
    if zero_column:
        weight[:, 2] = 0.0
    model = _SqrtLinear(weight)
    x0 = torch.rand(20, 8, generator=gen, dtype=torch.float64)
    x0[:, :4] = 0.0  # sqrt at 0: infinite (or NaN) gradients
    labels = model(x0).argmax(dim=1)
    eps, rel_step, n_iter = 0.3, 0.25, 5
    scale = torch.full((8,), eps, dtype=torch.float64)
    low, high = torch.zeros_like(x0), torch.ones_like(x0)
    norm_ = get_norm(norm)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours, _ = projected_gradient(
            model,
            x0,
            labels,
            norm=norm_,
            scale=scale,
            low=low,
            high=high,
            loss_fn=cross_entropy,
            n_iter=n_iter,
            rel_step=rel_step,
            generator=torch.Generator().manual_seed(1),
        )
    warned = any("gradient is infinite or NaN" in str(w.message) for w in caught)
    assert warned == (norm != "linf")
    # the reference: every gradient made finite at its step
    box_low, box_high = low, high
    if norm == "linf":
        box_low, box_high = torch.maximum(low, x0 - eps), torch.minimum(high, x0 + eps)

    def project(x):
        if norm != "linf":
            x = x0 + scale * norm_.project((x - x0) / scale)
        return torch.clamp(x, box_low, box_high)

    u = norm_.random(x0, torch.Generator().manual_seed(1))
    x = project(torch.addcmul(x0, scale, u))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(n_iter):
            x.requires_grad_(True)
            loss = cross_entropy(model(x), labels).sum()
            (grad,) = torch.autograd.grad(loss, x)
            grad = finite_gradient(grad)
            step = grad.sign() if norm == "linf" else norm_.direction(grad * scale)
            x = project(torch.addcmul(x.detach(), rel_step * scale, step))
    assert torch.isfinite(ours).all()
    assert torch.allclose(ours, x, rtol=0, atol=1e-12)
