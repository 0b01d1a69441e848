"""Exact minimal adversarial perturbations of decision trees and tree ensembles."""

import numbers

import numpy as np
from sklearn.utils._param_validation import Interval

from .._models import TreeEnsembleMILP
from .._torch import torch
from ..utils import ATTACK_DOCS, Substitution
from ._minimal import ExactAttack
from ._tree_view import TreeView


def _nearest_leaf(ensemble, region, label, target):
    """One tree: the nearest box of a leaf of the wrong (target) class."""
    boxes = ensemble.leaves(0)
    pred = ensemble.decide(ensemble.base_score + boxes.value)
    ok = pred == target if target is not None else pred != label
    distance = np.where(
        ok, region.distance(boxes.low, boxes.high, boxes.categories), np.inf
    )
    j = int(np.argmin(distance))
    if not np.isfinite(distance[j]):
        return None, np.inf
    cats = {f: m[j] for f, m in boxes.categories.items()}
    return region.nearest(boxes.low[j], boxes.high[j], cats), float(distance[j])


@Substitution(**ATTACK_DOCS)
class DecisionTreeExactAttack(ExactAttack):
    """Exact minimal adversarial perturbations of trees and tree ensembles.

    Trees cut the input space into boxes. For one decision tree the
    smallest adversarial perturbation of a point is its distance to the
    nearest box of a leaf predicting another class (for a targeted attack:
    the target), in any norm. For an ensemble (random forests, extra trees,
    gradient boosting, histogram gradient boosting, skrobust's robust
    forests) it is a mixed-integer program (Kantchelian et al. 2016, solved
    by HiGHS; see :class:`skrobust.certification.mip.TreeEnsembleMILP`),
    exact up to a per-point ``time_limit``. The threat model's box
    (``bounds``, directions, immutable features) is part of the problem.

    Trees after per-feature steps (scalers, ``QuantileTransformer``,
    ``PowerTransformer``, ``SimpleImputer``, a ``ColumnTransformer`` of these
    and of encoders) are attacked in raw units: every threshold is mapped
    back to the largest raw value the model sends left (its float32
    comparisons included). After any other step (``PCA``, say) the attack
    acts on that step's output (``generate`` then returns transformed
    features). Categorical columns keep their category here (switch them
    with :func:`skrobust.certification.mip.verify` and ``feature_mask``).

    :meth:`minimal_norms` gives the exact distances (the infimum: a leaf's
    lower side is open); :meth:`generate` returns the nearest adversarial
    points, one float64 step inside the leaf, projected into the
    ``eps``-ball when ``eps`` is set. With ``eps`` set, ensembles are only
    searched within it (points farther are left as they are).

    Parameters
    ----------
    estimator : estimator, default=None
        A fitted tree model (``DecisionTreeClassifier``, ``ExtraTreeClassifier``,
        ``RandomForestClassifier``, ``ExtraTreesClassifier``,
        ``GradientBoostingClassifier``, ``HistGradientBoostingClassifier``,
        :class:`skrobust.defenses.RobustRandomForestClassifier`, ...) or a
        pipeline ending in one; an unfitted one is cloned and fitted by
        :meth:`fit`.
    {exact_parameters}
    time_limit : float, default=None
        Seconds per point for an ensemble's program (``None``: no limit).
        When it runs out, the best adversarial example found is returned
        and its size is an upper bound of the minimal one.

    {attributes}

    See Also
    --------
    LinearExactAttack : the exact attack on linear models.
    LeafTupleAttack : a fast strong attack for large ensembles.
    skrobust.certification.mip.verify : verified / falsified / unknown.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.ensemble import GradientBoostingClassifier
    >>> from skrobust.attacks import DecisionTreeExactAttack
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> gb = GradientBoostingClassifier(n_estimators=10, random_state=0).fit(X, y)
    >>> attack = DecisionTreeExactAttack(gb, norm="linf", eps_units="std").fit(X)
    >>> norms = attack.minimal_norms(X[:5], y[:5])  # in standard deviations
    >>> X_adv = attack.generate(X[:5], y[:5])
    >>> bool((gb.predict(X_adv) != y[:5]).all())
    True
    """

    _parameter_constraints = {
        **ExactAttack._parameter_constraints,
        "time_limit": [None, Interval(numbers.Real, 0, None, closed="neither")],
    }

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
        time_limit=None,
    ):
        self._set_params(locals())

    def _view(self):
        return TreeView(self._fitted_estimator(), type(self).__name__)

    def _preprocess_of(self, estimator):
        if estimator is None:
            return None
        return TreeView(estimator, type(self).__name__).preprocess

    @torch.no_grad()
    def _minimize(
        self, view, x0, labels, constraints, *, targeted, true_labels, generator
    ):
        e = view.ensemble
        Z0, regions = view.regions(x0, constraints, self.norm)
        radius = float(constraints.radius)
        out, norms = Z0.copy(), np.full(len(Z0), np.inf)
        milp = TreeEnsembleMILP(e) if e.n_trees > 1 else None
        for i, region in enumerate(regions):
            label = int(labels[i])
            target = label if targeted else None
            pred = e.predict(Z0[i][None])[0]
            if (pred == label) if targeted else (pred != label):
                norms[i] = 0.0  # already adversarial
                continue
            if milp is None:
                x, size = _nearest_leaf(e, region, None if targeted else label, target)
            else:
                result = milp.minimal_distance(
                    region,
                    int(true_labels[i]) if targeted else label,
                    target=target,
                    time_limit=self.time_limit,
                    max_distance=radius,
                )
                x, size = result.x, result.upper
            if x is not None and size <= radius:
                out[i], norms[i] = x, size
        return view.decode(out, x0), torch.as_tensor(norms, device=x0.device)
