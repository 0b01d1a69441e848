"""Norm geometry for gradient attacks: random start, step direction, projection.

Attacks work in *unit-ball coordinates* ``u``: the perturbation is
``delta = scale * u`` with ``||u||_p <= 1``, where ``scale`` holds the budget
``eps`` (a scalar or one value per feature; zero for immutable features). A
norm only needs to know the unit ball, so adding one is a small class, and
per-feature budgets need no special case.
"""

import math
import warnings

from ..._torch import torch


def _flat(t):
    return t.reshape(len(t), -1)


def _per_sample(values, like):
    """Reshape per-sample ``values`` (n,) to broadcast against ``like``."""
    return values.reshape((len(values),) + (1,) * (like.dim() - 1))


class Norm:
    """The unit ball of an l_p norm, batched over the first dimension."""

    name = None

    def size(self, u):
        """Per-sample norm of ``u``, shape (n,)."""
        raise NotImplementedError

    def random(self, like, generator):
        """A point drawn uniformly from the unit ball, shaped like ``like``."""
        raise NotImplementedError

    def direction(self, grad):
        """The steepest-ascent direction of unit norm for gradient ``grad``."""
        raise NotImplementedError

    def project(self, u):
        """Euclidean projection of ``u`` onto the unit ball."""
        raise NotImplementedError


class Linf(Norm):
    """The l-infinity ball: a box."""

    name = "linf"

    def size(self, u):
        return _flat(u).abs().amax(dim=1)

    def random(self, like, generator):
        u = torch.empty(like.shape, device=like.device, dtype=like.dtype)
        return u.uniform_(-1.0, 1.0, generator=generator)

    def direction(self, grad):
        return grad.sign()

    def project(self, u):
        return u.clamp(-1.0, 1.0)


class L2(Norm):
    """The Euclidean ball."""

    name = "l2"

    def size(self, u):
        return _flat(u).norm(dim=1)

    def random(self, like, generator):
        g = torch.randn(
            like.shape, generator=generator, device=like.device, dtype=like.dtype
        )
        d = _flat(g).shape[1]
        r = torch.rand(
            len(g), generator=generator, device=g.device, dtype=g.dtype
        ).pow_(1.0 / d)
        return g * _per_sample(r / self.size(g).clamp_min(1e-12), g)

    def direction(self, grad):
        return grad / _per_sample(self.size(grad).clamp_min(1e-12), grad)

    def project(self, u):
        factor = (1.0 / self.size(u).clamp_min(1e-12)).clamp_max(1.0)
        return u * _per_sample(factor, u)


