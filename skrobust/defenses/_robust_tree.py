"""``RobustDecisionTreeClassifier``: GROOT's adversarially robust tree."""

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from .._models import ModelTrees, Tree, read_trees
from .._threat import resolve_constraints
from ..utils import SHARED_DOCS, Substitution, store_params
from ._groot import adversarial_gini, split_counts, weighted_gini

THREAT_PARAMETERS = {
    "eps": ["array-like", dict, Interval(numbers.Real, 0, None, closed="left")],
    "eps_units": [StrOptions({"raw", "std"})],
    "feature_mask": [None, "array-like"],
    "direction": [None, "array-like", dict],
}
#: how a robust tree grows (shared by the forest)
GROWTH_PARAMETERS = {
    "max_depth": [None, Interval(numbers.Integral, 1, None, closed="left")],
    "min_samples_split": [Interval(numbers.Integral, 2, None, closed="left")],
    "min_samples_leaf": [Interval(numbers.Integral, 1, None, closed="left")],
    "max_features": [
        None,
        Interval(numbers.Integral, 1, None, closed="left"),
        Interval(numbers.Real, 0, 1, closed="right"),
        StrOptions({"sqrt", "log2"}),
    ],
}


class _Stats:
    """Training-data statistics for ``eps_units="std"``."""

    def __init__(self, X):
        self.data_std_ = X.std(axis=0)
        self.data_min_, self.data_max_ = X.min(axis=0), X.max(axis=0)


def resolve_threat(estimator, X):
    """``(scale, direction)``: per-feature budgets in raw units (0: immutable)
    and directions (or ``None``) of ``estimator``'s threat model on ``X``."""
    params = {k: getattr(estimator, k) for k in THREAT_PARAMETERS}
    columns = getattr(estimator, "feature_names_in_", None)
    c = resolve_constraints(params, (X.shape[1],), columns, stats=_Stats(X))
    direction = None if c.direction is None else np.asarray(c.direction, float)
    return np.asarray(c.scale, dtype=float), direction


def check_training_data(estimator, X, y, sample_weight):
    """``(X, encoded y, weights)`` of a robust tree's or forest's ``fit``;
    sets ``classes_`` (and the input attributes)."""
    X, y = validate_data(estimator, X, y, dtype=np.float64)
    check_classification_targets(y)
    estimator.classes_, encoded = np.unique(y, return_inverse=True)
    return X, encoded, _check_sample_weight(sample_weight, X)


def reach(scale, direction, X):
    """Each sample's reachable box ``(lo, hi)``."""
    lo, hi = X - scale, X + scale
    if direction is not None:
        lo = np.where(direction > 0, X, lo)
        hi = np.where(direction < 0, X, hi)
    return lo, hi


# the threat model a robust tree or forest is grown against
TREE_THREAT_DOCS = {
    "tree_threat": """\
eps : float, array-like or dict, default=0.0
    Budget per feature (0: plain Gini splits).
eps_units : {"raw", "std"}, default="raw"
    ``"std"``: ``eps`` in standard deviations of the training data.
feature_mask : array-like, default=None
    Features the attacker may change (booleans, indices or names).
direction : array-like or dict, default=None
    +1: a feature may only increase, -1: only decrease.""",
}


