"""The repair operator: a relaxed iterate -> the nearest valid discrete example.

Gradient attacks move integer features by fractions and categorical columns
through fractional one-hot vectors. :class:`Repair` maps such a point to one
that satisfies every discrete constraint of the threat model: integer steps
(rounded to the nearest integer that stays in the box and the ball, else
toward the clean value), one valid category per categorical column (the
largest coordinate among the allowed categories, or the clean one), valid
one-hot groups, and at most ``max_changes`` changed discrete features.
Attacks apply it at every step (CAPGD-style, Simonetto et al. 2024) and to
what they return, so robust accuracy counts only valid examples.
"""

import numpy as np

from ._discrete import discrete_units
from ._torch import torch

_ORDER = {"linf": float("inf"), "l2": 2.0, "l1": 1.0}


class Repair:
    """Repair relaxed iterates of one batch (tensors on the batch's device).

    Parameters
    ----------
    constraints : Constraints
    x0 : Tensor
        The clean batch (working space).
    norm : {"linf", "l2", "l1"}

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skrobust._threat import Constraints
    >>> c = Constraints(np.full(2, 2.0), np.full(2, -np.inf), np.full(2, np.inf),
    ...                 integer=np.array([True, False]))
    >>> x0 = torch.zeros(1, 2, dtype=torch.float64)
    >>> Repair(c, x0, "linf")(torch.tensor([[1.6, 0.3]], dtype=torch.float64))
    tensor([[2.0000, 0.3000]], dtype=torch.float64)
    """

    def __init__(self, constraints, x0, norm):
        self.constraints = constraints
        self.shape = x0.shape
        self.n = n = len(x0)
        self.x0 = x0.reshape(n, -1)
        self.order = _ORDER[norm]
        scale, low, high = constraints.box(x0, x0.dtype)
        scale = scale.expand_as(x0).reshape(n, -1)
        low, high = low.reshape(n, -1), high.reshape(n, -1)
        if norm == "linf":  # the ball is a box: round inside both
            low = torch.maximum(low, self.x0 - scale)
            high = torch.minimum(high, self.x0 + scale)
        self.low, self.high = low, high
        dev = x0.device
        pinned = constraints.pinned  # entries of this batch that never move
        self.pinned = None
        if pinned is not None:
            self.pinned = torch.as_tensor(pinned, device=dev).reshape(n, -1)
        categorical = np.zeros(self.x0.shape[1], dtype=bool)
        self.groups = []
        for g in constraints.categorical:
            categorical[g.index] = True
            if not g.mutable:
                continue
            idx = torch.as_tensor(g.index, device=dev)
            clean = self.x0[:, idx]
            known = clean.sum(dim=1) > 0.5
            allowed = torch.as_tensor(g.allowed, device=dev) | (clean > 0.5)
            self.groups.append((idx, allowed, known))
        #: coordinates of the categorical columns that may switch
        self.category_coords = torch.zeros(self.x0.shape[1], dtype=torch.bool)
        self.category_coords = self.category_coords.to(dev)
        for idx, _, _ in self.groups:
            self.category_coords[idx] = True
        self.scale = scale[0] if len(scale) else scale.new_zeros(scale.shape[1])
        #: the coordinates the norm ball measures (categories switch freely)
        self.ball = torch.as_tensor(~categorical, device=dev) & (self.scale > 0)
        self.categorical = bool(categorical.any())
        ints = constraints.integer
        ints = np.zeros(self.x0.shape[1], bool) if ints is None else ints.ravel()
        self.ints = torch.as_tensor(ints, device=dev) & (self.scale > 0)
        self.one_hot = [torch.as_tensor(g, device=dev) for g in constraints.one_hot]
        self.max_changes = constraints.max_changes
        if self.max_changes is not None:
            units = discrete_units(constraints)
            member = torch.zeros(len(units), self.x0.shape[1], device=dev)
            for u, index in enumerate(units):
                # a category switch moves two coordinates by 1: count it once
                member[u, torch.as_tensor(index, device=dev)] = (
                    1.0 if len(index) == 1 else 0.5
                )
            self.member = member.to(x0.dtype)

    @property
    def active(self):
        """Whether the threat model has anything to repair."""
        return bool(
            self.groups
            or self.one_hot
            or bool(self.ints.any())
            or self.max_changes is not None
            or (self.pinned is not None and bool(self.pinned.any()))
        )

    def category_direction(self, grad):
        """``grad`` with each switchable category group divided by its largest
        ``|grad|`` (per sample): a step then favours the categories of largest
        gain, which sign steps would tie. Other coordinates are unchanged."""
        flat = grad.reshape(len(grad), -1).clone()
        for idx, _, _ in self.groups:
            part = flat[:, idx]
            top = part.abs().amax(dim=1, keepdim=True)
            flat[:, idx] = part / torch.where(top > 0, top, torch.ones_like(top))
        return flat.reshape(grad.shape)

    def project_categories(self, x, rows=None):
        """Each switchable group onto ``{p >= 0, sum(p) <= 1}`` over its allowed
        categories (the relaxation gradient attacks optimise; it holds every
        category's one-hot vector and the zero vector of an unknown one)."""
        flat = x.reshape(len(x), -1).clone()
        for idx, allowed, _ in self.groups:
            allowed = allowed if rows is None else allowed[rows]
            flat[:, idx] = _capped_simplex(flat[:, idx], allowed)
        return flat.reshape(x.shape)

    def rows(self, index):
        """This repair for a run on the samples ``index`` of the batch."""
        return _Rows(self, index)

    def ball_size(self, x, x0=None):
        """Per-sample norm of ``(x - x0) / scale`` over the non-categorical
        coordinates (``x`` flat)."""
        x0 = self.x0 if x0 is None else x0
        safe = torch.where(self.ball, self.scale, torch.ones_like(self.scale))
        u = torch.where(self.ball, (x - x0) / safe, torch.zeros_like(x))
        return torch.linalg.vector_norm(u, ord=self.order, dim=1)

    def __call__(self, x, rows=None, before=None, gain=None):
        """The repaired batch (a new tensor, shaped like ``x``, no gradient).

        ``rows`` (indices into the batch) when ``x`` holds only some of its
        samples, in that order. ``before`` (flat, like ``x``): a previous
        point whose discrete changes ``max_changes`` drops first (a random
        search's current best, so that its proposals can swap features).
        ``gain`` (like ``x``): a loss gradient; ``max_changes`` then keeps the
        features whose change it says gains most (first order), instead of
        those that moved most.
        """
        n = len(x)
        relaxed = x.detach().reshape(n, -1)
        x0 = self.x0 if rows is None else self.x0[rows]
        out = relaxed.clone()
        if bool(self.ints.any()):
            out = self._integers(out, x0, rows)
        for idx, allowed, known in self.groups:
            if rows is not None:
                allowed, known = allowed[rows], known[rows]
            out[:, idx] = self._category(relaxed[:, idx], allowed, known)
        if self.one_hot:
            out = self._one_hot(out, x0, rows)
        if self.pinned is not None:
            pinned = self.pinned if rows is None else self.pinned[rows]
            out = torch.where(pinned, x0, out)
        if self.max_changes is not None:
            if gain is not None:
                gain = gain.detach().reshape(n, -1)
            out = self._cap(out, relaxed, x0, before, gain)
        return out.reshape(x.shape)

    def mutate(self, x, before, generator, rows=None):
        """Random search on categories: each categorical column whose
        coordinates differ between ``x`` and ``before`` takes a category
        drawn uniformly among its allowed ones (flat tensors; ``rows`` as in
        :meth:`__call__`). Black-box attacks call it on their proposals."""
        x = x.clone()
        for idx, allowed, _ in self.groups:
            allowed = allowed if rows is None else allowed[rows]
            moved = (x[:, idx] != before[:, idx]).any(dim=1)
            if not bool(moved.any()):
                continue
            keys = torch.rand(
                allowed.shape, generator=generator, device=generator.device
            ).to(x.device)
            choice = keys.masked_fill(~allowed, -1.0).argmax(dim=1)
            one_hot = torch.nn.functional.one_hot(choice, len(idx)).to(x.dtype)
            x[:, idx] = torch.where(moved[:, None], one_hot, x[:, idx])
        return x

    def _integers(self, x, x0, rows):
        low = self.low if rows is None else self.low[rows]
        high = self.high if rows is None else self.high[rows]
        d = x - x0
        near = x0 + torch.round(d)
        toward = x0 + torch.trunc(d)  # inside whatever box x is in
        fits = (near >= low) & (near <= high)
        out = torch.where(self.ints, torch.where(fits, near, toward), x)
        if self.order != float("inf"):  # rounding up may leave the ball
            over = self.ball_size(out, x0) > 1 + 1e-9
            if bool(over.any()):
                out[over] = torch.where(self.ints, toward, x)[over]
        return out

    @staticmethod
    def _category(part, allowed, known):
        """One-hot of the best allowed category; zeros to keep an unknown one."""
        scores = part.masked_fill(~allowed, float("-inf"))
        best, choice = scores.max(dim=1)
        one_hot = torch.nn.functional.one_hot(choice, part.shape[1]).to(part.dtype)
        stay = ~known & (1 - part.sum(dim=1) >= best)  # the unknown category
        return torch.where(stay[:, None], torch.zeros_like(one_hot), one_hot)

    def _one_hot(self, x, x0, rows):
        """User one-hot groups: the largest coordinate; a sample whose switch
        leaves the budget or the bounds keeps its clean groups."""
        for idx in self.one_hot:
            choice = x[:, idx].argmax(dim=1)
            x[:, idx] = torch.nn.functional.one_hot(choice, len(idx)).to(x.dtype)
        low, high = self.constraints.bounds_for(x0.reshape(len(x0), *self.shape[1:]))
        inside = (x >= low.reshape(len(x), -1)) & (x <= high.reshape(len(x), -1))
        frozen = (x != x0) & (self.scale <= 0)
        ok = inside.all(dim=1) & ~frozen.any(dim=1)
        ok &= self.ball_size(x, x0) <= 1 + 1e-9
        if not bool(ok.all()):
            for idx in self.one_hot:
                x[~ok, idx[:, None]] = x0[~ok, idx[:, None]]
        return x

    def _cap(self, x, relaxed, x0, before=None, gain=None):
        """Keep the ``max_changes`` discrete features that moved most, or
        that gain most by ``gain`` (those that differ from ``before`` first)."""
        changed = ((x != x0).to(x.dtype) @ self.member.T) > 0
        member = self.member > 0
        too_many = changed.sum(dim=1) > self.max_changes
        if not bool(too_many.any()):
            return x
        if gain is None:
            weight = (relaxed - x0).abs() / torch.where(
                self.scale > 0, self.scale, torch.ones_like(self.scale)
            )
            importance = weight @ self.member.T
        else:  # first-order gain of each feature's change (counted once)
            importance = (gain * (x - x0)) @ (self.member > 0).to(x.dtype).T
        if before is not None:
            new = ((x != before).to(x.dtype) @ self.member.T) > 0
            importance = importance + new.to(x.dtype) * (1 + importance.amax())
        importance = importance.masked_fill(~changed, float("-inf"))
        keep = torch.zeros_like(changed)
        if self.max_changes:
            top = importance.topk(min(self.max_changes, keep.shape[1]), dim=1).indices
            keep.scatter_(1, top, True)
        revert = changed & ~keep & too_many[:, None]
        coords = (revert.to(x.dtype) @ member.to(x.dtype)) > 0
        return torch.where(coords, x0, x)


