"""HopSkipJump (Chen, Jordan & Wainwright 2020): decision-based, labels only."""

import math
import numbers

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from .._torch import torch
from ._blackbox import BlackBoxAttack
from ._functional._norms import get_norm
from ._functional._projected_gradient import success
from ._minimal import MinimalNormMixin

_EVAL_CHUNK = 1 << 16  # queries (x features / 64) evaluated at once


class HopSkipJump(MinimalNormMixin, BlackBoxAttack):
    """HopSkipJump: a label-only attack walking along the decision boundary.

    Needs only ``predict`` (Chen, Jordan & Wainwright 2020). From a
    misclassified starting point (the nearest other sample of the batch that
    the model labels differently, else uniform noise in the bounds or a
    growing box), it repeats: a binary search back to the decision boundary
    between the clean point and the adversarial one; an estimate of the
    boundary's normal from the labels of random points around the boundary
    point; a geometric step along it (halved until still adversarial). Each
    point's smallest adversarial perturbation is kept.

    The search runs in the threat model: immutable features never move, the
    bounds and direction constraints always hold, and sizes are measured in
    the scaled norm ``||delta / w||_p`` (see :meth:`minimal_norms`). With
    ``eps`` set, the output is projected into the ``eps``-ball (a point whose
    smallest adversarial perturbation is larger is then not adversarial).

    Parameters
    ----------
    estimator : estimator, default=None
        Any fitted classifier; only its ``predict`` is used (a model
        differentiable end to end is queried through its torch view, whose
        argmax is ``predict``). An unfitted one is cloned and fitted by
        :meth:`fit`.
    eps : float, array-like, dict or None, default=None
        Budget the output is projected into; ``None``: none (the smallest
        adversarial examples found). A per-feature ``eps`` also sets the
        unit of measure (see :meth:`minimal_norms`).
    norm : {"l2", "linf"}, default="l2"
    max_iter : int, default=40
        Boundary steps (gradient estimate, step, binary search) per point.
    max_eval : int, default=10000
        Largest number of queries per gradient estimate.
    init_eval : int, default=100
        Queries of the first gradient estimate (then ``init_eval * sqrt(j)``).
    init_size : int, default=100
        Random draws tried to find a misclassified starting point.
    gamma : float, default=1.0
        Sets the binary search's tolerance ``gamma / d^{3/2}`` (l2) or
        ``gamma / d^2`` (linf), ``d`` the number of mutable features.
    early_stop : bool, default=False
        With ``eps`` set, stop on a point once an adversarial example inside
        the budget is found (robust accuracy needs no more).
    bounds, feature_mask, direction, integer_features, one_hot_groups, \
eps_units
        The tabular threat model, as for :class:`PGD`.
    batch_size : int, default=128
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0

    Attributes
    ----------
    estimator_, n_features_in_, data_min_, data_max_, data_std_
        As for :class:`PGD`.

    See Also
    --------
    SquareAttack : the score-based attack (fewer queries when scores exist).

    References
    ----------
    J. Chen, M. I. Jordan, M. J. Wainwright. HopSkipJumpAttack: a
    query-efficient decision-based attack. IEEE S&P 2020.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skrobust.attacks import HopSkipJump
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> tree = DecisionTreeClassifier(max_depth=4, random_state=0).fit(X, y)
    >>> attack = HopSkipJump(tree, max_iter=5, random_state=0)
    >>> X_adv = attack.generate(X[:20], y[:20])
    >>> float(tree.score(X_adv, y[:20]))
    0.0
    >>> norms = attack.minimal_norms(X[:3], y[:3])  # l2, in raw units
    >>> bool((norms > 0).all() and (norms < 100).all())
    True
    """

    _response = "predict"
    _parameter_constraints = {
        **BlackBoxAttack._parameter_constraints,
        "eps": [None, *BlackBoxAttack._parameter_constraints["eps"]],
        "norm": [StrOptions({"l2", "linf"})],
        "max_iter": [Interval(numbers.Integral, 0, None, closed="left")],
        "max_eval": [Interval(numbers.Integral, 1, None, closed="left")],
        "init_eval": [Interval(numbers.Integral, 1, None, closed="left")],
        "init_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "gamma": [Interval(numbers.Real, 0, None, closed="neither")],
        "early_stop": ["boolean"],
    }

    def __init__(
        self,
        estimator=None,
        *,
        eps=None,
        norm="l2",
        max_iter=40,
        max_eval=10000,
        init_eval=100,
        init_size=100,
        gamma=1.0,
        early_stop=False,
        bounds=None,
        feature_mask=None,
        direction=None,
        integer_features=None,
        one_hot_groups=None,
        eps_units="raw",
        batch_size=128,
        random_state=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.eps = eps
        self.norm = norm
        self.max_iter = max_iter
        self.max_eval = max_eval
        self.init_eval = init_eval
        self.init_size = init_size
        self.gamma = gamma
        self.early_stop = early_stop
        self.bounds = bounds
        self.feature_mask = feature_mask
        self.direction = direction
        self.integer_features = integer_features
        self.one_hot_groups = one_hot_groups
        self.eps_units = eps_units
        self.batch_size = batch_size
        self.random_state = random_state
        self.verbose = verbose

    @torch.no_grad()
    def _minimize(self, view, x0, labels, constraints, *, targeted, generator):
        w, low, high = self._unit_box(constraints, x0)
        box = constraints.input_box(x0)
        search = _Search(view, x0, w, low, high, box, labels, targeted, generator)
        search.norm = get_norm(self.norm)
        d = max(int((w[0] > 0).sum()), 1)
        theta = self.gamma / (d * math.sqrt(d) if self.norm == "l2" else d * d)
        u, found = search.start(self.init_size)
        idx = torch.nonzero(found & ~search.clean_adv)[:, 0]
        if len(idx):
            u[idx] = search.blend(u[idx], idx)
            u[idx] = search.to_boundary(u[idx], idx, theta, self.norm)
        dist = torch.where(found, search.norm.size(u), float("inf"))
        dist[search.clean_adv] = 0.0
        radius = constraints.radius
        for j in range(1, self.max_iter + 1):
            live = found & ~search.clean_adv
            if self.early_stop and np.isfinite(radius):
                live &= dist > radius
            idx = torch.nonzero(live)[:, 0]
            if not len(idx):
                break
            ub, dj = u[idx], dist[idx]
            if j == 1:
                delta = 0.1 * dj
            else:
                delta = (math.sqrt(d) if self.norm == "l2" else d) * theta * dj
            n_evals = int(min(self.init_eval * math.sqrt(j), self.max_eval))
            grad = search.gradient(ub, idx, delta, n_evals, self.norm)
            step = grad.sign() if self.norm == "linf" else grad
            cand = search.geometric(ub, idx, step, dj / math.sqrt(j))
            cand = search.to_boundary(cand, idx, theta, self.norm)
            size = search.norm.size(cand)
            better = size < dj
            u[idx[better]], dist[idx[better]] = cand[better], size[better]
        x_adv = torch.where(found[:, None], search.x(u, None), x0.flatten(1))
        return x_adv.reshape(x0.shape), dist


class _Search:
    """The batch's state: queries in unit coordinates ``u = (x - x0) / w``."""

    def __init__(self, view, x0, w, low, high, box, labels, targeted, generator):
        self.view, self.shape = view, x0.shape
        self.x0, self.w = x0.flatten(1), w.flatten(1)[:1]
        self.low, self.high = low.flatten(1), high.flatten(1)
        self.low_x, self.high_x = (b.flatten(1) for b in box)
        self.labels, self.targeted, self.g = labels, targeted, generator
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
        self.clean_adv = success_labels(pred, self.labels, self.targeted)
        u = torch.zeros_like(self.x0)
        found = self.clean_adv.clone()
        # the nearest differently-labelled sample of the batch, in the box
        safe = torch.where(self.w > 0, self.w, 1.0)
        ok = success_labels(pred[None, :], self.labels[:, None], self.targeted)
        if bool(ok.any()):
            diff = (self.x0[None] - self.x0[:, None]) / safe
            diff = diff * self.mobile[:, None]
            cand = torch.maximum(
                torch.minimum(diff, self.high[:, None]), self.low[:, None]
            )
            dist = self.norm.size(cand.flatten(0, 1)).reshape(n, n)
            dist = dist.masked_fill(~ok, float("inf"))
            for _ in range(3):
                j = dist.argmin(dim=1)
                todo = every[~found & torch.isfinite(dist[every, j])]
                if not len(todo):
                    break
                trial = cand[todo, j[todo]]
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

    def to_boundary(self, u, idx, theta, norm):
        """Binary search between x0 and ``u`` (adversarial) to the boundary."""
        if norm == "linf":
            hi = self.norm.size(u)
            tol = torch.clamp(hi * theta, max=theta).clamp_min(1e-12)
        else:
            hi = torch.ones(len(u), dtype=u.dtype, device=u.device)
            tol = torch.full_like(hi, theta)
        lo = torch.zeros_like(hi)

        def at(a, rows):
            if norm == "linf":
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

    def gradient(self, u, idx, delta, n_evals, norm):
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
            if norm == "l2":
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


def success_labels(pred, labels, targeted):
    """``success`` on predicted class indices rather than scores."""
    return pred == labels if targeted else pred != labels
