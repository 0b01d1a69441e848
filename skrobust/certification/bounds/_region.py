"""The perturbation set around a batch of inputs: a norm ball cut by a box.

The box is the threat model's (:meth:`skrobust._threat.Constraints.box`):
the bounds, tightened per sample by direction constraints and pinned where a
feature may not move; the ball's per-feature budget is its ``scale``.
"""

from ..._torch import torch

# the order of each ball's dual norm (l-inf balls are boxes)
DUAL_ORDER = {"l2": 2, "l1": float("inf")}


class Region:
    """``{x : ||(x - x0) / eps||_p <= 1, low <= x <= high}`` for each sample.

    ``eps = eps_sample[:, None, ...] * eps_feature``: a per-sample factor
    (bisection on the radius) times a per-feature budget; a feature with a
    zero budget is fixed.

    Parameters
    ----------
    x0 : torch.Tensor of shape (n, ...)
    eps_feature : torch.Tensor of one sample's shape
    norm : {"linf", "l2", "l1"}
    eps_sample : torch.Tensor of shape (n,), default=None
        Ones when ``None``.
    low, high : torch.Tensor of shape (n, ...) or of one sample's shape
        Each sample's box, or one box for all (``None``: unbounded); it must
        hold ``x0``.
    """

    def __init__(self, x0, eps_feature, norm, eps_sample=None, low=None, high=None):
        self.x0 = x0
        self.eps_feature = eps_feature
        self.norm = norm
        if eps_sample is None:
            eps_sample = x0.new_ones(len(x0))
        self.eps_sample = eps_sample
        self.low, self.high = low, high

    def __len__(self):
        return len(self.x0)

    def __getitem__(self, index):
        """The region of a slice of the samples."""

        def rows(bound):  # a per-sample box is sliced, a shared one kept
            per_sample = bound is not None and bound.dim() == self.x0.dim()
            return bound[index] if per_sample else bound

        return Region(
            self.x0[index],
            self.eps_feature,
            self.norm,
            self.eps_sample[index],
            rows(self.low),
            rows(self.high),
        )

    @property
    def eps(self):
        """Per-sample, per-feature budget, shaped like ``x0``."""
        shape = (-1,) + (1,) * (self.x0.dim() - 1)
        return self.eps_sample.reshape(shape) * self.eps_feature

    def box(self):
        """The smallest box holding the region (the l-inf box of the budget, cut)."""
        if getattr(self, "_box", None) is None:
            self._box = self._make_box()
        return self._box

    def _make_box(self):
        eps = self.eps
        lower, upper = self.x0 - eps, self.x0 + eps
        if self.low is not None:
            lower, upper = (
                torch.maximum(lower, self.low),
                torch.minimum(upper, self.high),
            )
        return lower, upper

    def concretize(self, A, *, upper):
        """Extreme of ``A . x`` over the region: ``(n, n_spec)``.

        ``A`` has shape ``(n, n_spec, *sample_shape)``. The minimum (the
        maximum with ``upper=True``) over the box; for l2 / l1 balls also over
        the ball (dual norm), keeping the tighter of the two, since the
        region lies in both.
        """
        value = box_extreme(A, *self.box(), maximize=upper)
        if self.norm == "linf":
            return value
        centre = torch.bmm(A.flatten(2), self.x0.flatten(1).unsqueeze(-1))
        centre = centre.squeeze(-1)
        scaled = (A * self.eps.unsqueeze(1)).flatten(2)
        if self.norm not in DUAL_ORDER:  # a new norm adds its dual here first
            raise ValueError(f"No dual norm for norm={self.norm!r} in Region.")
        order = DUAL_ORDER[self.norm]
        dual = torch.linalg.vector_norm(scaled, ord=order, dim=2)
        if upper:
            return torch.minimum(value, centre + dual)
        return torch.maximum(value, centre - dual)


def box_extreme(A, lower, upper, *, maximize=False):
    """Min (max) of ``A . x`` over ``lower <= x <= upper``, per sample and row.

    ``A`` has shape ``(n, n_spec, *shape)``, the bounds ``(n, *shape)``.
    """
    flat = A.flatten(2)
    mid = ((upper + lower) / 2).flatten(1).unsqueeze(-1)
    rad = ((upper - lower) / 2).flatten(1).unsqueeze(-1)
    centre = torch.bmm(flat, mid).squeeze(-1)
    spread = torch.bmm(flat.abs(), rad).squeeze(-1)
    return centre + spread if maximize else centre - spread
