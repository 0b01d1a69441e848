"""Square's steps: one window and one set of signs per step, shared by the batch."""

import numpy as np
import pytest
import torch

from skrobust.attacks._functional import cw_margin, square
from skrobust.attacks._functional._square import _step_linf, _Windows

EPS = 0.3


def _ball(x0, eps=EPS):
    """The l-inf ball of radius ``eps`` in [0, 1], in unit coordinates."""
    low = ((0 - x0) / eps).clamp_min(-1.0)
    high = ((1 - x0) / eps).clamp_max(1.0)
    return low, high


def test_linf_image_step_equals_the_reference_slice_step():
    n, c, h, w, s = 5, 2, 6, 6, 3
    gen = torch.Generator().manual_seed(0)
    x0 = torch.rand(n, c, h, w, generator=gen, dtype=torch.float64)
    low, high = _ball(x0)
    u_best = torch.where(torch.rand(n, c, h, w, generator=gen) < 0.5, low, high)
    top, left = 1, 2
    sign = torch.tensor([True, False]).reshape(1, c, 1, 1)
    # point 0 already sits at the vertex these signs pick: it must flip
    at = (0, slice(None), slice(top, top + s), slice(left, left + s))
    u_best[at] = torch.where(sign[0], high[at], low[at])
    windows = _Windows((c, h, w), torch.ones(c, h, w, dtype=torch.bool), gen)
    windows.side = lambda p: s
    windows.corner = lambda side: (top, left)
    windows.positive = lambda m: sign
    got = x0 + EPS * _step_linf(windows, u_best, low, high, p=0.5)

    # the reference (pyautoattack's l-inf step), written out, plus the flip
    x_best = x0 + EPS * u_best
    deltas = torch.zeros(c, h, w, dtype=torch.float64)
    signs = torch.where(sign[0], 1.0, -1.0).to(torch.float64)
    expected = []
    for i in range(n):
        for flip in (1.0, -1.0):
            deltas[:, top : top + s, left : left + s] = 2 * EPS * flip * signs
            new = torch.min(torch.max(x_best[i] + deltas, x0[i] - EPS), x0[i] + EPS)
            new = new.clamp(0.0, 1.0)
            if not torch.allclose(new, x_best[i], rtol=0, atol=1e-12):
                break
        expected.append(new)
    torch.testing.assert_close(got, torch.stack(expected), rtol=0, atol=1e-12)
    assert not torch.allclose(got[0], x_best[0])  # the flip changed point 0


def test_square_corners_cover_every_position_uniformly():
    gen = torch.Generator().manual_seed(0)
    windows = _Windows((1, 6, 6), torch.ones(1, 6, 6, dtype=torch.bool), gen)
    corners = np.array([windows.corner(4) for _ in range(900)])
    # every position 0..2 (the reference's [0, h - s) never draws the last)
    for axis in range(2):
        counts = np.bincount(corners[:, axis], minlength=3)
        assert len(counts) == 3 and counts.min() > 240


def test_linf_vector_step_shares_a_subset_of_the_mobile_features():
    n, d = 8, 12
    gen = torch.Generator().manual_seed(1)
    x0 = torch.rand(n, d, dtype=torch.float64, generator=gen).reshape(n, 1, 1, d)
    low, high = _ball(x0)
    mobile = torch.ones(d, dtype=torch.bool)
    mobile[[0, 5]] = False
    low, high = low * mobile, high * mobile
    u_best = torch.where(torch.rand(n, 1, 1, d, generator=gen) < 0.5, low, high)
    windows = _Windows((d,), mobile, gen)
    seen = {}
    draw, positive = windows.draw, windows.positive
    windows.draw = lambda s: seen.setdefault("window", draw(s))
    windows.positive = lambda m: seen.setdefault("sign", positive(m))
    u = _step_linf(windows, u_best, low, high, p=0.4)
    window, sign = seen["window"][0], seen["sign"]
    assert window.shape == (1, 1, 1, d) and sign.shape == (1, 1, 1, d)
    assert int(window.sum()) == round(0.4 * 10) and not window[..., mobile == 0].any()
    pick = torch.where(sign, high, low)
    same = ((pick == u_best) | ~window).flatten(1).all(1).reshape(-1, 1, 1, 1)
    expected = torch.where(window, torch.where(sign ^ same, high, low), u_best)
    torch.testing.assert_close(u, expected, rtol=0, atol=0)
    assert (u != u_best).any(dim=(1, 2, 3)).all()  # every point moved


def _model(image):
    torch.manual_seed(0)
    if image:
        net = torch.nn.Sequential(
            torch.nn.Conv2d(1, 4, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.Flatten(),
            torch.nn.Linear(4 * 6 * 6, 3),
        )
    else:
        net = torch.nn.Sequential(
            torch.nn.Linear(12, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)
        )
    torch.nn.init.zeros_(net[-1].bias)  # the input decides the class
    return net.double()


@pytest.mark.parametrize("image", [True, False])
def test_square_is_sound_deterministic_and_leaves_its_input(image):
    model = _model(image)
    shape = (1, 6, 6) if image else (12,)
    x0 = torch.rand(40, *shape, dtype=torch.float64, generator=torch.Generator())
    with torch.no_grad():
        labels = model(x0).argmax(1)
    eps = 0.1
    low, high = _ball(x0, eps)
    box = (torch.zeros_like(x0), torch.ones_like(x0))
    scale = torch.full(shape, eps, dtype=torch.float64)
    before = x0.clone()

    def run(seed):
        return square(
            model,
            x0,
            labels,
            scale=scale,
            u_low=low,
            u_high=high,
            box=box,
            loss_fn=cw_margin,
            norm="linf",
            targeted=False,
            n_queries=60,
            p_init=0.8,
            generator=torch.Generator().manual_seed(seed),
        )

    x_adv, queries = run(0)
    torch.testing.assert_close(x0, before, rtol=0, atol=0)
    assert (x_adv - x0).abs().max() <= eps + 1e-12
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    broken = queries < 60  # stopped early: reported adversarial
    assert 0 < int(broken.sum()) < len(x0)
    assert (model(x_adv).argmax(1)[broken] != labels[broken]).all()
    again, queries_again = run(0)
    torch.testing.assert_close(again, x_adv, rtol=0, atol=0)
    assert torch.equal(queries, queries_again)
    assert not torch.equal(run(1)[0], x_adv)