@Substitution(**SHARED_DOCS)
class RobustPredictMixin:
    """``predict`` from ``predict_proba``, and the input tags, of the robust
    tree and forest."""

    def predict(self, X):
        """The class of largest :meth:`predict_proba` (for a tree, the most
        frequent class of the leaf each sample reaches; for a forest, of the
        trees' averaged fractions).

        {X_tabular_parameters}

        {predict_returns}
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


@Substitution(**SHARED_DOCS, **TREE_THREAT_DOCS)
class RobustDecisionTreeClassifier(RobustPredictMixin, ClassifierMixin, BaseEstimator):
    """A decision tree grown against an attacker (GROOT, Vos & Verwer 2021).

    Every split ``x_f <= t`` is chosen by its *adversarial* Gini impurity:
    samples that the threat model lets cross the threshold are placed by an
    attacker on the side that makes the split impurest (see
    :func:`skrobust.defenses._groot.adversarial_gini`), and such samples go
    on into both children with their reachable interval cut at ``t``, so
    deeper splits see every place the attacker could have moved them. A
    split is made only when it lowers the impurity even in the worst case.
    The threat model is an l-inf box: a per-feature budget ``eps`` (in raw
    units, or standard deviations with ``eps_units="std"``), immutable
    features (``feature_mask``) and directions.

    Parameters
    ----------
    {tree_threat}
    max_depth : int, default=None
    min_samples_split : int, default=2
    min_samples_leaf : int, default=1
        Minimum samples (counting those an attacker may send there) per leaf.
    max_features : int, float, "sqrt", "log2" or None, default=None
        Features tried at each split (forests draw them at random).
    min_impurity_decrease : float, default=0.0
        A split must lower the weighted adversarial impurity by at least this
        (a fraction of the training weight).
    random_state : int, RandomState instance or None, default=None

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray
    tree_ : skrobust._models.Tree
        ``feature``, ``threshold``, ``left``, ``right`` and ``value`` (class
        fractions of the training samples reaching each node, the ones an
        attacker may send there included). ``x_f <= threshold`` goes left.

    See Also
    --------
    RobustRandomForestClassifier : a forest of these trees.
    skrobust.attacks.DecisionTreeExactAttack : exact attacks on trees.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from skrobust.defenses import RobustDecisionTreeClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> tree = RobustDecisionTreeClassifier(eps=0.2, eps_units="std", max_depth=3)
    >>> bool(tree.fit(X, y).score(X, y) > 0.8)
    True
    """

    _parameter_constraints = {
        **THREAT_PARAMETERS,
        **GROWTH_PARAMETERS,
        "min_impurity_decrease": [Interval(numbers.Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        eps=0.0,
        eps_units="raw",
        feature_mask=None,
        direction=None,
        max_depth=None,
        min_samples_split=2,
        min_samples_leaf=1,
        max_features=None,
        min_impurity_decrease=0.0,
        random_state=None,
    ):
        store_params(self, locals())

    def fit(self, X, y, sample_weight=None):
        """Grow the tree on ``(X, y)``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : RobustDecisionTreeClassifier
        """
        self._validate_params()
        X, y, w = check_training_data(self, X, y, sample_weight)
        lo, hi = reach(*resolve_threat(self, X), X)
        self.tree_ = self._grow(X, y, w, lo, hi, check_random_state(self.random_state))
        return self

    def _n_features_tried(self, d):
        m = self.max_features
        if m is None:
            return d
        if m == "sqrt":
            return max(1, int(np.sqrt(d)))
        if m == "log2":
            return max(1, int(np.log2(d)))
        if isinstance(m, numbers.Integral):
            return min(d, m)
        return max(1, int(m * d))

    def _grow(self, X, y, w, lo, hi, rng):
        k, d = len(self.classes_), X.shape[1]
        n_tried = self._n_features_tried(d)
        min_gain = self.min_impurity_decrease * w.sum()
        feature, threshold, left, right, value = [], [], [], [], []
        # (node id, samples, their reachable boxes, depth)
        stack = [(0, np.arange(len(X)), lo, hi, 0)]
        feature.append(-1)
        threshold.append(np.nan)
        left.append(-1)
        right.append(-1)
        value.append(None)
        while stack:
            node, idx, nlo, nhi, depth = stack.pop()
            counts = np.bincount(y[idx], weights=w[idx], minlength=k)
            value[node] = counts / max(counts.sum(), 1e-300)
            if (
                (self.max_depth is not None and depth >= self.max_depth)
                or len(idx) < self.min_samples_split
                or np.count_nonzero(counts) < 2
            ):
                continue
            features = rng.permutation(d)[:n_tried] if n_tried < d else range(d)
            best = self._best_split(y[idx], w[idx], nlo, nhi, features, k)
            if best is None:
                continue
            impurity, f, t = best
            if not weighted_gini(counts) - impurity > min_gain:
                continue
            to_left, to_right = nlo[:, f] <= t, nhi[:, f] > t
            feature[node], threshold[node] = int(f), float(t)
            for side, mask in (("left", to_left), ("right", to_right)):
                child = len(feature)
                feature.append(-1)
                threshold.append(np.nan)
                left.append(-1)
                right.append(-1)
                value.append(None)
                (left if side == "left" else right)[node] = child
                clo, chi = nlo[mask].copy(), nhi[mask].copy()
                if side == "left":
                    chi[:, f] = np.minimum(chi[:, f], t)
                else:
                    clo[:, f] = np.maximum(clo[:, f], np.nextafter(t, np.inf))
                stack.append((child, idx[mask], clo, chi, depth + 1))
        return Tree(feature, threshold, left, right, np.array(value))

    def _best_split(self, y, w, lo, hi, features, k):
        """``(adversarial impurity, feature, threshold)`` of the best split
        leaving ``min_samples_leaf`` samples on each side (movable ones count
        on both), or ``None``."""
        best = None
        for f in features:
            t, surely_left, uncertain, surely_right = split_counts(
                lo[:, f], hi[:, f], y, w, k
            )
            if not len(t):
                continue
            n_left = np.searchsorted(np.sort(lo[:, f]), t, side="right")
            n_right = len(y) - np.searchsorted(np.sort(hi[:, f]), t, side="right")
            ok = np.minimum(n_left, n_right) >= self.min_samples_leaf
            if not ok.any():
                continue
            impurity, _ = adversarial_gini(
                surely_left[ok], surely_right[ok], uncertain[ok]
            )
            j = int(np.argmin(impurity))
            if best is None or impurity[j] < best[0] - 1e-12:
                best = (impurity[j], f, t[ok][j])
        return best

    # -- prediction ------------------------------------------------------------

    def apply(self, X):
        """Leaf reached by each sample.

        {X_tabular_parameters}

        Returns
        -------
        leaves : ndarray of int of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        t = self.tree_
        node = np.zeros(len(X), dtype=np.intp)
        rows = np.arange(len(X))
        while True:
            inner = ~t.is_leaf[node]
            if not inner.any():
                return node
            go = X[rows, np.maximum(t.feature[node], 0)] <= t.threshold[node]
            node = np.where(inner, np.where(go, t.left[node], t.right[node]), node)

    def predict_proba(self, X):
        """Class fractions of the leaf each sample reaches.

        {X_tabular_parameters}

        {proba_returns}
        """
        leaves = self.apply(X)
        return self.tree_.value[leaves]


@read_trees.register(RobustDecisionTreeClassifier)
def _read_robust_tree(estimator):
    check_is_fitted(estimator)
    return ModelTrees(
        [estimator.tree_],
        np.zeros(len(estimator.classes_)),
        estimator.classes_,
        cast=None,
        n_features=estimator.n_features_in_,
        score="probability",
    )
