"""``RobustRandomForestClassifier``: a bagged forest of GROOT trees."""

import numbers

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import (
    check_is_fitted,
    validate_data,
)

from .._models import ModelTrees, read_trees
from ..utils import SHARED_DOCS, Substitution, store_params
from ._robust_tree import (
    GROWTH_PARAMETERS,
    THREAT_PARAMETERS,
    TREE_THREAT_DOCS,
    RobustDecisionTreeClassifier,
    RobustPredictMixin,
    check_training_data,
    resolve_threat,
)


def _fit_tree(tree, X, y, w, bootstrap, max_samples, seed):
    rng = np.random.default_rng(seed)
    if bootstrap:
        n = len(X) if max_samples is None else max_samples
        counts = np.bincount(rng.integers(0, len(X), n), minlength=len(X))
        w = w * counts
        keep = counts > 0
        X, y, w = X[keep], y[keep], w[keep]
    return tree.set_params(random_state=int(rng.integers(2**31 - 1))).fit(X, y, w)


@Substitution(**SHARED_DOCS, **TREE_THREAT_DOCS)
class RobustRandomForestClassifier(RobustPredictMixin, ClassifierMixin, BaseEstimator):
    """A random forest of adversarially grown trees (GROOT forest).

    Each tree is a :class:`RobustDecisionTreeClassifier` grown on a bootstrap
    sample, trying ``max_features`` random features at each split; the
    forest averages the trees' class fractions, as ``RandomForestClassifier``
    does. The threat model (``eps``, ``eps_units``, ``feature_mask``,
    ``direction``) is the trees'. Verify the result exactly with
    :func:`skrobust.certification.mip.verify` or attack it with the tree
    attacks: the forest is read like scikit-learn's.

    Parameters
    ----------
    n_estimators : int, default=100
    {tree_threat}
    max_depth : int, default=None
    min_samples_split : int, default=2
    min_samples_leaf : int, default=1
    max_features : int, float, "sqrt", "log2" or None, default="sqrt"
    bootstrap : bool, default=True
    max_samples : int, default=None
        Size of each bootstrap sample (``None``: the training set's).
    n_jobs : int, default=None
        Trees fitted in parallel (joblib).
    random_state : int, RandomState instance or None, default=None

    Attributes
    ----------
    estimators_ : list of RobustDecisionTreeClassifier
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from skrobust.defenses import RobustRandomForestClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> forest = RobustRandomForestClassifier(
    ...     n_estimators=5, eps=0.1, eps_units="std", max_depth=3, random_state=0
    ... ).fit(X, y)
    >>> bool(forest.score(X, y) > 0.8)
    True
    """

    _parameter_constraints = {
        **THREAT_PARAMETERS,
        **GROWTH_PARAMETERS,
        "n_estimators": [Interval(numbers.Integral, 1, None, closed="left")],
        "bootstrap": ["boolean"],
        "max_samples": [None, Interval(numbers.Integral, 1, None, closed="left")],
        "n_jobs": [None, numbers.Integral],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_estimators=100,
        *,
        eps=0.0,
        eps_units="raw",
        feature_mask=None,
        direction=None,
        max_depth=None,
        min_samples_split=2,
        min_samples_leaf=1,
        max_features="sqrt",
        bootstrap=True,
        max_samples=None,
        n_jobs=None,
        random_state=None,
    ):
        store_params(self, locals())

    def fit(self, X, y, sample_weight=None):
        """Grow ``n_estimators`` robust trees on bootstrap samples.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : RobustRandomForestClassifier
        """
        self._validate_params()
        X, encoded, w = check_training_data(self, X, y, sample_weight)
        # the threat model is resolved once, on the whole training set
        scale, direction = resolve_threat(self, X)
        template = RobustDecisionTreeClassifier(
            eps=scale,
            direction=direction,
            max_depth=self.max_depth,
            min_samples_split=self.min_samples_split,
            min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features,
        )
        seeds = check_random_state(self.random_state).randint(
            np.iinfo(np.int32).max, size=self.n_estimators
        )
        self.estimators_ = Parallel(n_jobs=self.n_jobs)(
            delayed(_fit_tree)(
                clone(template), X, encoded, w, self.bootstrap, self.max_samples, s
            )
            for s in seeds
        )
        return self

    def predict_proba(self, X):
        """The trees' class fractions, averaged.

        {X_tabular_parameters}

        {proba_returns}
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        total = np.zeros((len(X), len(self.classes_)))
        for tree in self.estimators_:
            total[:, tree.classes_] += tree.predict_proba(X)
        return total / len(self.estimators_)


@read_trees.register(RobustRandomForestClassifier)
def _read_robust_forest(estimator):
    check_is_fitted(estimator)
    k = len(estimator.classes_)
    trees = []
    for tree in estimator.estimators_:
        t = read_trees(tree).trees[0]
        value = np.zeros((t.n_nodes, k))
        value[:, tree.classes_] = t.value
        trees.append(type(t)(t.feature, t.threshold, t.left, t.right, value))
    return ModelTrees(
        trees,
        np.zeros(k),
        estimator.classes_,
        cast=None,
        n_features=estimator.n_features_in_,
        score="probability",
        weight=1.0 / len(trees),
    )
