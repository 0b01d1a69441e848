"""Square's steps: one window and one set of signs per step, shared by the batch."""

import numpy as np
import pytest
import torch

from skrobust.attacks._functional import cw_margin, square
from skrobust.attacks._functional._square import _Windows
from skrobust.attacks._functional._square_linf import LinfPlan, search_linf, step_linf

EPS = 0.3


def _ball(x0, eps=EPS):
    """The l-inf ball of radius ``eps`` in [0, 1], in unit coordinates."""
    low = ((0 - x0) / eps).clamp_min(-1.0)
    high = ((1 - x0) / eps).clamp_max(1.0)
    return low, high


@pytest.mark.parametrize("c", [1, 2])
def test_linf_image_step_equals_the_reference_slice_step(c):
    n, h, w, s = 5, 6, 6, 3
    gen = torch.Generator().manual_seed(0)
    x0 = torch.rand(n, c, h, w, generator=gen, dtype=torch.float64)
    low, high = _ball(x0)
    u_best = torch.where(torch.rand(n, c, h, w, generator=gen) < 0.5, low, high)
    top, left = 1, 2
    sign = torch.tensor([True, False][:c]).reshape(1, c, 1, 1)
    # point 0 already sits at the vertex these signs pick: it must flip
    at = (0, slice(None), slice(top, top + s), slice(left, left + s))
    u_best[at] = torch.where(sign[0], high[at], low[at])
    step = ((top, left, s), True if c == 1 else sign)
    got = x0 + EPS * step_linf(step, u_best, low, high)

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


def _plan(shape, mobile, p, n_queries=900, seed=0):
    gen = torch.Generator().manual_seed(seed)
    windows = _Windows(shape, mobile, gen)
    return LinfPlan(windows, p, n_queries, lambda p_init, i, n: p_init)


def test_square_corners_cover_every_position_uniformly():
    plan = _plan((2, 6, 6), torch.ones(2, 6, 6, dtype=torch.bool), p=16 / 36)
    steps = [plan(i) for i in range(900)]
    corners = np.array([window for window, _ in steps])
    assert (corners[:, 2] == 4).all()  # side sqrt(p h w)
    # every position 0..2 (the reference's [0, h - s) never draws the last)
    for axis in range(2):
        counts = np.bincount(corners[:, axis], minlength=3)
        assert len(counts) == 3 and counts.min() > 240
    signs = torch.cat([sign.reshape(1, 2) for _, sign in steps]).float()
    assert 0.45 < float(signs.mean()) < 0.55  # one fair sign per channel


def test_linf_vector_plan_draws_shared_subsets_of_the_mobile_features():
    n, d = 8, 12
    mobile = torch.ones(d, dtype=torch.bool)
    mobile[[0, 5]] = False
    plan = _plan((d,), mobile, p=0.4, n_queries=600)
    masks = torch.cat([plan(i)[0].reshape(1, d) for i in range(600)])
    assert (masks.sum(dim=1) == round(0.4 * 10)).all()  # of the 10 mobile
    assert not masks[:, ~mobile].any()
    freq = masks[:, mobile].float().mean(dim=0)  # uniform over the mobile
    assert ((freq - 0.4).abs() < 0.07).all()

    gen = torch.Generator().manual_seed(1)
    x0 = torch.rand(n, d, dtype=torch.float64, generator=gen).reshape(n, 1, 1, d)
    low, high = _ball(x0)
    low, high = low * mobile, high * mobile
    u_best = torch.where(torch.rand(n, 1, 1, d, generator=gen) < 0.5, low, high)
    window, sign = plan(3)
    u = step_linf((window, sign), u_best, low, high)
    pick = torch.where(sign, high, low)
    same = ((pick == u_best) | ~window).flatten(1).all(1).reshape(-1, 1, 1, 1)
    expected = torch.where(window, torch.where(sign ^ same, high, low), u_best)
    torch.testing.assert_close(u, expected, rtol=0, atol=0)
    assert (u != u_best).any(dim=(1, 2, 3)).all()  # every point moved


