"""The Square attack's loop (Andriushchenko et al. 2020): random search.

Queries only: no gradient flows. Works in unit coordinates ``u`` (``delta =
scale * u``) inside the box ``[u_low, u_high]``; images (samples of two or
more dimensions) get the reference's squares, flat tabular vectors a random
subset of their mutable features, one window per step for the whole batch
(see :class:`_Windows`).
"""

import math

from ..._torch import torch
from ._losses import success
from ._square_linf import LinfPlan, search_linf, step_linf


def p_selection(p_init, it, n_iters):
    """The reference schedule of the fraction of features a window covers."""
    it = int(it / n_iters * 10000)
    for edge, div in (
        (10, 1),
        (50, 2),
        (200, 4),
        (500, 8),
        (1000, 16),
        (2000, 32),
        (4000, 64),
        (6000, 128),
        (8000, 256),
        (10000, 512),
    ):
        if it <= edge:
            return p_init / div
    return p_init


def _gaussian_rectangle(x, y):
    delta = torch.zeros(x, y, dtype=torch.float64)
    cx, cy = x // 2 + 1, y // 2 + 1
    i, j = cx - 1, cy - 1
    for k in range(max(cx, cy)):
        delta[max(i, 0) : min(i + 2 * k + 1, x), max(j, 0) : min(j + 2 * k + 1, y)] += (
            1.0 / (k + 1) ** 2
        )
        i, j = i - 1, j - 1
    return delta / delta.norm()


