"""Unit tests of the norm geometry and the attack losses."""

import numpy as np
import pytest
import torch

from skrobust.attacks._functional._losses import (
    cross_entropy,
    cw_margin,
    dlr,
    resolve_loss,
)
from skrobust.attacks._functional._norms import L1, L2, Linf, get_norm

NORMS = [Linf(), L2(), L1()]


def _bisect_l1_projection(v):
    """Reference projection onto the unit l1 ball by bisection on the threshold."""
    if np.abs(v).sum() <= 1:
        return v
    lo, hi = 0.0, np.abs(v).max()
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if np.clip(np.abs(v) - mid, 0, None).sum() > 1 else (lo, mid)
    return np.sign(v) * np.clip(np.abs(v) - lo, 0, None)


@pytest.mark.parametrize("norm", NORMS, ids=lambda n: n.name)
def test_random_start_inside_unit_ball_and_spread(norm):
    gen = torch.Generator().manual_seed(0)
    like = torch.zeros(2000, 3, 4, dtype=torch.float64)
    u = norm.random(like, gen)
    assert u.shape == like.shape
    size = norm.size(u)
    assert size.max() <= 1 + 1e-12
    # uniform in a 12-d ball: most of the mass lies near the sphere
    assert size.median() > 0.8


@pytest.mark.parametrize("norm", NORMS, ids=lambda n: n.name)
def test_projection_inside_idempotent_and_identity_inside(norm):
    v = torch.randn(300, 7, dtype=torch.float64) * 3
    p = norm.project(v)
    assert norm.size(p).max() <= 1 + 1e-12
    torch.testing.assert_close(norm.project(p), p)
    small = v / (10 * norm.size(v)[:, None])
    torch.testing.assert_close(norm.project(small), small)


def test_l2_projection_is_radial_scaling():
    v = torch.randn(50, 5, dtype=torch.float64) * 4
    expected = v / v.norm(dim=1, keepdim=True).clamp_min(1)
    torch.testing.assert_close(L2().project(v), expected)


def test_l1_projection_is_exact():
    v = np.random.default_rng(0).normal(size=(100, 9)) * 2
    got = L1().project(torch.as_tensor(v)).numpy()
    expected = np.array([_bisect_l1_projection(row) for row in v])
    np.testing.assert_allclose(got, expected, atol=1e-10)


@pytest.mark.parametrize(
    "norm, dual",
    [
        (Linf(), lambda g: g.abs().sum(dim=1)),
        (L2(), lambda g: g.norm(dim=1)),
        (L1(sparsity=0.0), lambda g: g.abs().amax(dim=1)),
    ],
    ids=["linf", "l2", "l1"],
)
def test_direction_is_steepest_ascent(norm, dual):
    """<g, d> equals the dual norm of g, with ||d|| = 1."""
    g = torch.randn(64, 20, dtype=torch.float64)
    d = norm.direction(g)
    torch.testing.assert_close(norm.size(d), torch.ones(64, dtype=torch.float64))
    torch.testing.assert_close((g * d).sum(dim=1), dual(g))


def test_l1_direction_is_sparse():
    g = torch.randn(8, 500, dtype=torch.float64)
    d = L1(sparsity=0.01).direction(g)
    assert ((d != 0).sum(dim=1) == 5).all()
    top = g.abs().topk(5, dim=1).indices
    assert (d.gather(1, top) != 0).all()


def test_unknown_norm_message():
    with pytest.raises(ValueError, match="unknown norm 'l3'"):
        get_norm("l3")


LOGITS = torch.tensor(
    [[3.0, 1.0, 0.5, -1.0], [0.0, 2.0, 1.0, 4.0]], dtype=torch.float64
)
LABELS = torch.tensor([0, 1])


def test_cross_entropy_and_targeted_sign():
    ce = torch.nn.functional.cross_entropy(LOGITS, LABELS, reduction="none")
    torch.testing.assert_close(cross_entropy(LOGITS, LABELS), ce)
    torch.testing.assert_close(cross_entropy(LOGITS, LABELS, True), -ce)


def test_cw_margin_closed_form():
    expected = torch.tensor([1.0 - 3.0, 4.0 - 2.0], dtype=torch.float64)
    torch.testing.assert_close(cw_margin(LOGITS, LABELS), expected)
    torch.testing.assert_close(cw_margin(LOGITS, LABELS, True), -expected)


def test_dlr_closed_form():
    # sample 0: sorted 3, 1, 0.5, -1; y = 0 -> -(3 - 1) / (3 - 0.5)
    # sample 1: sorted 4, 2, 1, 0; y = 1 -> -(2 - 4) / (4 - 1)
    expected = torch.tensor([-2 / 2.5, 2 / 3], dtype=torch.float64)
    torch.testing.assert_close(dlr(LOGITS, LABELS), expected)
    # targeted: targets t, true y -> -(z_y - z_t) / (z1 - (z3 + z4) / 2)
    targets, true = torch.tensor([3, 0]), LABELS
    expected_t = torch.tensor(
        [-(3.0 - -1.0) / (3 - (0.5 - 1) / 2), -(2.0 - 0.0) / (4 - (1 + 0) / 2)],
        dtype=torch.float64,
    )
    torch.testing.assert_close(dlr(LOGITS, targets, True, true), expected_t)


def test_dlr_scale_invariant():
    torch.testing.assert_close(dlr(5 * LOGITS + 2, LABELS), dlr(LOGITS, LABELS))


@pytest.mark.parametrize("n_classes, targeted", [(2, False), (3, True)])
def test_dlr_falls_back_with_warning(n_classes, targeted):
    with pytest.warns(UserWarning, match="DLR loss needs at least"):
        assert resolve_loss("dlr", n_classes, targeted) is cw_margin


def test_dlr_kept_when_enough_classes():
    assert resolve_loss("dlr", 3, False) is dlr
    assert resolve_loss("dlr", 4, True) is dlr
