"""The HopSkipJump loop (Chen, Jordan & Wainwright 2020): labels only.

From a misclassified starting point, repeat: a binary search back to the
decision boundary, an estimate of the boundary's normal from the labels of
random points around it, a geometric step along it. Works in unit
coordinates ``u = (x - x0) / w``, so sizes are ``||delta / w||``.
"""

import math

from ..._torch import torch
from ._losses import reached, success

_EVAL_CHUNK = 1 << 16  # queries (x features / 64) evaluated at once


class _Search:
    """The batch's state: queries in unit coordinates ``u = (x - x0) / w``."""

    def __init__(self, model, x0, w, low, high, box, labels, targeted, norm, g):
        self.view, self.shape, self.norm = model, x0.shape, norm
        self.x0, self.w = x0.flatten(1), w.reshape(1, -1)
        self.low, self.high = low.flatten(1), high.flatten(1)
        self.low_x, self.high_x = (b.flatten(1) for b in box)
        self.labels, self.targeted, self.g = labels, targeted, g
        self.mobile = (self.w > 0).to(x0.dtype).expand_as(self.x0)

    def x(self, u, idx):
        x0 = self.x0 if idx is None else self.x0[idx]
        return torch.addcmul(x0, self.w, u)

    def adversarial(self, u, idx):
        """Label-only decision: does ``x0 + w * u`` fool the model?"""
        if not len(idx):
            return torch.zeros(0, dtype=torch.bool, device=u.device)
        x = self.x(u, idx).clamp(self.low_x[idx], self.high_x[idx])
        pred = self.view(x.reshape(-1, *self.shape[1:]))
        return success(pred, self.labels[idx], self.targeted)

    def start(self, n_tries):
        """A misclassified starting point per sample: other samples, noise."""
        n = len(self.x0)
        every = torch.arange(n, device=self.x0.device)
        pred = self.view(self.x0.reshape(self.shape)).argmax(dim=1)
        self.clean_adv = reached(pred, self.labels, self.targeted)
        u = torch.zeros_like(self.x0)
        found = self.clean_adv.clone()
        # the nearest differently-labelled samples of the batch, in the box
        ok = reached(pred[None, :], self.labels[:, None], self.targeted)
        if bool(ok.any()):
            dist = torch.empty(n, n, dtype=self.x0.dtype, device=self.x0.device)
            rows = max(1, _EVAL_CHUNK * 64 // max(n * self.x0.shape[1], 1))
            for i in range(0, n, rows):
                cand = self._towards(every[i : i + rows, None], every[None])
                dist[i : i + rows] = self.norm.size(cand.flatten(0, 1)).reshape(-1, n)
            dist = dist.masked_fill(~ok, float("inf"))
            for _ in range(3):
                j = dist.argmin(dim=1)
                todo = every[~found & torch.isfinite(dist[every, j])]
                if not len(todo):
                    break
                trial = self._towards(todo, j[todo])
                hit = self.adversarial(trial, todo)
                u[todo[hit]], found[todo[hit]] = trial[hit], True
                dist[todo, j[todo]] = float("inf")
        # uniform noise: in the box where it is finite, else in a growing cube
        for t in range(n_tries):
            todo = every[~found]
            if not len(todo):
                break
            r = 2.0 ** min(t, 30)
            lo = torch.where(torch.isfinite(self.low[todo]), self.low[todo], -r)
            hi = torch.where(torch.isfinite(self.high[todo]), self.high[todo], r)
            rand = torch.rand(
                lo.shape, generator=self.g, device=lo.device, dtype=lo.dtype
            )
            trial = (lo + rand * (hi - lo)) * self.mobile[todo]
            hit = self.adversarial(trial, todo)
            u[todo[hit]], found[todo[hit]] = trial[hit], True
        return u, found

    def _towards(self, i, j):
        """The step from sample ``i`` to sample ``j`` in ``u``, in ``i``'s box."""
        safe = torch.where(self.w > 0, self.w, 1.0)
        step = (self.x0[j] - self.x0[i]) / safe * self.mobile[i]
        return torch.maximum(torch.minimum(step, self.high[i]), self.low[i])

    def blend(self, u, idx, tol=1e-3):
        """The reference's initial line search from x0 toward the start."""
        lo = torch.zeros(len(u), dtype=u.dtype, device=u.device)
        hi = torch.ones_like(lo)
        while True:
            todo = torch.nonzero(hi - lo > tol)[:, 0]
            if not len(todo):
                return u * hi[:, None]
            mid = (lo[todo] + hi[todo]) / 2
            hit = self.adversarial(u[todo] * mid[:, None], idx[todo])
            hi[todo] = torch.where(hit, mid, hi[todo])
            lo[todo] = torch.where(hit, lo[todo], mid)

    def to_boundary(self, u, idx, theta):
        """Binary search between x0 and ``u`` (adversarial) to the boundary."""
        linf = self.norm.name == "linf"
        if linf:
            hi = self.norm.size(u)
            tol = torch.clamp(hi * theta, max=theta).clamp_min(1e-12)
        else:
            hi = torch.ones(len(u), dtype=u.dtype, device=u.device)
            tol = torch.full_like(hi, theta)
        lo = torch.zeros_like(hi)

        def at(a, rows):
            if linf:
                return torch.maximum(torch.minimum(u[rows], a[:, None]), -a[:, None])
            return u[rows] * a[:, None]

        for _ in range(64):
            todo = torch.nonzero((hi - lo) > tol)[:, 0]
            if not len(todo):
                break
            mid = (lo[todo] + hi[todo]) / 2
            hit = self.adversarial(at(mid, todo), idx[todo])
            hi[todo] = torch.where(hit, mid, hi[todo])
            lo[todo] = torch.where(hit, lo[todo], mid)
        return at(hi, torch.arange(len(u), device=u.device))

    def gradient(self, u, idx, delta, n_evals):
        """Monte-Carlo estimate of the boundary's normal at ``u``."""
        n, d = u.shape
        sums = torch.zeros_like(u)
        rv_sum = torch.zeros_like(u)
        f_sum = torch.zeros(n, dtype=u.dtype, device=u.device)
        chunk = max(1, _EVAL_CHUNK * 64 // max(n * d, 1))
        done = 0
        while done < n_evals:
            k = min(chunk, n_evals - done)
            shape = (n, k, d)
            if self.norm.name == "l2":
                rv = torch.randn(
                    shape, generator=self.g, device=u.device, dtype=u.dtype
                )
            else:
                rv = torch.rand(shape, generator=self.g, device=u.device, dtype=u.dtype)
                rv = rv * 2 - 1
            rv = rv * self.mobile[idx][:, None]
            rv = rv / rv.norm(dim=2, keepdim=True).clamp_min(1e-12)
            pert = u[:, None] + delta[:, None, None] * rv
            pert = torch.maximum(
                torch.minimum(pert, self.high[idx][:, None]), self.low[idx][:, None]
            )
            rv = (pert - u[:, None]) / delta[:, None, None].clamp_min(1e-30)
            rows = idx.repeat_interleave(k)
            f = self.adversarial(pert.reshape(n * k, d), rows).reshape(n, k)
            f = f.to(u.dtype) * 2 - 1
            sums += (f[:, :, None] * rv).sum(dim=1)
            rv_sum += rv.sum(dim=1)
            f_sum += f.sum(dim=1)
            done += k
        mean_f = f_sum / n_evals
        constant = (mean_f.abs() == 1)[:, None]
        grad = torch.where(
            constant,
            sums / n_evals,
            sums / n_evals - mean_f[:, None] * rv_sum / n_evals,
        )
        return grad / grad.norm(dim=1, keepdim=True).clamp_min(1e-12)

    def geometric(self, u, idx, step, eps, max_halvings=25):
        """Step ``eps * step``, halved until the point stays adversarial."""
        eps = eps.clone()
        out = u.clone()
        todo = torch.arange(len(u), device=u.device)
        for _ in range(max_halvings):
            cand = u[todo] + eps[todo, None] * step[todo]
            cand = torch.maximum(
                torch.minimum(cand, self.high[idx[todo]]), self.low[idx[todo]]
            )
            hit = self.adversarial(cand, idx[todo])
            out[todo[hit]] = cand[hit]
            todo = todo[~hit]
            if not len(todo):
                break
            eps[todo] /= 2
        return out


@torch.no_grad()
def hopskipjump(
    model,
    x0,
    labels,
    *,
    w,
    u_low,
    u_high,
    box,
    norm,
    targeted,
    max_iter,
    max_eval,
    init_eval,
    init_size,
    gamma,
    radius,
    early_stop,
    generator,
):
    """HopSkipJump on a batch: the smallest adversarial perturbation found.

    Parameters
    ----------
    model : callable
        Tensor of inputs -> scores; only the argmax (the label) is read.
    x0, labels : Tensor
        Clean inputs and the classes to attack (the targets when
        ``targeted``).
    w : Tensor of the shape of one sample
        The unit of measure per feature (0 for immutable ones).
    u_low, u_high : Tensor shaped like ``x0``
        The box in unit coordinates ``u = (x - x0) / w``.
    box : (Tensor, Tensor)
        The input box every query is clipped to.
    norm : Norm
        l2 or l-infinity.
    targeted : bool
    max_iter, max_eval, init_eval, init_size, gamma : int, int, int, int, float
        Boundary steps, the largest and the first number of queries of a
        gradient estimate, random draws for a starting point, and the binary
        search's tolerance factor.
    radius : float
        With ``early_stop``, a point stops once its size is within it.
    early_stop : bool
    generator : torch.Generator, optional

    Returns
    -------
    x_adv : Tensor
        The smallest adversarial example found (``x0`` where none).
    size : Tensor
        ``||(x_adv - x0) / w||`` (``inf`` where none was found, 0 where
        ``x0`` is adversarial already).
    """
    search = _Search(
        model, x0, w, u_low, u_high, box, labels, targeted, norm, generator
    )
    linf = norm.name == "linf"
    d = max(int((w.reshape(-1) > 0).sum()), 1)
    theta = gamma / (d * d if linf else d * math.sqrt(d))
    u, found = search.start(init_size)
    idx = torch.nonzero(found & ~search.clean_adv)[:, 0]
    if len(idx):
        u[idx] = search.blend(u[idx], idx)
        u[idx] = search.to_boundary(u[idx], idx, theta)
    dist = torch.where(found, norm.size(u), float("inf"))
    dist[search.clean_adv] = 0.0
    for j in range(1, max_iter + 1):
        live = found & ~search.clean_adv
        if early_stop and math.isfinite(radius):
            live &= dist > radius
        idx = torch.nonzero(live)[:, 0]
        if not len(idx):
            break
        ub, dj = u[idx], dist[idx]
        if j == 1:
            delta = 0.1 * dj
        else:
            delta = (d if linf else math.sqrt(d)) * theta * dj
        n_evals = int(min(init_eval * math.sqrt(j), max_eval))
        grad = search.gradient(ub, idx, delta, n_evals)
        step = grad.sign() if linf else grad
        cand = search.geometric(ub, idx, step, dj / math.sqrt(j))
        cand = search.to_boundary(cand, idx, theta)
        size = norm.size(cand)
        better = size < dj
        u[idx[better]], dist[idx[better]] = cand[better], size[better]
    x_adv = torch.where(found[:, None], search.x(u, None), x0.flatten(1))
    return x_adv.reshape(x0.shape), dist
