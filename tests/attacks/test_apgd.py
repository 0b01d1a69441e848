"""APGD: the reference schedule, a reference loop, strength, targets, errors."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from skrobust.attacks import APGD, PGD
from skrobust.attacks._functional._apgd import checkpoints, halve_step
from skrobust.attacks._functional._norms import L1, Linf

# -- the schedule ------------------------------------------------------------


def _paper_checkpoints(n_iter):
    """p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)."""
    p = [0.0, 0.22]
    while True:
        nxt = p[-1] + max(p[-1] - p[-2] - 0.03, 0.06)
        if nxt > 1 + 1e-9:
            break
        p.append(nxt)
    return [round(q * n_iter) for q in p[1:]]


@pytest.mark.parametrize("n_iter", [100, 200, 1000])
def test_checkpoints_follow_the_reference_formula(n_iter):
    assert checkpoints(n_iter) == _paper_checkpoints(n_iter)
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]


def test_checkpoints_integer_form_for_few_iterations():
    # int(0.22 n), shrinking by max(int(0.03 n), 1) down to max(int(0.06 n), 1)
    assert checkpoints(10) == [2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert checkpoints(1) == [1]
    assert checkpoints(50) == [11, 21, 30, 38, 45]


def test_halve_step_conditions():
    length = 8  # rho * length = 6
    # k of the 8 steps raise the loss, the others lower it
    steps = torch.tensor([[1.0] * k + [-1.0] * (length - k) for k in range(length + 1)])
    h = torch.cat([torch.zeros(length + 1, 1), steps.cumsum(dim=1)], dim=1)
    raised = (h[:, 1:] > h[:, :-1]).sum(dim=1)
    assert raised.tolist() == list(range(length + 1))
    best = torch.zeros(length + 1)
    # condition 1 alone: at most 75 % of the steps raised the loss
    reduced = torch.ones(length + 1, dtype=torch.bool)
    got = halve_step(h, length, best, best - 1, reduced)
    assert got.tolist() == [k <= 6 for k in range(length + 1)]
    # condition 2: not halved last time and no improvement of the best loss
    not_reduced = torch.zeros(length + 1, dtype=torch.bool)
    assert halve_step(h, length, best, best, not_reduced).all()
    assert halve_step(h, length, best, best - 1, not_reduced).tolist() == got.tolist()


# -- the loop equals a transcription of the reference code --------------------


def _reference_apgd(model, x, y, eps, n_iter, u0, rho=0.75):
    """AutoAttack's APGD-CE (linf) for inputs in [0, 1], from the start ``u0``."""
    loss_fn = torch.nn.CrossEntropyLoss(reduction="none")
    n_2, n_min, size_decr = (
        max(int(0.22 * n_iter), 1),
        max(int(0.06 * n_iter), 1),
        max(int(0.03 * n_iter), 1),
    )
    x_adv = (x + eps * u0).clamp(0, 1)

    def grad_at(z):
        z = z.clone().requires_grad_()
        loss = loss_fn(model(z), y)
        return loss.detach(), torch.autograd.grad(loss.sum(), z)[0]

    loss, grad = grad_at(x_adv)
    x_best, grad_best, loss_best = x_adv.clone(), grad.clone(), loss.clone()
    steps = [loss.clone()]
    step = 2 * eps * torch.ones(len(x), 1)
    x_old = x_adv.clone()
    k, counter = n_2, 0
    best_last, reduced_last = loss_best.clone(), torch.ones_like(loss_best)
    for i in range(n_iter):
        grad2 = x_adv - x_old
        x_old = x_adv.clone()
        a = 0.75 if i > 0 else 1.0
        z = torch.min(torch.max(x_adv + step * grad.sign(), x - eps), x + eps)
        z = z.clamp(0, 1)
        z = x_adv + (z - x_adv) * a + grad2 * (1 - a)
        x_adv = torch.min(torch.max(z, x - eps), x + eps).clamp(0, 1)
        loss, grad = grad_at(x_adv)
        steps.append(loss.clone())
        better = loss > loss_best
        x_best[better], grad_best[better] = x_adv[better], grad[better]
        loss_best[better] = loss[better]
        counter += 1
        if counter == k:
            h = torch.stack(steps[-(k + 1) :], dim=1)
            osc = ((h[:, 1:] > h[:, :-1]).sum(1) <= k * rho).float()
            osc = torch.max(osc, (1 - reduced_last) * (best_last >= loss_best).float())
            reduced_last, best_last = osc.clone(), loss_best.clone()
            halve = osc > 0
            step[halve] /= 2
            x_adv[halve], grad[halve] = x_best[halve], grad_best[halve]
            k, counter = max(k - size_decr, n_min), 0
    return x_best, loss_best


