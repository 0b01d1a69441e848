"""Exact minimal adversarial perturbations of linear models."""

from .._torch import torch
from ..utils import ATTACK_DOCS, Substitution
from ._functional import linear_minimal
from ._minimal import ExactAttack


@Substitution(**ATTACK_DOCS)
class LinearExactAttack(ExactAttack):
    """Exact minimal adversarial perturbations of a linear classifier.

    For logits ``g(x) = W x + b`` (any linear model, or a pipeline of affine
    steps such as ``StandardScaler`` or ``PCA`` ending in one, in raw input
    units), the smallest perturbation that makes class ``k`` beat the class
    ``y`` is ``(g_y - g_k)(x) / ||w_y - w_k||_q`` (``q`` the dual norm of
    ``norm``), along ``w_k - w_y`` (l2), ``sign(w_k - w_y)`` (l-infinity) or
    its largest coordinate (l1); the minimal adversarial perturbation takes
    the best ``k``. Per-feature budgets rescale the features, immutable
    features drop out. With ``bounds`` or direction constraints the attack
    solves the bounded problem exactly (each class's half-space met inside
    the box: a sorted piecewise-linear search, or a fractional knapsack for
    l1); a point whose half-spaces all miss the box has size ``inf``.

    :meth:`minimal_norms` gives the exact sizes, so
    :func:`skrobust.metrics.robustness_curve` draws the exact robust
    accuracy at every budget from one call. :meth:`generate` returns the
    minimal adversarial examples, nudged just across the boundary (by a
    relative 1e-9, more only where rounding requires), projected into the
    ``eps``-ball when ``eps`` is set.

    Parameters
    ----------
    estimator : estimator, default=None
        A fitted classifier whose differentiable view is affine (checked);
        an unfitted one is cloned and fitted by :meth:`fit`.
    {exact_parameters}

    {attributes}

    See Also
    --------
    DecisionTreeExactAttack : the exact attack on a decision tree.

    Notes
    -----
    Targeted attacks (``generate(..., target=)``) need the target to beat
    every other class, an intersection of half-spaces; they are supported
    for binary models only.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_wine
    >>> from sklearn.linear_model import RidgeClassifier
    >>> from skrobust.attacks import LinearExactAttack
    >>> X, y = load_wine(return_X_y=True)
    >>> clf = RidgeClassifier().fit(X, y)
    >>> attack = LinearExactAttack(clf, norm="linf")
    >>> norms = attack.minimal_norms(X, y)  # raw units
    >>> X_adv = attack.generate(X, y)  # just across the nearest boundary
    >>> bool((clf.predict(X_adv) != y).all())
    True
    >>> round(float(np.mean(norms > 0.1)), 2)  # exact robust accuracy at eps 0.1
    0.94
    """

    def _values_per_sample(self, view, n_features):
        return n_features * view.n_classes  # one half-space per class

    @torch.no_grad()
    def _minimize(
        self, view, x0, labels, constraints, *, targeted, true_labels, generator
    ):
        return linear_minimal(
            view,
            x0,
            labels,
            **self._unit_box(constraints, x0),
            norm=self.norm,
            targeted=targeted,
        )