def _capped_simplex(v, allowed):
    """Rows of ``v`` projected onto ``{p >= 0, sum(p) <= 1, p = 0 where not
    allowed}`` (Euclidean; the sort-based simplex projection when the sum
    exceeds 1)."""
    v = torch.where(allowed, v, torch.zeros_like(v))
    inside = v.clamp_min(0)
    over = inside.sum(dim=1) > 1
    if not bool(over.any()):
        return inside
    w = torch.where(allowed, v, torch.full_like(v, -1e9))[over]
    top = w.sort(dim=1, descending=True).values
    cumulative = top.cumsum(dim=1) - 1
    k = torch.arange(1, w.shape[1] + 1, device=w.device, dtype=w.dtype)
    count = ((top - cumulative / k) > 0).sum(dim=1, keepdim=True).clamp_min(1)
    theta = cumulative.gather(1, count - 1) / count.to(w.dtype)
    projected = (w - theta).clamp_min(0)
    inside[over] = torch.where(allowed[over], projected, torch.zeros_like(projected))
    return inside


class _Rows:
    """A :class:`Repair` seen from a run on some samples of its batch."""

    def __init__(self, repair, index):
        self.repair, self.index = repair, index
        self.ball, self.categorical = repair.ball, repair.categorical
        self.category_coords = repair.category_coords
        self.category_direction = repair.category_direction

    def _rows(self, rows):
        return self.index if rows is None else self.index[rows]

    def __call__(self, x, rows=None, **kwargs):
        return self.repair(x, rows=self._rows(rows), **kwargs)

    def project_categories(self, x, rows=None):
        return self.repair.project_categories(x, rows=self._rows(rows))