def test_apgd_equals_reference_loop(digits_data):
    EPS = 0.01
    X = digits_data.X_test[:80].astype(np.float64)
    lin = torch.nn.Linear(64, 10).double()
    with torch.no_grad():  # a fixed random linear model (no early success)
        lin.weight.normal_(generator=torch.Generator().manual_seed(1))
        lin.bias.zero_()
    x = torch.as_tensor(X)
    with torch.no_grad():
        target = lin(x).argmax(dim=1)
    gen = torch.Generator().manual_seed(3)
    u = Linf().random(x, gen)
    u0 = u / u.abs().amax(dim=1, keepdim=True)
    expected, expected_loss = _reference_apgd(lin, x, target, EPS, 30, u0)

    from skrobust.attacks._functional._apgd import apgd
    from skrobust.attacks._functional._losses import cross_entropy

    scale = torch.full((64,), EPS, dtype=torch.float64)
    got_u, found, got_loss = apgd(
        lin,
        x,
        target,
        norm=Linf(),
        scale=scale,
        u_low=(0 - x) / EPS,
        u_high=(1 - x) / EPS,
        loss_fn=cross_entropy,
        n_iter=30,
        generator=torch.Generator().manual_seed(3),
    )
    keep = ~found  # adversarial samples return their last adversarial iterate
    assert keep.sum() >= 20
    got = x + EPS * got_u
    torch.testing.assert_close(got[keep], expected[keep])
    torch.testing.assert_close(got_loss, expected_loss)


# -- strength ------------------------------------------------------------------


@pytest.mark.parametrize("eps", [0.1, 0.15])
def test_apgd_at_least_as_strong_as_pgd_at_equal_budget(digits_mlp, digits_data, eps):
    """Robust accuracy, averaged over three random starts, at 20 steps each.

    (At eps = 0.05 both reach the same accuracy up to one point of 200,
    depending on the seed: this MLP is nearly linear there.)
    """
    X, y = digits_data.X_test[:200], digits_data.y_test[:200]
    pgd, apgd = [], []
    for seed in range(3):
        kwargs = dict(eps=eps, n_iter=20, bounds=(0, 1), random_state=seed)
        pgd.append(digits_mlp.score(PGD(digits_mlp, **kwargs).generate(X, y), y))
        apgd.append(digits_mlp.score(APGD(digits_mlp, **kwargs).generate(X, y), y))
    assert np.mean(apgd) <= np.mean(pgd)
    assert max(apgd) < digits_mlp.score(X, y)


def test_apgd_t_and_dlr_break_points(digits_mlp, digits_data):
    X, y = digits_data.X_test[:100], digits_data.y_test[:100]
    kwargs = dict(eps=0.1, n_iter=20, bounds=(0, 1), random_state=0)
    clean = digits_mlp.score(X, y)
    dlr = digits_mlp.score(APGD(digits_mlp, loss="dlr", **kwargs).generate(X, y), y)
    adv_t = APGD(
        digits_mlp, loss="dlr", n_target_classes=3, early_stop=True, **kwargs
    ).generate(X, y)
    assert dlr < clean and digits_mlp.score(adv_t, y) < clean
    assert np.abs(adv_t - X).max() <= 0.1 + 1e-6


@pytest.mark.parametrize("norm, eps", [("linf", 0.06), ("l2", 0.6)])
def test_apgd_t_fused_runs_equal_separate_runs(
    digits_mlp, digits_data, monkeypatch, norm, eps
):
    # targets and restarts in one batch, dropped per point once one run
    # breaks it, give the same robust points, unbroken points the same
    # (highest-loss) example, as one run after another
    import skrobust.attacks._apgd as module

    X, y = digits_data.X_test[:60], digits_data.y_test[:60]
    attack = APGD(
        digits_mlp,
        eps=eps,
        norm=norm,
        loss="dlr",
        n_iter=12,
        n_target_classes=4,
        n_restarts=2,
        early_stop=True,
        bounds=(0, 1),
        random_state=0,
    )
    fused = attack.generate(X, y)
    monkeypatch.setattr(module, "FUSE_ELEMENTS", 0)  # one run at a time
    separate = attack.generate(X, y)
    robust = digits_mlp.predict(separate) == y
    np.testing.assert_array_equal(digits_mlp.predict(fused) == y, robust)
    assert 0 < robust.sum() < digits_mlp.score(X, y) * len(y)
    np.testing.assert_allclose(fused[robust], separate[robust], atol=1e-6)


def test_apgd_l2_stays_in_ball(digits_mlp, digits_data):
    X, y = digits_data.X_test[:50], digits_data.y_test[:50]
    out = APGD(digits_mlp, eps=1.0, norm="l2", n_iter=10, random_state=0).generate(X, y)
    assert np.linalg.norm(out - X, axis=1).max() <= 1.0 + 1e-5
    assert digits_mlp.score(out, y) < digits_mlp.score(X, y)


def test_apgd_targeted_reaches_targets(digits_mlp, digits_data):
    X = digits_data.X_test[:60]
    target = (digits_mlp.predict(X) + 1) % 10
    out = APGD(
        digits_mlp, eps=0.3, loss="dlr", n_iter=30, bounds=(0, 1), random_state=0
    ).generate(X, target=target)
    assert np.mean(digits_mlp.predict(out) == target) > 0.8


