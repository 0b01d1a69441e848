"""Shared pieces of the minimal-norm attacks (Carlini-Wagner, HopSkipJump,
the exact attacks): an optional budget, the unit of measure, minimal norms.

A minimal-norm attack searches each point's smallest adversarial
perturbation. Its size is measured in the norm ``||delta / w||_p`` where the
per-feature unit ``w`` comes from the threat model: 1 (or each feature's
standard deviation with ``eps_units="std"``) for a scalar or absent ``eps``,
so sizes are in the same units as a scalar budget; the per-feature budget
itself for a per-feature ``eps``, so a size is a multiple of that budget
(robust within it when above 1). Immutable features have ``w = 0``.
"""

import numpy as np

from .._threat import check_eps
from .._torch import torch
from ._base import BaseAttack
from ._functional._norms import get_norm


def minimal_norm_constraints(*without):
    """The base attack's parameter constraints with an optional ``eps``.

    Minimal-norm attacks repair nothing after their search, so they drop
    ``integer_features`` and ``one_hot_groups`` (and whatever ``without``
    names, e.g. a fixed ``norm``).
    """
    drop = {"integer_features", "one_hot_groups", *without}
    base = BaseAttack._parameter_constraints
    return {
        **{k: v for k, v in base.items() if k not in drop},
        "eps": [None, *base["eps"]],
    }


def _scalar(eps):
    return eps is None or (not isinstance(eps, dict) and np.ndim(eps) == 0)


def weighted_size(delta, weights, norm):
    """``||delta / w||_p`` per sample (``inf`` where a frozen feature moved)."""
    flat = delta.reshape(len(delta), -1)
    w = weights.reshape(1, -1).expand_as(flat)
    u = torch.where(w > 0, flat / torch.where(w > 0, w, 1.0), 0.0)
    size = get_norm(norm).size(u)
    moved = ((flat != 0) & (w <= 0)).any(dim=1)
    return torch.where(moved, torch.full_like(size, float("inf")), size)


class MinimalNormMixin:
    """Optional ``eps``, the unit of measure and ``minimal_norms``.

    Subclasses implement ``_minimize(view, x0, labels, constraints, *,
    targeted, generator) -> (x_adv, norms)``: the smallest adversarial
    example found for each point (``x0`` where none) and its size (``inf``
    where none; 0 for points already adversarial).
    """

    _sink = None  # a list while minimal_norms collects the batches' norms

    def _check_budget(self):
        if self.eps is not None:
            check_eps(self.eps)

    def _constraints(self, sample_shape, columns, eps=None):
        if eps is not None:
            return super()._constraints(sample_shape, columns, eps)
        unit = _scalar(self.eps)
        c = super()._constraints(sample_shape, columns, 1.0 if unit else self.eps)
        radius = 1.0
        if unit:
            radius = np.inf if self.eps is None else float(self.eps)
        if self._sink is not None:
            radius = np.inf
        c.weights = c.scale.copy()
        c.radius = radius
        with np.errstate(invalid="ignore"):
            c.scale = np.where(c.weights > 0, c.weights * radius, 0.0)
        return c

    def _weights(self, constraints, x0):
        return torch.as_tensor(
            np.array(constraints.weights), dtype=x0.dtype, device=x0.device
        ).expand_as(x0)

    def _unit_box(self, constraints, x0):
        """Per-sample box of ``u = (x - x0) / w`` (0 for frozen features)."""
        w = self._weights(constraints, x0)
        low, high = constraints.input_box(x0)
        safe = torch.where(w > 0, w, 1.0)
        u_low = torch.where(w > 0, (low - x0) / safe, 0.0)
        u_high = torch.where(w > 0, (high - x0) / safe, 0.0)
        return w, u_low, u_high

    def _attack_batch(
        self, view, x0, labels, constraints, *, targeted, true_labels, generator
    ):
        x_adv, norms = self._minimize(
            view, x0, labels, constraints, targeted=targeted, generator=generator
        )
        if self._sink is not None:
            self._sink.append(norms.detach().cpu().numpy())
        return self._project(x_adv.detach(), x0, constraints)

    def _project(self, x_adv, x0, constraints):
        """Onto the budget's ball (``eps``; no-op without one) and the box."""
        radius = constraints.radius
        if np.isfinite(radius):
            w = self._weights(constraints, x0) * radius
            safe = torch.where(w > 0, w, 1.0)
            u = torch.where(w > 0, (x_adv - x0) / safe, 0.0)
            u = get_norm(self.norm).project(u)
            x_adv = torch.addcmul(x0, w, u)
        return x_adv.clamp(*constraints.input_box(x0))

    def minimal_norms(self, X, y=None):
        """Size of the smallest adversarial perturbation found for each point.

        Measured as ``||delta / w||_p`` in the attack's norm, where ``w`` is
        the unit of measure: with a scalar (or no) ``eps``, 1 per feature (a
        standard deviation with ``eps_units="std"``), so a point is robust
        within a budget ``eps`` when its size exceeds it; with a per-feature
        ``eps``, that budget, so a size is a multiple of it. The budget
        itself does not cap the search. Integer and one-hot repairs are not
        applied. :func:`skrobust.metrics.robustness_curve` reads it to draw a
        whole curve from one run.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, ...)
        y : array-like of shape (n_samples,), default=None
            True labels; ``None`` uses the model's predictions.

        Returns
        -------
        norms : ndarray of shape (n_samples,)
            0 for points already misclassified, ``inf`` where no adversarial
            example was found (or none exists).
        """
        self._sink = []
        try:
            self.generate(X, y)
            sink = self._sink
        finally:
            del self._sink
        if sink:
            return np.concatenate(sink).astype(np.float64)
        # nothing may move: only misclassified points are adversarial
        view = self._view()
        Xw = self._working_space(X, view.preprocess)
        pred = np.asarray(view.logits(Xw, in_space=True)).argmax(axis=1)
        if y is None:
            return np.full(len(pred), np.inf)
        true = self._encode(view, y, len(pred), "y").numpy()
        return np.where(pred != true, 0.0, np.inf)
