"""Shared pieces of the minimal-norm attacks (FAB, Carlini-Wagner,
HopSkipJump, the exact attacks): an optional budget, the unit of measure,
minimal norms.

A minimal-norm attack searches each point's smallest adversarial
perturbation. Its size is measured in the norm ``||delta / w||_p`` where the
per-feature unit ``w`` comes from the threat model: 1 (or each feature's
standard deviation with ``eps_units="std"``) for a scalar or absent ``eps``,
so sizes are in the same units as a scalar budget; the per-feature budget
itself for a per-feature ``eps``, so a size is a multiple of that budget
(robust within it when above 1). Immutable features have ``w = 0``.
"""

import copy

import numpy as np

from .._threat import check_eps
from .._torch import torch
from ._base import BaseAttack
from ._functional import get_norm, weighted_size

#: parameters of the attacks that repair nothing after their search
REPAIRS = ("integer_features", "one_hot_groups", "max_changes", "allowed_categories")


def minimal_norm_constraints(base, *without):
    """``base``'s parameter constraints with an optional ``eps``, less the
    parameters ``without`` names (e.g. a fixed ``norm``, or :data:`REPAIRS`)."""
    params = base._parameter_constraints
    return {
        **{k: v for k, v in params.items() if k not in without},
        "eps": [None, *params["eps"]],
    }


def in_units(constraints, weights, radius):
    """A copy of ``constraints`` measuring sizes as ``||delta / weights||``,
    with the budget ``radius`` in that unit (``inf``: none).

    Sets ``weights`` and ``radius``; ``scale`` (the budget per feature)
    becomes ``weights * radius``.
    """
    c = copy.copy(constraints)
    c.__dict__.pop("_tensors", None)  # cached tensors of the old scale
    c.weights = np.array(weights, dtype=float)
    c.radius = radius
    with np.errstate(invalid="ignore"):
        c.scale = np.where(c.weights > 0, c.weights * radius, 0.0)
    return c


def _scalar(eps):
    return eps is None or (not isinstance(eps, dict) and np.ndim(eps) == 0)


class MinimalNormMixin:
    """Optional ``eps``, the unit of measure and ``minimal_norms``.

    Subclasses implement ``_minimize(view, x0, labels, constraints, *,
    targeted, true_labels, generator) -> (x_adv, norms)``: the smallest
    adversarial example found for each point (``x0`` where none) and its
    size (``inf`` where none; 0 for points already adversarial). The batch's
    extras hold ``norms``: the sizes of the examples returned (measured in
    float64), or the exact infima for exact attacks (``_exact``), whose
    examples are nudged just past them.
    """

    _exact = False
    _budgeted = False

    def _check_budget(self):
        if self.eps is not None:
            check_eps(self.eps)

    def _constraints(self, sample_shape, columns, *, unbounded=False, layout=None):
        """The threat model in the attack's unit of measure; ``unbounded``
        lifts the budget (``minimal_norms``)."""
        unit = _scalar(self.eps)
        eps = 1.0 if unit else self.eps
        c = super()._constraints(sample_shape, columns, eps, layout=layout)
        radius = 1.0
        if unit:
            radius = np.inf if self.eps is None else float(self.eps)
        return in_units(c, c.scale, np.inf if unbounded else radius)

    @staticmethod
    def _weights(constraints, x0):
        """The unit of measure, a tensor of the shape of one sample."""
        return torch.as_tensor(constraints.weights, dtype=x0.dtype, device=x0.device)

    def _unit_box(self, constraints, x0):
        """The search space of a batch, as the loops take it: the unit ``w``
        (one sample's shape), the per-sample box of ``u = (x - x0) / w``
        (``u_low``, ``u_high``; 0 for frozen features) and the input
        ``box``."""
        w = self._weights(constraints, x0)
        low, high = box = constraints.input_box(x0)
        safe = torch.where(w > 0, w, 1.0)
        u_low = torch.where(w > 0, (low - x0) / safe, 0.0)
        u_high = torch.where(w > 0, (high - x0) / safe, 0.0)
        return dict(w=w, u_low=u_low, u_high=u_high, box=box)

    def _attack_batch(self, view, x0, labels, constraints, **kwargs):
        x_adv, norms = self._minimize(view, x0, labels, constraints, **kwargs)
        x_adv = self._project(x_adv.detach(), x0, constraints)
        return x_adv, {"norms": norms.detach().to(torch.float64)}

    def _returned_norms(self, x_adv, x0, constraints, norms):
        """The sizes of the examples as returned (repaired, clipped and cast
        to the caller's dtype: a float16 rounding moves them); exact attacks
        keep their infima, ``inf`` stays where nothing was found."""
        if self._exact:
            return norms
        w = torch.as_tensor(constraints.weights, device=x0.device)
        size = weighted_size(x_adv.double() - x0.double(), w, self.norm)
        return torch.where(torch.isfinite(norms), size, norms)

    def _project(self, x_adv, x0, constraints):
        """Onto the budget's ball (``eps``; no-op without one) and the box."""
        radius = constraints.radius
        if np.isfinite(radius):
            w = self._weights(constraints, x0) * radius
            safe = torch.where(w > 0, w, 1.0)
            u = torch.where(w > 0, (x_adv - x0) / safe, 0.0)
            norm = get_norm(self.norm)
            outside = norm.size(u) > 1
            if bool(outside.any()):
                inside = torch.addcmul(x0, w, norm.project(u))
                outside = outside.reshape(-1, *[1] * (x0.dim() - 1))
                x_adv = torch.where(outside, inside, x_adv)
        return x_adv.clamp(*constraints.input_box(x0))

    def minimal_norms(self, X, y=None):
        """Size of the smallest adversarial perturbation found for each point.

        Measured as ``||delta / w||_p`` in the attack's norm, where ``w`` is
        the unit of measure: with a scalar (or no) ``eps``, 1 per feature (a
        standard deviation with ``eps_units="std"``), so a point is robust
        within a budget ``eps`` when its size exceeds it; with a per-feature
        ``eps``, that budget, so a size is a multiple of it. The budget
        itself does not cap the search: the sizes are those of the examples
        :meth:`generate` returns without ``eps`` (exact attacks: the exact
        infimum, which their examples pass by a nudge). Integer and one-hot
        repairs are not applied. :func:`skrobust.metrics.robustness_curve`
        reads it to draw a whole curve from one run.

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
        _, extras = self._run(X, y, unbounded=True)
        if "norms" in extras:
            return extras["norms"].astype(np.float64)
        # nothing may move: only misclassified points are adversarial
        return np.where(self._clean_correct(X, y), np.inf, 0.0)


class NoRepairsMixin:
    """For the attacks that repair nothing after their search: the
    :data:`REPAIRS` parameters are not theirs and read as ``None`` (drop
    them from the constraints with ``minimal_norm_constraints``)."""

    integer_features = None
    one_hot_groups = None
    max_changes = None
    allowed_categories = None


class ExactAttack(NoRepairsMixin, MinimalNormMixin, BaseAttack):
    """Base of the exact minimal-norm attacks (one model family each).

    Their sizes are exact infima; they repair nothing after the search.
    """

    _exact = True

    _parameter_constraints = minimal_norm_constraints(BaseAttack, *REPAIRS)

    def __init__(
        self,
        estimator=None,
        *,
        eps=None,
        norm="l2",
        bounds=None,
        feature_mask=None,
        direction=None,
        eps_units="raw",
        batch_size="auto",
        random_state=None,
        verbose=0,
    ):
        self._set_params(locals())