def test_apgd_reproducible_and_label_free(digits_mlp, digits_data):
    X = digits_data.X_test[:30]
    a = APGD(digits_mlp, eps=0.05, n_iter=10, random_state=0)
    np.testing.assert_array_equal(a.transform(X), a.generate(X))
    np.testing.assert_array_equal(a.transform(X), a.fit_transform(X))


def test_apgd_eot_averages_gradients(digits_mlp, digits_data):
    X, y = digits_data.X_test[:20], digits_data.y_test[:20]
    kwargs = dict(eps=0.1, n_iter=5, bounds=(0, 1), random_state=0)
    # a deterministic model: EOT averages identical gradients
    one = APGD(digits_mlp, **kwargs).generate(X, y)
    three = APGD(digits_mlp, eot_iter=3, **kwargs).generate(X, y)
    np.testing.assert_allclose(one, three, atol=1e-6)


def test_dlr_falls_back_on_three_and_two_classes():
    X, y = load_iris(return_X_y=True)
    clf = LogisticRegression(max_iter=500).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        APGD(clf, eps=0.3, loss="dlr", n_iter=5, random_state=0).generate(X, y)
    with pytest.warns(UserWarning, match="DLR loss needs at least 4"):
        APGD(
            clf, eps=0.3, loss="dlr", n_target_classes=9, n_iter=5, random_state=0
        ).generate(X, y)
    binary = LogisticRegression(max_iter=500).fit(X[:100], y[:100])
    with pytest.warns(UserWarning, match="CW margin"):
        out = APGD(binary, eps=1.0, loss="dlr", n_iter=5, random_state=0).generate(
            X[:100], y[:100]
        )
    assert binary.score(out, y[:100]) < 1.0


def test_l1_box_projection_is_exact():
    from scipy.optimize import Bounds, LinearConstraint, minimize

    gen = torch.Generator().manual_seed(0)
    u = 2 * torch.randn(30, 6, generator=gen, dtype=torch.float64)
    low = -torch.rand(30, 6, generator=gen, dtype=torch.float64)
    high = torch.rand(30, 6, generator=gen, dtype=torch.float64)
    low[:, 0], high[:, 1] = float("-inf"), float("inf")
    out = L1().project_box(u, low, high)
    assert (out.abs().sum(dim=1) <= 1 + 1e-9).all()
    assert (out >= low).all() and (out <= high).all()
    # the reference: the same convex QP with z = p - m, p, m >= 0 (linear
    # constraints), solved by an interior-point method
    d = u.shape[1]
    diff = np.hstack([np.eye(d), -np.eye(d)])  # z = diff @ (p, m)
    for y, v, lo, hi in zip(u.numpy(), out.numpy(), low.numpy(), high.numpy()):
        best = minimize(
            lambda w, y=y: ((diff @ w - y) ** 2).sum(),
            np.zeros(2 * d),
            jac=lambda w, y=y: 2 * diff.T @ (diff @ w - y),
            hess=lambda w: 2 * diff.T @ diff,
            method="trust-constr",
            bounds=Bounds(np.zeros(2 * d), np.full(2 * d, np.inf)),
            constraints=[
                LinearConstraint(np.ones((1, 2 * d)), -np.inf, 1.0),
                LinearConstraint(diff, lo, hi),
            ],
            options={"gtol": 1e-12, "xtol": 1e-14, "maxiter": 5000},
        )
        z = diff @ best.x
        assert np.abs(z).sum() <= 1 + 1e-6 and np.all(z >= lo - 1e-6)
        assert np.all(z <= hi + 1e-6)
        assert ((v - y) ** 2).sum() <= ((z - y) ** 2).sum() + 1e-6


def test_l1_sparse_step():
    from skrobust.attacks._functional._apgd import _sparse_direction

    grad = torch.tensor([[0.1, -5.0, 0.2, 3.0, 0.0, 0.3, -0.4, 0.5, 0.6, 0.7]])
    step = _sparse_direction(grad, torch.tensor([0.2]), 10.0)  # top 20 %: 2 coords
    expected = torch.zeros(1, 10)
    expected[0, 1], expected[0, 3] = -0.5, 0.5
    torch.testing.assert_close(step, expected)


def test_apgd_l1_in_ball_and_stronger_than_pgd_l1(digits_mlp, digits_data):
    X, y = digits_data.X_test[:100], digits_data.y_test[:100]
    kwargs = dict(eps=2.0, norm="l1", n_iter=20, bounds=(0, 1), random_state=0)
    out = APGD(digits_mlp, **kwargs).generate(X, y)
    assert np.abs(out - X).sum(axis=1).max() <= 2.0 + 1e-5
    assert out.min() >= 0 and out.max() <= 1
    pgd = PGD(digits_mlp, **kwargs).generate(X, y)
    assert digits_mlp.score(out, y) < digits_mlp.score(pgd, y)
