"""Exact minimal adversarial perturbations of a single decision tree."""

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.tree._classes import BaseDecisionTree

from .._models import pipeline_steps, unwrap_estimator
from .._torch import torch
from ..utils import ATTACK_DOCS, Substitution
from ._blackbox import BlackBoxModel
from ._functional import nearest_leaf
from ._minimal import ExactAttack


def leaf_boxes(tree):
    """``(low, high, class)`` of every leaf: ``low < x <= high`` per feature."""
    t = tree.tree_
    if t.n_outputs != 1:
        raise ValueError("multi-output trees are not supported.")
    d = t.n_features
    boxes = []
    stack = [(0, np.full(d, -np.inf), np.full(d, np.inf))]
    while stack:
        node, low, high = stack.pop()
        left, right = t.children_left[node], t.children_right[node]
        if left == -1:
            boxes.append((low, high, int(np.argmax(t.value[node, 0]))))
            continue
        f, thr = t.feature[node], t.threshold[node]
        h, lo = high.copy(), low.copy()
        h[f], lo[f] = min(high[f], thr), max(low[f], thr)
        stack += [(left, low, h), (right, lo, high)]
    low, high, cls = zip(*boxes)
    return np.array(low), np.array(high), np.array(cls)


def _per_feature_affine(prefix, d):
    """``(a, b)`` with ``prefix.transform(X) = a * X + b`` and ``a > 0``, or None."""
    rng = np.random.RandomState(0)
    probe = np.vstack([np.zeros(d), np.ones(d), rng.normal(size=(4, d)) * 10])
    try:
        out = np.asarray(prefix.transform(probe), dtype=np.float64)
    except Exception:  # e.g. needs a DataFrame
        return None
    if out.shape != probe.shape:
        return None
    b, a = out[0], out[1] - out[0]
    close = np.allclose(out, probe * a + b, rtol=1e-9, atol=1e-9 * (1 + np.abs(b)))
    return (a, b) if close and np.all(a > 0) else None


class _TreeModel(BlackBoxModel):
    """Queries of the tree (through its pipeline) and its leaf boxes in the
    space the attack acts in."""

    def __init__(self, estimator):
        steps = pipeline_steps(estimator)
        tree = steps[-1][1]
        if not (isinstance(tree, BaseDecisionTree) and hasattr(tree, "classes_")):
            raise TypeError(
                "DecisionTreeExactAttack needs a fitted DecisionTreeClassifier "
                f"(or a pipeline ending in one); got {type(tree).__name__}."
            )
        low, high, cls = leaf_boxes(tree)
        prefix = Pipeline(steps[:-1]) if len(steps) > 1 else None
        affine = None
        if prefix is not None:
            affine = _per_feature_affine(prefix, tree.n_features_in_)
        if prefix is None or affine is not None:
            super().__init__(unwrap_estimator(estimator), response="predict_proba")
            self.a = np.ones(low.shape[1]) if affine is None else affine[0]
            self.b = np.zeros(low.shape[1]) if affine is None else affine[1]
        else:  # act on the output of the prefix
            super().__init__(tree, response="predict_proba")
            self.preprocess = prefix.transform
            self.space = f"output of pipeline step {steps[-2][0]!r}"
            self.a, self.b = np.ones(low.shape[1]), np.zeros(low.shape[1])
        self.tree = tree
        self.leaf_low = (low - self.b) / self.a  # thresholds in the attack's space
        self.leaf_high = (high - self.b) / self.a
        self.leaf_class = cls


@Substitution(**ATTACK_DOCS)
class DecisionTreeExactAttack(ExactAttack):
    """Exact minimal adversarial perturbations of a decision tree.

    A decision tree cuts the input space into boxes, one per leaf. The
    smallest adversarial perturbation of a point is its distance to the
    nearest box of a leaf predicting another class (for a targeted attack:
    the target), in any norm: the nearest point of a box is the point
    clipped into it. The boxes are intersected with the threat model's box
    (``bounds``, direction constraints, immutable features), so the result
    is exact under those too.

    A tree after per-feature affine steps (``StandardScaler``,
    ``MinMaxScaler``, ``MaxAbsScaler``, ``RobustScaler``: checked) is
    attacked in raw units, its thresholds mapped back; after any other
    pipeline steps the attack acts on their output (like a white-box attack
    on a partially differentiable pipeline: ``generate`` then returns
    transformed features).

    :meth:`minimal_norms` gives the exact distances (the infimum: a leaf's
    lower side is open); :meth:`generate` returns the nearest adversarial
    points, nudged into the leaf by one float32 step of the tree's
    comparison (more where rounding needs it), projected into the
    ``eps``-ball when ``eps`` is set.

    Parameters
    ----------
    estimator : estimator, default=None
        A fitted ``DecisionTreeClassifier`` or ``ExtraTreeClassifier``
        (single output), or a pipeline ending in one; an unfitted one is
        cloned and fitted by :meth:`fit`.
    {exact_parameters}

    {attributes}

    See Also
    --------
    LinearExactAttack : the exact attack on linear models.
    HopSkipJump : minimal perturbations of any model, from labels.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skrobust.attacks import DecisionTreeExactAttack
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> tree = DecisionTreeClassifier(max_depth=5, random_state=0).fit(X, y)
    >>> attack = DecisionTreeExactAttack(tree, norm="linf")
    >>> norms = attack.minimal_norms(X[:5], y[:5])
    >>> X_adv = attack.generate(X[:5], y[:5])
    >>> bool((tree.predict(X_adv) != y[:5]).all())
    True
    """

    def _view(self):
        return _TreeModel(self._fitted_estimator())

    def _preprocess_of(self, estimator):
        return None if estimator is None else _TreeModel(estimator).preprocess

    @torch.no_grad()
    def _minimize(
        self, view, x0, labels, constraints, *, targeted, true_labels, generator
    ):
        # view: a _TreeModel (float64: never cast by the base)
        leaves = [
            torch.as_tensor(v, dtype=x0.dtype, device=x0.device)
            for v in (view.leaf_low, view.leaf_high, view.a, view.b)
        ]
        cls = torch.as_tensor(view.leaf_class, device=x0.device)
        return nearest_leaf(
            view,
            x0,
            labels,
            w=self._weights(constraints, x0),
            box=constraints.input_box(x0),
            leaves=(leaves[0], leaves[1], cls, leaves[2], leaves[3]),
            norm=self.norm,
            targeted=targeted,
        )