@pytest.mark.parametrize(
    "c, side, n_queries", [(1, 3, 30), (1, 1, 200), (2, 1, 200), (2, 2, 120)]
)
def test_linf_search_equals_a_per_point_loop_on_the_same_windows(c, side, n_queries):
    # small squares repeat: a point that already tried a step since it last
    # moved is not queried again, with the results of querying it
    model = _model(True, c)
    n, shape, eps = 6, (c, 5, 5), 0.1
    x0 = torch.rand(n, *shape, dtype=torch.float64, generator=torch.Generator())
    with torch.no_grad():
        labels = model(x0).argmax(1)
    low, high = (x0 - eps).clamp_min(0), (x0 + eps).clamp_max(1)
    start = torch.where(torch.rand(n, *shape) < 0.5, low, high)
    with torch.no_grad():
        loss0 = cw_margin(model(start), labels)
    mobile, p = torch.ones(shape, dtype=torch.bool), side**2 / 25
    asked = []

    def counted(x):
        asked.append(len(x))
        return model(x)

    rows = (torch.arange(n), start, loss0, low, high, labels)
    plan = _Looked(_plan(shape, mobile, p=p, n_queries=n_queries))
    x_out, best_out, hit_out, spent = search_linf(
        counted, shape, plan, n_queries, rows, cw_margin, False
    )
    # the same draws again
    again = _plan(shape, mobile, p=p, n_queries=n_queries)
    drawn = [again(i) for i in range(n_queries - 1)]

    # by hand: one point at a time, the same windows and signs
    by_hand = 0
    for k in range(n):
        x, best, queries, hit = start[k], loss0[k], 0, False
        for (top, left, s), sign in drawn:
            if hit:
                break
            assert s == side
            for flip in (False, True):
                new = x.clone()
                at = (slice(None), slice(top, top + s), slice(left, left + s))
                pick = torch.as_tensor(sign ^ flip).reshape(-1, 1, 1)
                new[at] = torch.where(pick, high[k], low[k])[at]
                if not torch.equal(new, x):
                    break
            with torch.no_grad():
                scores = model(new[None])
            loss, queries = float(cw_margin(scores, labels[k : k + 1])), queries + 1
            hit = bool(scores.argmax(1) != labels[k])
            if loss > best or hit:
                x, best = new, loss
        torch.testing.assert_close(x_out[k], x, rtol=0, atol=1e-12)
        assert float(best_out[k]) == pytest.approx(best, abs=1e-12)
        assert (bool(hit_out[k]), int(spent[k])) == (hit, queries)
        by_hand += queries
    assert 0 < int(hit_out.sum()) < n  # some points broken, some not
    if n_queries > 100:  # repeats skipped, runs of them looked at in bulk
        assert sum(asked) < 0.9 * by_hand
        assert plan.looked < n_queries - 1


class _Looked:
    """A plan that counts the steps looked at one by one."""

    def __init__(self, plan):
        self.plan, self.windows, self.looked = plan, plan.windows, 0

    def __call__(self, i):
        self.looked += 1
        return self.plan(i)

    def ahead(self, i):
        return self.plan.ahead(i)


class _Counted:
    """A plan that counts the steps it gives as spins."""

    def __init__(self, plan):
        self.plan, self.windows, self.spins = plan, plan.windows, 0

    def __call__(self, i):
        return self.plan(i)

    def spin(self, i):
        self.spins += 1
        return self.plan.spin(i)

    def single(self, i):
        return self.plan.single(i)

    def ahead(self, i):
        return self.plan.ahead(i)