def pseudo_gaussian(s, generator):
    """The reference's l2 update profile of an ``s x s`` square (unit norm)."""
    delta = torch.zeros(s, s, dtype=torch.float64)
    delta[: s // 2] = _gaussian_rectangle(s // 2, s)
    delta[s // 2 :] = -_gaussian_rectangle(s - s // 2, s)
    delta /= delta.norm()
    if torch.rand(1, generator=generator, device=generator.device).item() > 0.5:
        delta = delta.T
    return delta


class _Windows:
    """Where Square's updates go, in samples reshaped to ``(n, c, h, w)``.

    As in the reference, one window per step is shared by the whole batch
    (each point keeps or drops it on its own loss): images (samples of 2 or
    more dimensions) get a square of side ``s`` over the last two
    dimensions, shared by all channels. Flat tabular vectors have no spatial
    order, so their "square" is a random subset of the mutable features
    covering the same fraction of them. Each point's sequence of windows has
    the same law as with a window per point, so the expected robust accuracy
    is the same; a step is then a slice (images) or one broadcast mask.
    """

    def __init__(self, shape, mobile, generator):
        self.image = len(shape) >= 2
        if self.image:
            self.c, self.h, self.w = math.prod(shape[:-2]), shape[-2], shape[-1]
        else:
            self.c, self.h, self.w = 1, 1, math.prod(shape)
        self.mobile = mobile.reshape(1, self.c, self.h, self.w)
        self.d = int(mobile.sum()) if not self.image else math.prod(shape)
        self.generator = generator
        # the mobile features of a vector, by position
        self.positions = torch.nonzero(self.mobile.reshape(-1))[:, 0]

    def side(self, p, *, minimum=1):
        if not self.image:
            return min(max(round(p * self.d), 1), self.d)
        s = round(math.sqrt(p * self.h * self.w))
        return min(max(s, minimum), self.h, self.w)

    def _rand(self, *shape, dtype=torch.float64):
        g = self.generator
        return torch.rand(shape, generator=g, device=g.device, dtype=dtype)

    def corner(self, s):
        """A square's top-left corner, uniform over all ``(h-s+1) (w-s+1)``.

        (The reference draws it from ``[0, h - s)``: never the last row or
        column of positions.)
        """
        g = self.generator
        at = torch.randint(0, 2**62, (2,), generator=g, device=g.device).tolist()
        return at[0] % (self.h - s + 1), at[1] % (self.w - s + 1)

    def draw(self, s):
        """The batch's window as a boolean mask ``(1, c, h, w)``; images also
        give its corner (vectors ``None``)."""
        dev = self.generator.device
        if self.image:
            top, left = self.corner(s)
            window = torch.zeros(1, self.c, self.h, self.w, dtype=torch.bool)
            window[..., top : top + s, left : left + s] = True
            return window.to(dev), (top, left)
        if s == 1 and self.d:  # one mobile feature
            pick = torch.randint(0, self.d, (1,), generator=self.generator, device=dev)
            window = torch.zeros(self.w, dtype=torch.bool, device=dev)
            window[self.positions[pick]] = True
            return window.reshape(1, 1, 1, self.w), None
        keys = self._rand(1, self.w).masked_fill(~self.mobile.reshape(1, -1), 2)
        cut = keys.kthvalue(s, dim=1, keepdim=True).values
        return (keys <= cut).reshape(1, 1, 1, self.w), None

    def signs(self, n, dtype):
        """Random +-1: one per channel (images) or per feature (vectors)."""
        shape = (n, self.c, 1, 1) if self.image else (n, 1, 1, self.w)
        g = self.generator
        draws = torch.randint(0, 2, shape, generator=g, device=g.device)
        return draws.to(dtype).mul_(2).sub_(1)

    def profile(self, s, corner, dtype):
        """The l2 update's shape inside the window (ones for vectors)."""
        dev = self.generator.device
        if not self.image:
            return torch.ones(1, 1, 1, self.w, dtype=dtype, device=dev)
        prof = pseudo_gaussian(s, self.generator).to(dev, dtype)
        top, left = corner
        out = torch.zeros(1, 1, self.h, self.w, dtype=dtype, device=dev)
        out[..., top : top + s, left : left + s] = prof
        return out


def _norm(t, dims):
    return t.square().sum(dim=dims, keepdim=True).sqrt()


def _init(windows, n, dtype, norm):
    """Vertical stripes (linf) or tiled pseudo-Gaussian squares (l2)."""
    if norm == "linf":
        if not windows.image:
            return windows.signs(n, dtype)
        g = windows.generator
        draws = torch.randint(
            0, 2, (n, windows.c, 1, windows.w), generator=g, device=g.device
        )
        return draws.to(dtype).mul_(2).sub_(1).expand(n, -1, windows.h, -1)
    if not windows.image:
        u = windows.signs(n, dtype) * windows.mobile
    else:
        u = torch.zeros(n, windows.c, windows.h, windows.w, dtype=dtype)
        u = u.to(windows.generator.device)
        s = max(windows.h // 5, 1)
        start = (windows.h - s * 5) // 2 if windows.h >= 5 else 0
        for top in range(start, windows.h - s + 1, s):
            for left in range(start, windows.w - s + 1, s):
                prof = pseudo_gaussian(s, windows.generator).to(u)
                u[:, :, top : top + s, left : left + s] += prof * windows.signs(
                    n, dtype
                )
    return u / _norm(u, (1, 2, 3)).clamp_min(1e-12)


def _step_l2(windows, u_best, low, high, p):
    """l2 mass moves from a second window into the first (the reference):
    both windows shared by the batch, the signs drawn per point."""
    n = len(u_best)
    s = windows.side(p, minimum=3)
    if windows.image and s % 2 == 0:
        s = s + 1 if s < min(windows.h, windows.w) else s - 1
    w1, corner = windows.draw(s)
    w2, _ = windows.draw(s)
    dims = (2, 3)  # per channel, within the window
    w1f, both = w1.to(u_best.dtype), (w1 | w2).to(u_best.dtype)
    norm_w1 = _norm(u_best * w1f, dims)
    norm_all = _norm(u_best, (1, 2, 3))
    norm_both = _norm(u_best * both, dims)
    new = windows.profile(s, corner, u_best.dtype) * windows.signs(n, u_best.dtype)
    new = (new + u_best / (norm_w1 + 1e-10)) * w1f
    budget = (1.0 - norm_all.square()).clamp_min(0) / windows.c
    new = new / _norm(new, dims).clamp_min(1e-12) * (budget + norm_both.square()).sqrt()
    u = torch.where(w1, new, torch.where(w2, 0.0, u_best)) * windows.mobile
    u = u / _norm(u, (1, 2, 3)).clamp_min(1e-12)
    return u.clamp(low, high)


def _redraw_categories(repair, u, u_best, x0, scale, idx, generator):
    """Categorical columns a window touched take a random allowed category."""
    shape = (len(u), -1)
    x = torch.addcmul(x0, scale, u).reshape(shape)
    before = torch.addcmul(x0, scale, u_best).reshape(shape)
    x = repair.mutate(x, before, generator, rows=idx)
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    u_new = torch.where(scale > 0, (x.reshape(u.shape) - x0) / safe, u)
    return u_new


@torch.no_grad()
def square(
    model,
    x0,
    labels,
    *,
    scale,
    u_low,
    u_high,
    box,
    loss_fn,
    norm,
    targeted,
    n_queries,
    p_init,
    generator=None,
    repair=None,
):
    """The Square attack on a batch: random window updates kept when they help.

    Each step draws one window for the whole batch, as the reference does
    (l-infinity: also one sign per channel, or per feature of a vector;
    l2: a second window, and signs per point), and queries the points not
    yet adversarial; each keeps the step only if its loss improves.

    Parameters
    ----------
    model : callable
        Tensor of inputs -> scores (queried only, never differentiated).
    x0, labels : Tensor
        Clean inputs and the classes to attack (the targets when
        ``targeted``).
    scale, u_low, u_high : Tensor
        The per-feature budget and the box in unit coordinates ``u``
        (``delta = scale * u``), as ``Constraints.tensors`` gives them.
    box : (Tensor, Tensor)
        The input box (``Constraints.input_box``) every query is clipped to.
    loss_fn : callable
        ``(scores, labels, targeted) -> (n,)``, maximised.
    norm : {"linf", "l2"}
    targeted : bool
    n_queries : int
        Queries per point (the first is the random initialisation).
    p_init : float
        Initial fraction of the features a window covers.
    generator : torch.Generator, optional
    repair : Repair, optional
        Discrete constraints applied to every query (integer features take
        whole steps, a categorical column whose coordinates a window moves
        switches category); the loss of the repaired point decides.

    Returns
    -------
    x_adv : Tensor
    queries : Tensor of int
        Queries spent on each point (0 for points adversarial from the
        start). Without repairs, a square step that a point already tried
        since it last moved counts as a query but is answered from memory
        (the same loss; the reference queries the model again).
    """
    if generator is None:
        generator = torch.Generator(device=x0.device)
    n, shape = len(x0), x0.shape[1:]
    windows = _Windows(shape, (scale > 0).expand(shape), generator)
    four = (n, windows.c, windows.h, windows.w)
    scale = scale.expand(shape).reshape(1, *four[1:])
    low, high = u_low.reshape(four), u_high.reshape(four)
    if norm == "linf":
        low, high = low.clamp_min(-1.0), high.clamp_max(1.0)
    x0f = x0.reshape(four)
    box = [b.reshape(four) for b in box]

    safe_scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    queries = torch.zeros(n, dtype=torch.long, device=x0.device)
    u_best = torch.zeros(four, dtype=x0.dtype, device=x0.device)

    # the points still to break, compacted only when some break: their rows
    # of everything the loop reads (one index per break, none per query)
    class Active:
        def __init__(self, idx):
            self.idx, self.x0, self.labels = idx, x0f[idx], labels[idx]
            self.low, self.high = low[idx], high[idx]
            self.box = box[0][idx], box[1][idx]

        def query(self, u):
            """Loss and success at ``u`` (repaired), and the ``u`` queried."""
            x = torch.addcmul(self.x0, scale, u).clamp(*self.box)
            if repair is not None:  # new discrete changes win over older ones
                before = torch.addcmul(self.x0, scale, u_best[self.idx])
                x = repair(
                    x.reshape(-1, *shape),
                    rows=self.idx,
                    before=before.reshape(len(u), -1),
                )
                x = x.reshape(u.shape)
                u = torch.where(scale > 0, (x - self.x0) / safe_scale, u)
            with torch.inference_mode():  # queries only
                scores = model(x.reshape(-1, *shape))
            return (
                loss_fn(scores, self.labels, targeted),
                success(scores, self.labels, targeted),
                u,
            )

    every = Active(torch.arange(n, device=x0.device))
    best, done, _ = every.query(u_best)  # the clean point (not counted)
    act = Active(every.idx[~done])
    steady = False
    if len(act.idx):
        u = _init(windows, len(act.idx), x0.dtype, norm).clamp(act.low, act.high)
        loss, hit, u = act.query(u)
        if norm == "linf" and repair is None:
            # repeats of a step are answered from memory only if the model
            # gives the same scores twice (not a randomized model): the same
            # batch a second time, and its first half alone (not a model
            # whose answers depend on the other rows of the batch; matrix
            # kernels may differ by batch size in the last bits)
            steady = torch.equal(act.query(u)[0], loss)
            m = len(act.idx) // 2
            if steady and m:
                alone = Active(act.idx[:m]).query(u[:m])[0]
                tol = 1e-5 * float(loss.abs().max()) + 1e-12
                steady = bool(((alone - loss[:m]).abs() <= tol).all())
        u_best[act.idx], best[act.idx], done[act.idx] = u, loss, hit
        queries[act.idx] += 1
        act = Active(act.idx[~hit])
    x_adv = torch.addcmul(x0f, scale, u_best).clamp(box[0], box[1])
    if norm == "linf" and repair is None:  # the search in x: one less step
        ends = (act.low, act.high)
        vertex = [torch.addcmul(act.x0, scale, t).clamp(*act.box) for t in ends]
        plan = LinfPlan(windows, p_init, n_queries, p_selection)
        rows = (act.idx, x_adv[act.idx], best[act.idx], *vertex, act.labels)
        out, _, _, spent = search_linf(
            model, shape, plan, n_queries, rows, loss_fn, targeted, remember=steady
        )
        x_adv[act.idx] = out
        queries[act.idx] += spent
        return x_adv.reshape(x0.shape), queries
    if norm == "linf":
        plan = LinfPlan(windows, p_init, n_queries, p_selection)

        def step(u, i):
            return step_linf(plan(i), u, act.low, act.high)
    else:

        def step(u, i):
            p = p_selection(p_init, i, n_queries)
            return _step_l2(windows, u, act.low, act.high, p)

    cur_u, cur_best, spent = u_best[act.idx], best[act.idx], 0
    for i in range(n_queries - 1):
        if not len(act.idx):
            break
        u = step(cur_u, i)
        if repair is not None:
            u_best[act.idx] = cur_u
            if repair.groups:  # windows redraw categories
                u = _redraw_categories(
                    repair, u, cur_u, act.x0, scale, act.idx, generator
                )
        loss, hit, u = act.query(u)
        better = (loss > cur_best) | hit
        cur_u = torch.where(better.reshape(-1, 1, 1, 1), u, cur_u)
        cur_best = torch.where(better, loss, cur_best)
        spent += 1
        if bool(hit.any()):  # write back, and drop the broken points
            u_best[act.idx], best[act.idx] = cur_u, cur_best
            queries[act.idx] += spent
            done[act.idx[hit]] = True
            spent, keep = 0, ~hit
            act = Active(act.idx[keep])
            cur_u, cur_best = cur_u[keep], cur_best[keep]
    u_best[act.idx], best[act.idx] = cur_u, cur_best
    queries[act.idx] += spent
    x_adv = torch.addcmul(x0f, scale, u_best).clamp(box[0], box[1])
    return x_adv.reshape(x0.shape), queries