class L1(Norm):
    """The l1 ball, with a sparse steepest-ascent step and an exact projection.

    The step moves the ``ceil(sparsity * d)`` coordinates of largest
    ``|grad|`` (at least one) by equal amounts along ``sign(grad)`` (the
    steepest ascent direction of the l1 ball is a vertex; spreading it over
    the top 1 % of coordinates, as in Tramer & Boneh's SLIDE, makes
    iterative attacks progress). The projection is Duchi et al.'s exact
    sort-based algorithm.
    """

    name = "l1"

    def __init__(self, sparsity=0.01):
        self.sparsity = sparsity

    def size(self, u):
        return _flat(u).abs().sum(dim=1)

    def random(self, like, generator):
        # (e_1..e_d) / sum(e_1..e_{d+1}) with e ~ Exp(1) is uniform in the
        # positive part of the simplex's interior; random signs fill the ball.
        flat = _flat(like)
        e = torch.empty(
            flat.shape[0], flat.shape[1] + 1, device=like.device, dtype=like.dtype
        ).exponential_(generator=generator)
        u = e[:, :-1] / e.sum(dim=1, keepdim=True)
        signs = (
            torch.randint(0, 2, u.shape, generator=generator, device=like.device)
            .to(like.dtype)
            .mul_(2)
            .sub_(1)
        )
        return (u * signs).reshape(like.shape)

    def direction(self, grad):
        flat = _flat(grad)
        k = max(1, math.ceil(self.sparsity * flat.shape[1]))
        top = flat.abs().topk(k, dim=1).values[:, -1:]
        chosen = (flat.abs() >= top) & (flat != 0)
        count = chosen.sum(dim=1, keepdim=True).clamp_min(1)
        return (flat.sign() * chosen / count).reshape(grad.shape)

    def project(self, u):
        flat = _flat(u)
        inside = flat.abs().sum(dim=1) <= 1.0
        if bool(inside.all()):
            return u
        mu = flat.abs().sort(dim=1, descending=True).values
        cumsum = mu.cumsum(dim=1)
        ranks = torch.arange(1, flat.shape[1] + 1, device=u.device, dtype=u.dtype)
        positive = mu * ranks > cumsum - 1.0
        rho = positive.to(u.dtype).mul(ranks).argmax(dim=1, keepdim=True)
        theta = (cumsum.gather(1, rho) - 1.0) / (rho + 1).to(u.dtype)
        projected = flat.sign() * (flat.abs() - theta).clamp_min(0.0)
        out = torch.where(inside[:, None], flat, projected)
        return out.reshape(u.shape)

    def project_box(self, u, low, high, n_bisect=50):
        """Euclidean projection onto the l1 ball intersected with a box.

        ``low <= 0 <= high`` (per sample, shaped like ``u``; infinite sides
        allowed). The solution is ``clip(soft_threshold(u, theta), low,
        high)`` with ``theta >= 0`` making its l1 norm 1 (found by
        bisection); points of the clipped box inside the ball stay as they
        are. Unlike :meth:`project` followed by clipping, no budget is spent
        on coordinates the box cuts off (APGD-l1 needs this).
        """
        flat, lo, hi = _flat(u), _flat(low), _flat(high)
        clipped = torch.minimum(torch.maximum(flat, lo), hi)
        inside = clipped.abs().sum(dim=1) <= 1.0
        if bool(inside.all()):
            return clipped.reshape(u.shape)
        size = flat.abs()
        cap = torch.where(flat > 0, hi, -lo).clamp_min(0.0)
        below = torch.zeros(len(flat), device=u.device, dtype=u.dtype)
        above = size.amax(dim=1)
        for _ in range(n_bisect):
            theta = (below + above) / 2
            mass = torch.minimum((size - theta[:, None]).clamp_min(0.0), cap)
            over = mass.sum(dim=1) > 1.0
            below = torch.where(over, theta, below)
            above = torch.where(over, above, theta)
        shrunk = torch.minimum((size - above[:, None]).clamp_min(0.0), cap)
        out = torch.where(inside[:, None], clipped, flat.sign() * shrunk)
        return out.reshape(u.shape)


NORMS = {"linf": Linf, "l2": L2, "l1": L1}


def get_norm(name):
    """The :class:`Norm` for ``"linf"``, ``"l2"`` or ``"l1"``."""
    try:
        return NORMS[name]()
    except KeyError:
        raise ValueError(
            f"unknown norm {name!r}; use one of {sorted(NORMS)}."
        ) from None


def weighted_size(delta, w, norm):
    """``||delta / w||_p`` per sample, ``w`` the per-feature unit of measure.

    ``inf`` where a frozen feature (``w = 0``) moved.
    """
    flat = _flat(delta)
    w = w.reshape(1, -1)
    u = torch.where(w > 0, flat / torch.where(w > 0, w, 1.0), 0.0)
    size = get_norm(norm).size(u)
    moved = ((flat != 0) & (w <= 0)).any(dim=1)
    return torch.where(moved, torch.full_like(size, float("inf")), size)


def finite_gradient(grad):
    """``grad`` with every entry finite, for a step to follow.

    Models such as ``sqrt`` at 0 have infinite input gradients (and ``0 *
    inf`` makes NaN ones), which turn a normalised step into NaN or zero.
    An infinite entry takes the sign of its infinity times the largest finite
    magnitude of its sample (1 if none), so it leads the step without
    erasing the others; a NaN entry becomes 0. Warns (once per call site)
    when it changes anything.
    """
    if math.isfinite(float(grad.sum())):  # then every entry is (one pass)
        return grad
    finite = torch.isfinite(grad)
    if bool(finite.all()):
        return grad
    warnings.warn(
        "the model's input gradient is infinite or NaN at some inputs (sqrt "
        "at 0, say): the attack steps with infinite entries as the largest "
        "finite one and NaN entries as 0.",
        RuntimeWarning,
        stacklevel=2,
    )
    magnitude = torch.where(finite, grad.abs(), torch.zeros_like(grad))
    largest = _flat(magnitude).amax(dim=1)
    largest = _per_sample(torch.where(largest > 0, largest, 1.0), grad)
    clean = torch.where(finite, grad, torch.zeros_like(grad))
    return torch.where(torch.isinf(grad), grad.sign() * largest, clean)