@pytest.mark.parametrize("pinned", [False, True])
def test_linf_vector_search_as_spins_equals_the_point_search(pinned):
    # vectors at vertices step as +-1 spins (one matrix-vector product finds
    # the unchanged points); the search must equal step_linf's, query for
    # query; a mobile feature pinned (low = high) falls back to step_linf
    model = _model(False)
    n, d, n_queries, eps = 30, 12, 80, 0.1
    gen = torch.Generator().manual_seed(2)
    x0 = torch.rand(n, 1, 1, d, dtype=torch.float64, generator=gen)
    mobile = torch.ones(d, dtype=torch.bool)
    mobile[[1, 7]] = False
    low = (x0 - eps * mobile).clamp_min(0)
    high = (x0 + eps * mobile).clamp_max(1)
    if pinned:
        high[3, ..., 4] = low[3, ..., 4]
    start = torch.where(torch.rand(n, 1, 1, d, generator=gen) < 0.5, low, high)
    with torch.no_grad():
        labels = model(x0.reshape(n, d)).argmax(1)
        loss0 = cw_margin(model(start.reshape(n, d)), labels)
    rows = (torch.arange(n), start, loss0, low, high, labels)
    # one feature per window: points often sit at the drawn vertex already
    spins = _Counted(_plan((d,), mobile, p=0.1, n_queries=n_queries, seed=3))
    points = _plan((d,), mobile, p=0.1, n_queries=n_queries, seed=3)
    asked = []

    def counted(x):
        asked.append(len(x))
        return model(x)

    got = search_linf(counted, (d,), spins, n_queries, rows, cw_margin, False)
    spin_rows, asked[:] = sum(asked), []
    expected = search_linf(
        counted, (d,), lambda i: points(i), n_queries, rows, cw_margin, False
    )
    for a, b in zip(got, expected):
        assert torch.equal(a, b)
    assert (spins.spins == 0) == pinned
    # as spins, a one-feature flip a point already tried is not asked again
    assert (spin_rows < 0.9 * sum(asked)) != pinned
    assert 0 < int(got[2].sum()) < n  # some points broken, some not


def _model(image, c=1):
    torch.manual_seed(0)
    if image:
        net = torch.nn.Sequential(
            torch.nn.Conv2d(c, 4, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(3),
            torch.nn.Flatten(),
            torch.nn.Linear(4 * 3 * 3, 3),
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


@pytest.mark.parametrize("kind", ["steady", "noisy", "batch-dependent"])
def test_repeats_are_answered_from_memory_only_for_a_steady_model(kind):
    # single pixels soon repeat; a randomized model, or one whose answers
    # depend on the rest of its batch, is asked every time
    base = _model(True)

    def model(x):
        asked.append(len(x))
        if kind == "noisy":
            x = x + 0.01 * torch.randn_like(x)
        elif kind == "batch-dependent":  # normalised by the batch's mean
            x = x + 0.2 * (x.mean(dim=0, keepdim=True) - 0.5)
        return base(x)

    n, eps = 20, 0.1
    x0 = torch.rand(n, 1, 4, 4, dtype=torch.float64, generator=torch.Generator())
    with torch.no_grad():
        labels = base(x0).argmax(1)
    low, high = _ball(x0, eps)
    asked = []
    _, queries = square(
        model,
        x0,
        labels,
        scale=torch.full((1, 4, 4), eps, dtype=torch.float64),
        u_low=low,
        u_high=high,
        box=(torch.zeros_like(x0), torch.ones_like(x0)),
        loss_fn=cw_margin,
        norm="linf",
        targeted=False,
        n_queries=100,
        p_init=0.8,
        generator=torch.Generator().manual_seed(0),
    )
    # the clean points, one row per query, the first query twice, and (once
    # that agreed) its first half alone
    started = int((queries > 0).sum())
    every = n + int(queries.sum()) + started
    every += 0 if kind == "noisy" else started // 2
    assert int((queries == 100).sum()) > 0  # points left unbroken
    assert (sum(asked) == every) == (kind != "steady")
    assert sum(asked) <= every
